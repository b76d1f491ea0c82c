"""Fixtures for ingest tests: the real test clip, and real local RTSP servers serving it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ingest.rtsp_server import LocalRtspServer

CLIP_CANDIDATES = (
    Path("/work/shared/assets/clips/crowd_elevated_opencv_vtest.avi"),
    Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi"),
)


@pytest.fixture(scope="session")
def vtest_clip() -> Path:
    """OpenCV's vtest.avi (a walkway seen from above), read in place, never copied into the repo."""
    for path in CLIP_CANDIDATES:
        if path.is_file():
            return path
    pytest.fail(
        "test clip vtest.avi not found; looked at "
        + ", ".join(str(path) for path in CLIP_CANDIDATES)
        + " (install it with: apt-get install opencv-doc)"
    )


@pytest.fixture(scope="session")
def short_clip(vtest_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 2 s of vtest.avi (20 frames) as H.264 MP4, in a temp dir: for loop and end-of-file tests."""
    path = tmp_path_factory.mktemp("clips") / "vtest-2s.mp4"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(vtest_clip), "-t", "2",
         "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="session")
def rtsp_server(vtest_clip: Path) -> Iterator[LocalRtspServer]:
    """A real RTSP server on a free port serving vtest.avi at /cam, shared by tests that do not harm it."""
    with LocalRtspServer() as server:
        server.add_stream("cam", vtest_clip)
        server.wait_ready(timeout=15.0)
        yield server


@pytest.fixture
def make_rtsp_server(vtest_clip: Path) -> Iterator[Callable[..., LocalRtspServer]]:
    """A factory of fresh, ready servers (for tests that kill or freeze them); all stopped afterwards."""
    servers: list[LocalRtspServer] = []

    def make(**kwargs: object) -> LocalRtspServer:
        server = LocalRtspServer(**kwargs)  # type: ignore[arg-type]
        servers.append(server)
        server.add_stream("cam", vtest_clip)
        server.start()
        server.wait_ready(timeout=15.0)
        return server

    yield make
    for server in servers:
        server.stop()
