"""One inference scheduler per loaded model (`scheduling.mode: queue`): one worker thread runs the model for every
camera that uses it.

Camera threads submit (camera, frame, input size, frame time) and wait for the detections. The worker serves the
pending requests:
- round-robin across cameras: after a camera is served, every other camera with a request waiting goes before it
  again (a plain lock lets one thread re-acquire it many times in a row while others wait);
- newest frame wins: a camera has at most one pending request; a newer one replaces it, and the older one's waiter
  gets `FrameDropped("replaced")` (a camera restarted while its old thread still waits, for one);
- deadline-aware: when a request's turn comes and its frame is older than `deadline_factor` x the camera's
  analysis interval, it is dropped (`FrameDropped("late")`, counted per camera) instead of run: the camera's
  thread takes its newest frame instead. A camera whose last request was dropped late is served next time whatever
  its frame's age, so under sustained overload no camera starves: each is served at least every other turn.

`ScheduledDetector` is one camera's view of a scheduler: it implements the `Detector` protocol (and takes the
frame's time), so a camera pipeline runs on it as on the model itself. Replays keep calling the model directly
(its own lock still serialises them against the worker).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import supervision as sv

from analytics.detector import Detector, InputSize

log = logging.getLogger(__name__)

DropReason = Literal["late", "replaced", "stopped"]


class FrameDropped(Exception):
    """A frame the scheduler did not run: `late` (older than its deadline when its turn came), `replaced` (a newer
    frame of the same camera came), `stopped` (the scheduler or the camera stopped)."""

    def __init__(self, camera_id: str, model: str, reason: DropReason, age_s: float | None = None) -> None:
        self.camera_id = camera_id
        self.model = model
        self.reason = reason
        self.age_s = age_s
        age = f" ({age_s:.2f} s old)" if age_s is not None else ""
        super().__init__(f"camera {camera_id}: frame not run on model {model!r}: {reason}{age}")


@dataclass
class _Request:
    camera_id: str
    image: np.ndarray
    input_size: InputSize | None
    frame_time: float
    deadline_s: float | None
    submitted: float  # time.monotonic()
    done: threading.Event = field(default_factory=threading.Event)
    result: sv.Detections | None = None
    error: BaseException | None = None

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()


@dataclass(frozen=True)
class QueueStats:
    """A model's queue since start: requests served, dropped (late, replaced, stopped), the mean wait of the served
    ones from submission to the start of their inference, and the cameras waiting now."""

    served: int
    late_dropped: int
    replaced: int
    stopped: int
    mean_wait_s: float | None
    pending: int
    served_by_camera: dict[str, int]
    late_by_camera: dict[str, int]


class InferenceScheduler:
    """One model's worker thread and its per-camera queue (see the module docstring).

    `deadline_factor`: a request is late when its frame is older than this many of its camera's analysis
    intervals when its turn comes (None: never late). `now`: the clock frame times are on (the service's)."""

    def __init__(
        self, detector: Detector, *, deadline_factor: float | None = 1.0, now: Callable[[], float] = time.time
    ) -> None:
        self.detector = detector
        self.name = detector.name
        self.deadline_factor = deadline_factor
        self._now = now
        self._cond = threading.Condition()
        self._pending: dict[str, _Request] = {}
        self._order: list[str] = []  # cameras in the order they first came: the round-robin ring
        self._cursor = 0  # the ring position after the camera served last
        self._late_last: set[str] = set()  # cameras whose last request was dropped late: served next whatever age
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._served: dict[str, int] = defaultdict(int)
        self._late: dict[str, int] = defaultdict(int)
        self._replaced = 0
        self._stopped = 0
        self._wait_total_s = 0.0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(
        self, camera_id: str, image: np.ndarray, input_size: InputSize | None, *, frame_time: float, slot_s: float
    ) -> sv.Detections:
        """Run the model on `image` in this camera's turn and return its detections; raises `FrameDropped` if the
        frame is not run (late, replaced or stopped), or what the model raised."""
        deadline = self.deadline_factor * slot_s if self.deadline_factor is not None else None
        request = _Request(camera_id, image, input_size, frame_time, deadline, time.monotonic())
        with self._cond:
            if self._stopping:
                raise FrameDropped(camera_id, self.name, "stopped")
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=f"inference-{self.name}", daemon=True)
                self._thread.start()
            if camera_id not in self._order:
                self._order.append(camera_id)
            older = self._pending.pop(camera_id, None)
            if older is not None:
                self._replaced += 1
                older.fail(FrameDropped(camera_id, self.name, "replaced"))
            self._pending[camera_id] = request
            self._cond.notify()
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def forget(self, camera_id: str) -> None:
        """A camera stopped here: its waiting request (if any) ends with `FrameDropped("stopped")`."""
        with self._cond:
            request = self._pending.pop(camera_id, None)
            self._late_last.discard(camera_id)
            if request is not None:
                self._stopped += 1
                request.fail(FrameDropped(camera_id, self.name, "stopped"))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker (after the inference it is running); waiting requests end with `FrameDropped`."""
        with self._cond:
            self._stopping = True
            for request in self._pending.values():
                self._stopped += 1
                request.fail(FrameDropped(request.camera_id, self.name, "stopped"))
            self._pending.clear()
            self._cond.notify_all()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)

    def late_dropped(self, camera_id: str) -> int:
        with self._cond:
            return self._late.get(camera_id, 0)

    def stats(self) -> QueueStats:
        with self._cond:
            served = sum(self._served.values())
            return QueueStats(
                served=served,
                late_dropped=sum(self._late.values()),
                replaced=self._replaced,
                stopped=self._stopped,
                mean_wait_s=self._wait_total_s / served if served else None,
                pending=len(self._pending),
                served_by_camera=dict(self._served),
                late_by_camera=dict(self._late),
            )

    def _next(self) -> _Request:
        """The pending request of the first camera in ring order after the one served last (lock held)."""
        count = len(self._order)
        for step in range(count):
            index = (self._cursor + step) % count
            camera_id = self._order[index]
            if camera_id in self._pending:
                self._cursor = (index + 1) % count
                return self._pending.pop(camera_id)
        raise AssertionError("no pending request")  # pragma: no cover - called only with one pending

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                request = self._next()
                camera_id = request.camera_id
                age = self._now() - request.frame_time
                if request.deadline_s is not None and age > request.deadline_s and camera_id not in self._late_last:
                    self._late_last.add(camera_id)
                    self._late[camera_id] += 1
                    request.fail(FrameDropped(camera_id, self.name, "late", age))
                    continue
                self._late_last.discard(camera_id)
                self._served[camera_id] += 1
                self._wait_total_s += time.monotonic() - request.submitted
            try:
                request.result = self.detector.detect(request.image, request.input_size)
            except BaseException as error:  # handed to the camera's thread, which logs its failed step
                request.error = error
            finally:
                request.done.set()


class ScheduledDetector:
    """One camera's `Detector` on a shared scheduler: `detect` waits for the camera's turn. `slot_s`: the camera's
    analysis interval (1 / analysis fps), the deadline's unit."""

    def __init__(self, scheduler: InferenceScheduler, camera_id: str, slot_s: float) -> None:
        self.scheduler = scheduler
        self.name = scheduler.name
        self.camera_id = camera_id
        self.slot_s = slot_s

    def detect(
        self, image: np.ndarray, input_size: InputSize | None = None, *, frame_time: float | None = None
    ) -> sv.Detections:
        """`frame_time`: when the frame was taken, on the scheduler's clock (None: now, never late)."""
        when = frame_time if frame_time is not None else self.scheduler._now()
        return self.scheduler.submit(self.camera_id, image, input_size, frame_time=when, slot_s=self.slot_s)
