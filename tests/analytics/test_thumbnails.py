"""The camera wall's thumbnails: each camera's newest analysed frame, small, as JPEG."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import supervision as sv

from analytics.detector import InputSize
from analytics.pipeline import CameraPipeline, CameraRunner
from analytics.thumbnails import CameraThumbnails
from ingest.frames import VideoFrame
from models.clock import ManualClock
from models.config import CameraConfig
from tests.analytics.helpers import ListSink, online, people


def frame(camera_id: str, frame_id: int, width: int = 768, height: int = 576, value: int = 0) -> VideoFrame:
    image = np.full((height, width, 3), value, dtype=np.uint8)
    cv2.putText(image, str(frame_id), (20, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 4, (255, 255, 255), 8)
    return VideoFrame(camera_id=camera_id, frame_id=frame_id, timestamp=1_000.0 + frame_id, pts=None, image=image)


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_no_thumbnail_before_the_first_frame(tmp_path: Path) -> None:
    assert CameraThumbnails(tmp_path / "thumbnails").latest("gate") is None


@pytest.mark.parametrize(("size", "expected"), [((768, 576), (240, 320)), ((1920, 1080), (180, 320)),
                                                 ((200, 100), (100, 200))])  # fmt: skip
def test_thumbnail_is_the_frame_downscaled_to_320_wide_never_upscaled(
    tmp_path: Path, size: tuple[int, int], expected: tuple[int, int]
) -> None:
    thumbnails = CameraThumbnails(tmp_path / "thumbnails")
    thumbnails.offer(frame("gate", 1, *size))

    thumbnail = thumbnails.latest("gate")

    assert thumbnail is not None and thumbnail.jpeg[:2] == b"\xff\xd8"
    assert decode(thumbnail.jpeg).shape[:2] == expected
    assert thumbnail.timestamp == 1_001.0


def test_another_process_reads_what_the_pipeline_wrote(tmp_path: Path) -> None:
    # An API replica on another node has its own CameraThumbnails over the shared data directory.
    CameraThumbnails(tmp_path / "thumbnails").offer(frame("gate", 7, value=90))

    thumbnail = CameraThumbnails(tmp_path / "thumbnails").latest("gate")

    assert thumbnail is not None and thumbnail.timestamp == 1_007.0
    assert abs(int(decode(thumbnail.jpeg)[5, 5, 0]) - 90) < 8
    assert thumbnail.frame_size == (frame("gate", 7).width, frame("gate", 7).height)  # for drawing zones over it
    assert sorted(p.name for p in (tmp_path / "thumbnails").iterdir()) == ["gate.jpg", "gate.size"]  # no partials


def test_the_newest_frame_wins_per_camera_written_at_most_every_two_seconds(tmp_path: Path) -> None:
    clock = ManualClock(0.0)
    thumbnails = CameraThumbnails(tmp_path / "thumbnails", clock=clock)
    thumbnails.offer(frame("gate", 1, value=0))
    thumbnails.offer(frame("lane", 1, value=200))
    clock.advance(1.9)
    thumbnails.offer(frame("gate", 2, value=100))  # too soon after frame 1: not written

    gate, lane = thumbnails.latest("gate"), thumbnails.latest("lane")
    assert gate is not None and lane is not None
    assert gate.timestamp == 1_001.0 and abs(int(decode(gate.jpeg)[5, 5, 0])) < 8
    assert abs(int(decode(lane.jpeg)[5, 5, 0]) - 200) < 8

    clock.advance(0.1)
    thumbnails.offer(frame("gate", 3, value=100))
    gate = thumbnails.latest("gate")
    assert gate is not None and gate.timestamp == 1_003.0 and abs(int(decode(gate.jpeg)[5, 5, 0]) - 100) < 8


class OnePersonDetector:
    name = "people"

    def detect(self, image: np.ndarray, input_size: InputSize | None = None) -> sv.Detections:
        return people(1)


class Feed:
    health = online("cam")
    finished = False

    def next_frame(self, timeout: float) -> VideoFrame | None:
        return None


def test_a_thumbnail_that_cannot_be_written_costs_no_event(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "thumbnails"
    blocked.write_text("a file where the directory should be")  # every write fails, like a full disk
    config = CameraConfig.model_validate(
        {"name": "cam", "url": "rtsp://127.0.0.1/x", "rules": {"crowd": {"min_people": 1, "open_after_s": 0}}}
    )
    sink = ListSink()
    runner = CameraRunner(
        CameraPipeline("cam", config, {"people": OnePersonDetector()}), Feed(), sink,  # type: ignore[arg-type]
        on_frame=CameraThumbnails(blocked, every_s=0).offer,
    )  # fmt: skip

    for i in range(3):
        runner.run_step(frame("cam", i))

    assert [e.phase for e in sink.events][:1] == ["opened"]  # the crowd incident opened all the same
    assert runner.frames_analysed == 3
    assert sum("frame listener failed" in r.getMessage() for r in caplog.records) == 1  # logged once, not per frame
