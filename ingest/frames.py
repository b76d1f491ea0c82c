"""The one value that travels from ingest to analytics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoFrame:
    """One decoded frame of one camera.

    `timestamp` is seconds since the epoch. For a live stream it is the wall-clock time the frame was
    decoded; for a file it is `start_time + pts` so that replays are deterministic (frame selection
    by timestamp, never by wall clock). `pts` is the frame's presentation time in seconds from the
    start of the stream as the container reports it (None when the stream gives none).
    """

    camera_id: str
    frame_id: int
    timestamp: float
    pts: float | None
    image: np.ndarray  # HxWx3 uint8, BGR (OpenCV order)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])
