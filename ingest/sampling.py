"""Choose which decoded frames go to analysis: a fixed rate, decided by frame timestamps only."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

# Timestamps built from integer pts * time_base are not exact in binary: 3 * 0.1 == 0.30000000000000004.
_EPSILON_S = 1e-6


class FrameSampler:
    """Take frames at `fps` by their timestamps; `fps=None` takes every frame.

    Due times are slots on a grid of 1/fps that starts at the first frame. A frame is taken when its
    timestamp reaches the next due slot; the next slot is the one after the slot the frame fell in, so
    the rate does not drift (a 25 fps source sampled at 10 fps gives exactly 10 frames a second) and a
    gap in the stream is skipped, never caught up in a burst. The same timestamps always give the same
    choice, so a replay samples the same frames. If time goes backwards (a clock step, a new stream
    whose timestamps restart), the grid restarts at that frame.
    """

    def __init__(self, fps: float | None) -> None:
        if fps is not None and not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number or None, got {fps!r}")
        self.fps = fps
        self._interval = 1.0 / fps if fps is not None else 0.0
        self._next_due: float | None = None

    def due(self, timestamp: float) -> bool:
        """Whether the frame at `timestamp` (seconds) should be analysed. Call once per decoded frame, in order."""
        if self.fps is None:
            return True
        next_due = self._next_due
        if next_due is None or timestamp < next_due - self._interval - _EPSILON_S:
            self._next_due = timestamp + self._interval  # first frame, or time went backwards: new grid
            return True
        if timestamp < next_due - _EPSILON_S:
            return False
        slots_passed = math.floor((timestamp - next_due + _EPSILON_S) / self._interval)
        self._next_due = next_due + (slots_passed + 1) * self._interval
        return True

    def reset(self) -> None:
        """Forget the grid: the next frame is taken and starts a new one."""
        self._next_due = None


def sampled_frames(path: Path, fps: float | None, limit: int | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """(pts seconds, BGR image) of a video file's frames at `fps` (None: every frame), decoded with PyAV and chosen
    by FrameSampler as a camera's are; stops after `limit` frames. For benchmarks, tests and tools."""
    sampler = FrameSampler(fps)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base or 0
        taken = 0
        for frame in container.decode(stream):
            pts = float(frame.pts * time_base) if frame.pts is not None else 0.0
            if sampler.due(pts):
                yield pts, frame.to_ndarray(format="bgr24")
                taken += 1
                if limit is not None and taken >= limit:
                    return
