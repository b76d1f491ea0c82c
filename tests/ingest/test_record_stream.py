"""A camera analysing its sub-stream while its main stream is only demuxed into the clip ring (ingest/record_stream.py).

Real parts: two renditions (1280x720 main, 640x360 sub) of the same real clip, made with ffmpeg at test time,
served by the real local RTSP server with credentials.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import supervision as sv

from analytics.events import Evidence
from analytics.evidence import RuleGeometry, render_snapshot
from analytics.main_snapshot import legible
from ingest.camera_stream import CameraStream
from ingest.health import CameraState
from ingest.packet_ring import PacketRing, write_mp4
from ingest.record_stream import RecordStream
from ingest.rtsp_server import LocalRtspServer
from models.config import StreamConfig

USER, PASSWORD = "rec-admin", "Rec0rd-s3cret"
FAST = StreamConfig(open_timeout_s=3, read_timeout_s=2, stall_timeout_s=3, backoff_initial_s=0.2, backoff_max_s=1)


def _rendition(source: Path, out: Path, size: str) -> Path:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(source), "-t", "6",
         "-vf", f"scale={size.replace('x', ':')}", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0",
         "-pix_fmt", "yuv420p", str(out)],
        check=True,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def renditions(vtest_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(main 1280x720, sub 640x360) of the same 6 s of vtest.avi."""
    folder = tmp_path_factory.mktemp("renditions")
    return _rendition(vtest_clip, folder / "main.mp4", "1280x720"), _rendition(vtest_clip, folder / "sub.mp4", "640x360")


@pytest.fixture
def servers(renditions: tuple[Path, Path]) -> Iterator[tuple[LocalRtspServer, LocalRtspServer]]:
    """The sub-stream and the main stream on two servers (so the main one can die alone)."""
    main, sub = renditions
    sub_server = LocalRtspServer(user=USER, password=PASSWORD, cache_dir=main.parent / "cache")
    sub_server.add_stream("sub", sub)
    main_server = LocalRtspServer(user=USER, password=PASSWORD, cache_dir=main.parent / "cache")
    main_server.add_stream("main", main)
    with sub_server, main_server:
        sub_server.wait_ready()
        main_server.wait_ready()
        yield sub_server, main_server


def _camera(sub_url: str, main_url: str, ring: PacketRing) -> CameraStream:
    camera = CameraStream("cam-sub", sub_url, analysis_fps=5, stream=FAST)
    camera.record = RecordStream("cam-sub", main_url, ring, stream=FAST, on_change=camera.republish_health)
    return camera


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def test_clip_has_the_main_resolution_while_analysis_sees_the_sub_stream(
    servers: tuple[LocalRtspServer, LocalRtspServer], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sub_server, main_server = servers
    ring = PacketRing(max_seconds=20, max_bytes=64 * 2**20)
    camera = _camera(sub_server.url("sub"), main_server.url("main"), ring)
    camera.start()
    assert camera.record is not None
    camera.record.start()
    try:
        frame = None
        for _ in range(50):
            frame = camera.next_frame(timeout=1.0)
            if frame is not None:
                break
        assert frame is not None, camera.health
        assert (frame.width, frame.height) == (640, 360)  # analysis decodes the sub-stream
        _wait(lambda: ring.held_seconds >= 2.0, 20, "2 s of the main stream in the ring")
        health = camera.health
        assert health.record_state is CameraState.ONLINE and health.record_error is None
        now = time.time()
        clip = ring.clip(now - 2.0, now)
        assert clip is not None
        path = tmp_path / "event.mp4"
        write_mp4(clip, path)
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            decoded = [f for f in container.decode(video)]
            assert (video.width, video.height) == (1280, 720)  # the evidence is the main stream's
            assert len(decoded) >= 10 and (decoded[0].width, decoded[0].height) == (1280, 720)
    finally:
        camera.stop()
        if camera.record is not None:
            camera.record.stop()
    assert PASSWORD not in caplog.text and USER not in caplog.text


def test_a_dead_main_stream_is_reported_and_analysis_goes_on(
    servers: tuple[LocalRtspServer, LocalRtspServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sub_server, main_server = servers
    ring = PacketRing(max_seconds=20, max_bytes=64 * 2**20)
    reported = []
    camera = CameraStream("cam-sub", sub_server.url("sub"), analysis_fps=5, stream=FAST, on_health=reported.append)
    camera.record = RecordStream("cam-sub", main_server.url("main"), ring, stream=FAST,
                                 on_change=camera.republish_health)  # fmt: skip
    camera.start()
    camera.record.start()
    try:
        _wait(lambda: camera.health.record_state is CameraState.ONLINE, 20, "the main stream online")
        _wait(lambda: camera.health.state is CameraState.ONLINE, 20, "the sub-stream online")
        main_server.kill()
        _wait(lambda: camera.health.record_state is CameraState.OFFLINE, 15, "the main stream reported offline")
        health = camera.health
        assert health.state is CameraState.ONLINE  # analysis is untouched
        assert health.record_error  # says why
        assert any(h.record_state is CameraState.OFFLINE for h in reported)  # pushed to on_health too
        decoded = health.frames_decoded
        frames = [camera.next_frame(timeout=1.0) for _ in range(5)]
        assert all(f is not None and f.width == 640 for f in frames)
        assert camera.health.frames_decoded > decoded
    finally:
        camera.stop()
        camera.record.stop()
    text = caplog.text + " ".join(str(h) for h in reported)
    assert PASSWORD not in text and USER not in text


def test_the_snapshot_is_drawn_on_the_main_streams_frame_with_boxes_scaled(
    servers: tuple[LocalRtspServer, LocalRtspServer],
) -> None:
    sub_server, main_server = servers
    ring = PacketRing(max_seconds=20, max_bytes=64 * 2**20)
    camera = _camera(sub_server.url("sub"), main_server.url("main"), ring)
    camera.start()
    assert camera.record is not None
    camera.record.start()
    try:
        _wait(lambda: ring.held_seconds >= 1.0, 20, "1 s of the main stream in the ring")
        frame = None
        while frame is None:
            frame = camera.next_frame(timeout=1.0)
    finally:
        camera.stop()
        camera.record.stop()
    box = np.array([[100.0, 50.0, 200.0, 250.0]])  # in the sub-stream's pixels (640x360)
    evidence = Evidence(frame=frame, detections=sv.Detections(xyxy=box, confidence=np.array([0.9])))
    geometry = RuleGeometry(zones=(np.array([[10.0, 10.0], [300.0, 10.0], [300.0, 200.0]]),))
    main_evidence, main_geometry = legible(ring, evidence, geometry)
    assert (main_evidence.frame.width, main_evidence.frame.height) == (1280, 720)
    assert main_evidence.detections.xyxy.tolist() == [[200.0, 100.0, 400.0, 500.0]]
    assert main_geometry is not None and main_geometry.zones[0][1].tolist() == [600.0, 20.0]
    jpeg = cv2.imdecode(np.frombuffer(render_snapshot(main_evidence, geometry=main_geometry), np.uint8), 1)
    assert jpeg.shape[:2] == (720, 1280)
    # the same field of view: the main frame scaled down looks like the sub frame (not some other picture)
    small = cv2.resize(main_evidence.frame.image, (640, 360), interpolation=cv2.INTER_AREA).astype(float)
    assert np.abs(small - frame.image.astype(float)).mean() < 40
