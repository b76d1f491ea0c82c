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


@pytest.fixture(scope="module")
def gop5_clip(vtest_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of vtest at 10 fps with a keyframe every 5 frames (0.5 s), no B-frames: like a camera's stream."""
    import subprocess

    path = tmp_path_factory.mktemp("gop") / "vtest-gop5.mp4"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(vtest_clip), "-t", "3",
         "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "5", "-keyint_min", "5", "-sc_threshold", "0",
         "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path


def test_keyframes_only_skips_until_asked_back_and_then_decodes_exactly_as_full(gop5_clip: Path) -> None:
    """Keyframes only decodes the keyframes (every packet else is reported as skipped); asked back to full
    while holding a keyframe, the very next frame is decoded, and every frame is pixel-identical to a full
    decode (the switch happens at a clean point: no frame misses a reference)."""
    full = PyAVSource(str(gop5_clip), realtime=False)
    full.open()
    reference = {round(f.pts or 0.0, 3): (f.keyframe, f.to_bgr()) for f in full.read()}
    full.close()
    assert [t for t, (key, _) in reference.items() if key] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]

    want_keyframes = True
    skipped = 0

    def count_skipped() -> None:
        nonlocal skipped
        skipped += 1

    source = PyAVSource(str(gop5_clip), realtime=False, keyframes_only=lambda: want_keyframes,
                        on_skipped=count_skipped)  # fmt: skip
    source.open()
    got: list[float] = []
    for frame in source.read():
        pts = round(frame.pts or 0.0, 3)
        got.append(pts)
        key, image = reference[pts]
        assert frame.keyframe == key
        np.testing.assert_array_equal(frame.to_bgr(), image)
        if pts == 1.0:
            want_keyframes = False  # motion on this keyframe: full decoding from the next frame
        elif pts == 2.0:
            want_keyframes = True  # still again: keyframes only from the next packet
    source.close()
    assert got == [0.0, 0.5, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.5]
    assert skipped == 8 + 8  # 0.1-0.4 and 0.6-0.9; 2.1-2.4 and 2.6-2.9


def test_keyframes_only_asked_back_between_keyframes_switches_at_the_next_keyframe(gop5_clip: Path) -> None:
    """A verdict that comes after the decoder skipped a frame cannot switch cleanly: it waits for the next keyframe."""
    want_keyframes = True

    def late_verdict() -> None:  # asked back to full once a packet after the keyframe at 0.5 was skipped
        nonlocal want_keyframes
        if got and got[-1] == 0.5:
            want_keyframes = False

    source = PyAVSource(str(gop5_clip), realtime=False, keyframes_only=lambda: want_keyframes, on_skipped=late_verdict)
    source.open()
    got: list[float] = []
    for frame in source.read():
        got.append(round(frame.pts or 0.0, 3))
    source.close()
    assert got[:4] == [0.0, 0.5, 1.0, 1.1]
    assert len(got) == 2 + 20


def test_a_stream_without_keyframes_often_enough_is_decoded_in_full(gop5_clip: Path) -> None:
    """A keyframe interval longer than max_keyframe_interval_s: keyframes-only is refused for the connection."""
    source = PyAVSource(str(gop5_clip), realtime=True, keyframes_only=lambda: True, max_keyframe_interval_s=0.3)
    source.open()
    got = [round(frame.pts or 0.0, 3) for frame in source.read()]
    source.close()
    assert source.keyframes_refused is not None and "no keyframe for 0.3 s" in source.keyframes_refused
    assert got[:2] == [0.0, 0.5]  # keyframes only at first (0.5 s apart, paced in real time) ...
    assert got[-5:] == [2.5, 2.6, 2.7, 2.8, 2.9]  # ... then every frame, switched at a keyframe
