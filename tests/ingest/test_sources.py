from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from ingest.sources import PyAVSource, SourceError, local_path


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("clip.mp4", Path("clip.mp4")),
        ("/var/clips/gate.mp4", Path("/var/clips/gate.mp4")),
        ("file:///var/clips/gate%201.mp4", Path("/var/clips/gate 1.mp4")),
        ("rtsp://10.0.0.7/live", None),
        ("http://10.0.0.7/stream.ts", None),
    ],
)
def test_local_path(url: str, expected: Path | None) -> None:
    assert local_path(url) == expected


def read_all(source: PyAVSource, limit: int = 100_000) -> list[float]:
    """The pts of every frame (files always have one)."""
    source.open()
    try:
        pts: list[float] = []
        for frame in source.read():
            assert frame.pts is not None
            pts.append(frame.pts)
            if len(pts) >= limit:
                break
        return pts
    finally:
        source.close()


def test_file_decodes_every_frame_with_pts_from_zero(short_clip: Path) -> None:
    source = PyAVSource(short_clip.as_uri(), realtime=False)
    assert not source.live
    pts = read_all(source)
    assert len(pts) == 20
    assert pts[0] == 0.0
    assert pts == sorted(pts)
    assert pts[-1] == pytest.approx(1.9, abs=1e-6)


def test_frames_convert_to_bgr_only_on_demand(short_clip: Path) -> None:
    source = PyAVSource(str(short_clip), realtime=False)
    source.open()
    try:
        first = next(iter(source.read()))
        image = first.to_bgr()
    finally:
        source.close()
    assert image.shape == (576, 768, 3)
    assert image.dtype == np.uint8
    assert image.mean() > 20  # a real picture, not a black frame


def test_looping_file_keeps_pts_increasing(short_clip: Path) -> None:
    pts = read_all(PyAVSource(str(short_clip), realtime=False, loop=True), limit=50)
    assert len(pts) == 50
    assert all(later > earlier for earlier, later in zip(pts, pts[1:], strict=False))
    assert pts[20] == pytest.approx(2.0, abs=1e-6)  # second loop starts one frame after the first ended


def test_realtime_file_is_paced_at_its_frame_rate(short_clip: Path) -> None:
    started = time.monotonic()
    pts = read_all(PyAVSource(str(short_clip), realtime=True), limit=6)
    elapsed = time.monotonic() - started
    assert len(pts) == 6
    assert 0.45 <= elapsed < 1.0  # 6 frames at 10 fps: 0.5 s of video


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="file not found"):
        PyAVSource(str(tmp_path / "missing.mp4")).open()


def test_file_that_is_not_video(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_bytes(b"these are meeting notes, not a video\n" * 2000)
    with pytest.raises(SourceError, match="invalid data"):
        PyAVSource(str(path)).open()
