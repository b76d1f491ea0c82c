"""Each camera's latest analysed frame, for the operator console's camera wall (`GET /cameras/{id}/thumbnail`).

Kept in memory by the process that analyses the camera: the newest frame is only referenced (frames are
immutable), and downscaled and JPEG-encoded when someone asks, at most once per frame. Nothing is written to disk
and no message is published: a thumbnail is a glance at the camera, not a record.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2

from ingest.frames import VideoFrame

THUMBNAIL_WIDTH = 320
JPEG_QUALITY = 70


@dataclass(frozen=True)
class Thumbnail:
    camera_id: str
    timestamp: float  # epoch seconds of the frame
    jpeg: bytes


class CameraThumbnails:
    """The newest analysed frame of each camera; thread-safe (pipelines offer, the API reads)."""

    def __init__(self, width: int = THUMBNAIL_WIDTH, quality: int = JPEG_QUALITY) -> None:
        self.width = width
        self.quality = quality
        self._latest: dict[str, VideoFrame] = {}
        self._encoded: dict[str, tuple[int, Thumbnail]] = {}  # camera id → (frame id, its thumbnail)
        self._lock = threading.Lock()

    def offer(self, frame: VideoFrame) -> None:
        """A camera's pipeline analysed `frame`: it is now that camera's thumbnail."""
        with self._lock:
            self._latest[frame.camera_id] = frame

    def latest(self, camera_id: str) -> Thumbnail | None:
        """The camera's newest analysed frame as a small JPEG; None before its first frame."""
        with self._lock:
            frame = self._latest.get(camera_id)
            cached = self._encoded.get(camera_id)
        if frame is None:
            return None
        if cached is not None and cached[0] == frame.frame_id and cached[1].timestamp == frame.timestamp:
            return cached[1]
        thumbnail = Thumbnail(camera_id, frame.timestamp, self._encode(frame))
        with self._lock:
            self._encoded[camera_id] = (frame.frame_id, thumbnail)
        return thumbnail

    def _encode(self, frame: VideoFrame) -> bytes:
        image = frame.image
        if frame.width > self.width:
            height = max(1, round(frame.height * self.width / frame.width))
            image = cv2.resize(image, (self.width, height), interpolation=cv2.INTER_AREA)
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise ValueError(f"camera {frame.camera_id}: frame {frame.frame_id} could not be encoded as JPEG")
        return buffer.tobytes()
