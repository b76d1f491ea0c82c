"""The camera wall's thumbnails: each camera's newest analysed frame, small, as JPEG."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from analytics.thumbnails import CameraThumbnails
from ingest.frames import VideoFrame


def frame(camera_id: str, frame_id: int, width: int = 768, height: int = 576, value: int = 0) -> VideoFrame:
    image = np.full((height, width, 3), value, dtype=np.uint8)
    cv2.putText(image, str(frame_id), (20, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 4, (255, 255, 255), 8)
    return VideoFrame(camera_id, frame_id, 1_000.0 + frame_id, None, image)


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_no_thumbnail_before_the_first_frame() -> None:
    assert CameraThumbnails().latest("gate") is None


@pytest.mark.parametrize(("size", "expected"), [((768, 576), (240, 320)), ((1920, 1080), (180, 320)),
                                                 ((200, 100), (100, 200))])  # fmt: skip
def test_thumbnail_is_the_frame_downscaled_to_320_wide_never_upscaled(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    thumbnails = CameraThumbnails()
    thumbnails.offer(frame("gate", 1, *size))

    thumbnail = thumbnails.latest("gate")

    assert thumbnail is not None and thumbnail.jpeg[:2] == b"\xff\xd8"
    assert decode(thumbnail.jpeg).shape[:2] == expected
    assert thumbnail.timestamp == 1_001.0


def test_the_newest_frame_wins_per_camera_and_is_encoded_once() -> None:
    thumbnails = CameraThumbnails()
    thumbnails.offer(frame("gate", 1, value=0))
    thumbnails.offer(frame("lane", 1, value=200))
    thumbnails.offer(frame("gate", 2, value=100))

    gate, lane = thumbnails.latest("gate"), thumbnails.latest("lane")

    assert gate is not None and lane is not None
    assert gate.timestamp == 1_002.0 and abs(int(decode(gate.jpeg)[5, 5, 0]) - 100) < 8
    assert abs(int(decode(lane.jpeg)[5, 5, 0]) - 200) < 8
    assert thumbnails.latest("gate") is gate  # the same frame is not encoded again
