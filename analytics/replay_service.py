"""Replays inside the running service: clips submitted as virtual test cameras, run one at a time.

A replay job takes a configured camera's zones, rules and analysis fps, runs a clip (a path on the server) through
the live pipeline (`analytics.replay.ClipReplayer`) as the camera `<camera id>.replay-<job>`, and writes its
incidents through the service's journal: stored (marked `is_test`, so the incident lists, statistics, deadlines and
delivery leave them out unless asked) and pushed on the websocket like any other. The clip's first frame is
stamped with the second the job started (`epoch`), so an incident's `opened_at - epoch` is its time in the clip,
the same on every run of the same clip, config and models.

Jobs run on one worker thread, in submission order: replays share the CPU (and the models) with the live cameras,
so at most one runs at a time, and `realtime` speed costs the live cameras no more than one more camera would.
Job state lives in this process only (a restart forgets the jobs; their incidents stay in the store).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import queue
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from analytics.detector import Detector
from analytics.detector_backends import load_detectors
from analytics.replay import (
    ClipReplayer,
    FrameRecord,
    ReplayInputError,
    ReplayPlan,
    models_for,
    probe_clip,
    replay_camera,
)
from models.clock import SYSTEM_CLOCK, Clock
from models.config import ServiceConfig
from models.push import PushJournal

log = logging.getLogger(__name__)

MAX_PENDING = 8  # jobs queued or running; more are refused
KEEP_FINISHED = 100  # finished jobs remembered for GET /replays


class ReplayState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({ReplayState.DONE, ReplayState.FAILED, ReplayState.CANCELLED})


class ReplayQueueFullError(RuntimeError):
    """Too many replays are waiting; try again later."""


@dataclass(frozen=True, slots=True)
class ReplayJob:
    """A replay job as it stands (a snapshot: the service hands out copies)."""

    id: str
    clip: Path
    camera_id: str  # the configured camera it is based on
    replay_camera_id: str  # the virtual test camera its incidents carry
    grid_code: str
    camera_name: str | None
    speed: float | None
    state: ReplayState
    submitted_at: datetime
    submitted_by: str | None
    frames_total: int
    frames_analysed: int = 0
    epoch: float | None = None  # the instant the clip's first frame is stamped with; set when it starts
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None

    @property
    def progress(self) -> float:
        if self.state is ReplayState.DONE:
            return 1.0
        return min(1.0, self.frames_analysed / self.frames_total) if self.frames_total else 0.0


class ReplayService:
    """The replay jobs of one service process. `detectors` are shared with the live cameras; models a replay
    needs that are not among them are loaded on first use (on the worker thread)."""

    def __init__(
        self,
        config: ServiceConfig,
        journal: PushJournal,
        *,
        detectors: Mapping[str, Detector] | None = None,
        snapshot_dir: Path | None = None,
        clock: Clock = SYSTEM_CLOCK,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.config = config
        self.journal = journal
        self.snapshot_dir = snapshot_dir or config.store.data_dir / "snapshots"
        self.clock = clock
        self.max_pending = max_pending
        self._detectors: dict[str, Detector] = dict(detectors or {})
        self._jobs: OrderedDict[str, ReplayJob] = OrderedDict()
        self._cancels: dict[str, threading.Event] = {}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- the API's side ----------------------------------------------------------------------------------------

    def submit(
        self, clip: Path, camera_id: str, *, speed: float | None = 1.0, submitted_by: str | None = None
    ) -> ReplayJob:
        """Queue a replay of `clip` as camera `camera_id`. ReplayInputError (a bad clip or camera) or
        ReplayQueueFullError; both before anything runs."""
        if not clip.is_absolute():
            raise ReplayInputError(f"give the clip as an absolute path on the server, got {str(clip)!r}")
        # Before anything looks at the file: a path outside the replay folders gets the same answer whether it
        # exists or not (an admin must not learn what else is on the server).
        folders = self.config.replay_folders()
        try:
            real = clip.resolve()
        except (OSError, ValueError, RuntimeError):  # a NUL in the name, a symlink loop
            real = None
        if real is None or not any(real.is_relative_to(folder) for folder in folders):
            shown = ", ".join(str(folder) for folder in folders)
            raise ReplayInputError(f"the clip must be in a replay folder (replays.folders: {shown})")
        job_id = uuid.uuid4().hex
        replay_camera_id = f"{camera_id}.replay-{job_id[:8]}"
        configured = self.config.cameras.get(camera_id)
        name = f"{configured.name} [replay {clip.name}]" if configured is not None else None
        plan = ReplayPlan(clip=clip, camera_id=camera_id, replay_camera_id=replay_camera_id, camera_name=name, speed=speed)
        camera = replay_camera(self.config, plan)  # unknown camera, or one with no rule a replay can run
        info = probe_clip(clip, camera.analysis_fps)  # missing, unreadable, not a video
        job = ReplayJob(
            id=job_id,
            clip=clip,
            camera_id=camera_id,
            replay_camera_id=replay_camera_id,
            grid_code=self.config.camera_grid_cell(camera_id),
            camera_name=name,
            speed=speed,
            state=ReplayState.QUEUED,
            submitted_at=self.clock.now(),
            submitted_by=submitted_by,
            frames_total=info.analysed_frames,
        )
        with self._lock:
            if self._stopping.is_set():
                raise ReplayQueueFullError("the service is shutting down")
            pending = sum(1 for j in self._jobs.values() if j.state not in FINISHED)
            if pending >= self.max_pending:
                raise ReplayQueueFullError(f"{pending} replays are already waiting or running; try again later")
            self._jobs[job_id] = job
            self._cancels[job_id] = threading.Event()
            self._forget_old()
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="replays", daemon=True)
                self._worker.start()
        self._queue.put(job_id)
        log.info("replay %s queued: %s as camera %s", job_id, clip.name, camera_id)
        return job

    def get(self, job_id: str) -> ReplayJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[ReplayJob]:
        """Every remembered job, newest submitted first."""
        with self._lock:
            return list(reversed(self._jobs.values()))

    def cancel(self, job_id: str) -> ReplayJob | None:
        """Stop a queued or running replay (incidents it opened are closed); None for an unknown job."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            self._cancels[job_id].set()
            if job.state is ReplayState.QUEUED:
                job = self._jobs[job_id] = dataclasses.replace(
                    job, state=ReplayState.CANCELLED, finished_at=self.clock.now()
                )
            return job

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel everything and stop the worker (the lifespan's end)."""
        self._stopping.set()
        with self._lock:
            for event in self._cancels.values():
                event.set()
            worker = self._worker
        self._queue.put(None)
        if worker is not None:
            worker.join(timeout)

    # -- the worker ---------------------------------------------------------------------------------------------

    def _work(self) -> None:
        while (job_id := self._queue.get()) is not None:
            with self._lock:
                job = self._jobs.get(job_id)
                cancel = self._cancels.get(job_id)
            if job is None or cancel is None or job.state is not ReplayState.QUEUED:
                continue
            try:
                self._run(job, cancel)
            except Exception as exc:  # a replay failing must not take the worker (or the service) down
                if not isinstance(exc, ReplayInputError):
                    log.exception("replay %s failed", job_id)
                self._update(job_id, state=ReplayState.FAILED, error=str(exc), finished_at=self.clock.now())

    def _run(self, job: ReplayJob, cancel: threading.Event) -> None:
        epoch = float(math.floor(self.clock.time()))
        self._update(job.id, state=ReplayState.RUNNING, epoch=epoch, started_at=self.clock.now())
        plan = ReplayPlan(
            clip=job.clip, camera_id=job.camera_id, replay_camera_id=job.replay_camera_id,
            camera_name=job.camera_name, speed=job.speed, epoch=epoch,
        )  # fmt: skip
        replayer = ClipReplayer(self.config, self._detectors_for(plan), self.journal, self.snapshot_dir)

        def on_frame(_record: FrameRecord) -> None:
            with self._lock:
                current = self._jobs[job.id]
                self._jobs[job.id] = dataclasses.replace(current, frames_analysed=current.frames_analysed + 1)

        replay = replayer.run(plan, on_frame=on_frame, cancel=cancel)
        state = ReplayState.CANCELLED if replay.cancelled else ReplayState.DONE
        self._update(job.id, state=state, finished_at=self.clock.now())
        log.info("replay %s %s: %d incidents", job.id, state.value, len(replay.incidents))

    def _detectors_for(self, plan: ReplayPlan) -> dict[str, Detector]:
        needed = models_for(replay_camera(self.config, plan))
        missing = needed - set(self._detectors)
        if missing:
            log.info("loading models %s for replays", sorted(missing))
            self._detectors.update(load_detectors(self.config.models, missing))
        return {name: self._detectors[name] for name in needed}

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            self._jobs[job_id] = dataclasses.replace(self._jobs[job_id], **changes)

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self._jobs.items() if job.state in FINISHED]
        for job_id in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[job_id]
            self._cancels.pop(job_id, None)


