"""Each camera's latest analysed frame, for the operator console's camera wall (`GET /cameras/{id}/thumbnail`).

The pipeline that analyses a camera writes a small JPEG of its newest analysed frame under the store's data
directory (`<data_dir>/thumbnails/<camera id>.jpg`, replaced atomically, its mtime the frame's time; the analysed
frame's size in `<camera id>.size`, so that zones and lines in image pixels can be drawn over it), at most once
every `every_s` seconds; any API process that shares the data directory serves it, as it serves evidence
snapshots. So the API never reaches into a pipeline's memory (DESIGN's seam: pipelines on other nodes, several
API replicas). No message is published: a thumbnail is a glance at the camera, not a record.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2

from ingest.frames import VideoFrame
from models.clock import SYSTEM_CLOCK, Clock

THUMBNAIL_WIDTH = 320
JPEG_QUALITY = 70
WRITE_EVERY_S = 2.0  # the console's camera wall refreshes every 5 s


@dataclass(frozen=True)
class Thumbnail:
    camera_id: str
    timestamp: float  # epoch seconds of the frame
    jpeg: bytes
    frame_size: tuple[int, int] | None = None  # (width, height) of the analysed frame, before downscaling


class CameraThumbnails:
    """Writer (pipelines: `offer`) and reader (the API: `latest`) of the thumbnails in `directory`. Thread-safe."""

    def __init__(
        self,
        directory: Path,
        *,
        width: int = THUMBNAIL_WIDTH,
        quality: int = JPEG_QUALITY,
        every_s: float = WRITE_EVERY_S,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.directory = Path(directory)
        self.width = width
        self.quality = quality
        self.every_s = every_s
        self._clock = clock
        self._written_at: dict[str, float] = {}  # camera id → clock.monotonic() of its last write
        self._sizes: dict[str, tuple[int, int]] = {}  # camera id → the frame size last written to its .size file
        self._lock = threading.Lock()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> CameraThumbnails:
        """The thumbnails of a store's data directory (`store.data_dir`): where pipelines write and the API reads."""
        return cls(data_dir / "thumbnails")

    def path(self, camera_id: str) -> Path:
        return self.directory / f"{camera_id}.jpg"

    def size_path(self, camera_id: str) -> Path:
        return self.directory / f"{camera_id}.size"

    def offer(self, frame: VideoFrame) -> None:
        """A camera's pipeline analysed `frame`: write it as the camera's thumbnail unless one was written less than
        `every_s` ago."""
        now = self._clock.monotonic()
        with self._lock:
            last = self._written_at.get(frame.camera_id)
            if last is not None and now - last < self.every_s:
                return
            self._written_at[frame.camera_id] = now
        jpeg = self._encode(frame)
        self.directory.mkdir(parents=True, exist_ok=True)
        size = (frame.width, frame.height)
        if self._sizes.get(frame.camera_id) != size:
            self._replace(self.size_path(frame.camera_id), f"{size[0]}x{size[1]}".encode(), None)
            self._sizes[frame.camera_id] = size
        self._replace(self.path(frame.camera_id), jpeg, frame.timestamp)

    @staticmethod
    def _replace(target: Path, content: bytes, mtime: float | None) -> None:
        partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            partial.write_bytes(content)
            if mtime is not None:
                os.utime(partial, (mtime, mtime))
            os.replace(partial, target)  # a reader sees the old file or the new one, never half of one
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()

    def latest(self, camera_id: str) -> Thumbnail | None:
        """The camera's newest thumbnail; None before its first analysed frame."""
        path = self.path(camera_id)
        try:
            with path.open("rb") as file:
                jpeg = file.read()
                timestamp = os.fstat(file.fileno()).st_mtime
        except FileNotFoundError:
            return None
        return Thumbnail(camera_id, timestamp, jpeg, self._frame_size(camera_id))

    def _frame_size(self, camera_id: str) -> tuple[int, int] | None:
        try:
            width, _, height = self.size_path(camera_id).read_text(encoding="ascii").partition("x")
            return int(width), int(height)
        except (FileNotFoundError, ValueError):
            return None

    def _encode(self, frame: VideoFrame) -> bytes:
        image = frame.image
        if frame.width > self.width:
            height = max(1, round(frame.height * self.width / frame.width))
            image = cv2.resize(image, (self.width, height), interpolation=cv2.INTER_AREA)
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise ValueError(f"camera {frame.camera_id}: frame {frame.frame_id} could not be encoded as JPEG")
        return buffer.tobytes()
