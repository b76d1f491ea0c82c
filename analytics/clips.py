"""Event clips: an MP4 per incident, cut from its camera's packet ring, written off the analysis thread; retention.

When an incident opens, the sink asks for its clip (`ClipRecorder.request`). Once `post_s` has passed after the
opening frame, the recorder's own thread takes the packets from the keyframe at or before `pre_s` before it up to
`post_s` after (ingest/packet_ring.py) and remuxes them (no re-encoding) to `<data_dir>/clips/<YYYYMMDD>/<id>.mp4`;
then the sink records the clip on the incident (an `incident.updated` message with its `clip_url`).

A clip is as long as what the camera gave: if it went down (or the service stops) before `post_s`, the clip ends
with the last packet received; one that came up less than `pre_s` before the incident starts at its first keyframe.
A clip that cannot be written (a full disk, a camera that gave no packet) costs nothing else: the incident is raised
and kept as usual, and the failure is logged once per camera until a clip of that camera is written again.

Retention (`prune_clips`, run every `clips.prune_interval_s` by the recorder): clips older than
`clips.retention_days`, then, while the data directory weighs more than `clips.data_dir_quota_mb`, the oldest clips,
are deleted; never the clip of an incident still open in the closed loop (see `models.lifecycle.OPEN311_CLOSED`).
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import av

from ingest.packet_ring import PacketRing, write_mp4
from models.clock import SYSTEM_CLOCK, Clock
from models.config import ClipsConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, order=True)
class ClipRequest:
    """The clip of one incident: around `opened_at` (wall-clock seconds of its opening frame) on its camera."""

    due: float  # opened_at + post_s: when it can be written (first field: the recorder's heap orders by it)
    incident_id: str = field(compare=False)
    camera_id: str = field(compare=False)
    rule: str = field(compare=False)
    opened_at: float = field(compare=False)


@dataclass(frozen=True, kw_only=True)
class PruneResult:
    deleted: list[Path]
    kept_open: list[Path]  # clips past a limit that were kept because their incident is still open
    data_dir_bytes: int  # after pruning


class ClipRecorder:
    """Writes each requested clip once it is due, on its own thread; runs retention. See the module docstring.

    `on_written(request, path)` is told of each clip written (from the recorder's thread). `is_open(incident_id)`
    says whether an incident is still open in the closed loop (its clip is never pruned).
    """

    def __init__(
        self,
        config: ClipsConfig,
        data_dir: Path,
        rings: Mapping[str, PacketRing],
        *,
        on_written: Callable[[ClipRequest, Path], object],
        is_open: Callable[[str], bool],
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config = config
        self.data_dir = data_dir
        self.clip_dir = data_dir / "clips"
        self.rings = rings
        self.on_written = on_written
        self.is_open = is_open
        self.clock = clock
        self._pending: list[ClipRequest] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._failing: set[str] = set()  # cameras whose last clip failed (logged once until one succeeds)
        self._thread = threading.Thread(target=self._run, name="event-clips", daemon=True)
        self._next_prune = clock.time()

    def request(self, *, incident_id: str, camera_id: str, rule: str, opened_at: float) -> None:
        """Ask for an incident's clip (quick: the analysis thread calls it). Ignored for a camera with no ring."""
        if camera_id not in self.rings:
            return
        item = ClipRequest(
            due=opened_at + self.config.post_s,
            incident_id=incident_id,
            camera_id=camera_id,
            rule=rule,
            opened_at=opened_at,
        )
        with self._cond:
            heapq.heappush(self._pending, item)
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is pending with what the rings hold now (shorter clips), then stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        else:
            self.write_due(float("inf"))

    def write_camera(self, camera_id: str) -> list[Path]:
        """Write the pending clips of one camera now, with what its ring holds (the camera stops here)."""
        with self._cond:
            mine = [item for item in self._pending if item.camera_id == camera_id]
            self._pending = [item for item in self._pending if item.camera_id != camera_id]
            heapq.heapify(self._pending)
        return [path for item in mine if (path := self.write(item)) is not None]

    def write_due(self, now: float) -> list[Path]:
        """Write every clip due by `now`; the paths written."""
        written = []
        for item in self._take_due(now):
            path = self.write(item)
            if path is not None:
                written.append(path)
        return written

    def write(self, item: ClipRequest) -> Path | None:
        """Cut and write one clip now; None (logged) when it cannot be."""
        ring = self.rings[item.camera_id]
        day = datetime.fromtimestamp(item.opened_at, UTC).strftime("%Y%m%d")
        path = self.clip_dir / day / f"{item.incident_id}.mp4"
        try:
            clip = ring.clip(item.opened_at - self.config.pre_s, item.opened_at + self.config.post_s)
            if clip is None:
                raise LookupError("the camera's ring holds no video from before the incident's end")
            write_mp4(clip, path)
        except (OSError, av.FFmpegError, LookupError) as exc:
            if item.camera_id not in self._failing:
                log.warning(
                    "camera %s: could not write the clip of incident %s (%s); incidents go on without clips, "
                    "logged once until a clip is written again",
                    item.camera_id,
                    item.incident_id,
                    exc,
                )
            self._failing.add(item.camera_id)
            return None
        if item.camera_id in self._failing:
            log.info("camera %s: clips are written again", item.camera_id)
            self._failing.discard(item.camera_id)
        try:
            self.on_written(item, path)
        except Exception:
            log.exception("incident %s: could not record its clip", item.incident_id)
        return path

    def prune(self, now: float | None = None) -> PruneResult:
        return prune_clips(
            self.clip_dir, self.data_dir, self.config, self.is_open, self.clock.time() if now is None else now
        )

    def _take_due(self, now: float) -> list[ClipRequest]:
        with self._cond:
            due = []
            while self._pending and self._pending[0].due <= now:
                due.append(heapq.heappop(self._pending))
            return due

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    break
                due = min(self._next_prune, self._pending[0].due if self._pending else float("inf"))
                wait = due - self.clock.time()
                if wait > 0:
                    # Woken by a new request or stop(); the clock is looked at again at least every real second,
                    # so a clock moved by a test (or stepped) is noticed without a wait on it.
                    self._cond.wait(min(wait, 1.0))
                    continue
            now = self.clock.time()
            self.write_due(now)
            if now >= self._next_prune:
                self._next_prune = now + self.config.prune_interval_s
                try:
                    result = self.prune()
                    if result.deleted:
                        log.info("clip retention deleted %d clips", len(result.deleted))
                except Exception:
                    log.exception("clip retention failed; retrying in %.0f s", self.config.prune_interval_s)
        self.write_due(float("inf"))


def _files(root: Path) -> Iterator[Path]:
    if root.is_dir():
        yield from (path for path in root.rglob("*") if path.is_file())


def prune_clips(
    clip_dir: Path, data_dir: Path, config: ClipsConfig, is_open: Callable[[str], bool], now: float
) -> PruneResult:
    """Delete clips by age, then oldest first while the data directory is over its quota; never an open incident's.

    The quota counts every file under `data_dir` (snapshots, clips, thumbnails, a SQLite store kept there); only
    clips are deleted to meet it. A deleted clip's incident keeps its `clip_url`, which then answers 404."""
    clips = sorted(((p.stat().st_mtime, p) for p in clip_dir.glob("*/*.mp4")), key=lambda c: c[0])
    total = sum(p.stat().st_size for p in _files(data_dir))
    max_age_s = config.retention_days * 86400
    quota = None if config.data_dir_quota_mb is None else config.data_dir_quota_mb * 2**20
    deleted: list[Path] = []
    kept_open: list[Path] = []
    for mtime, path in clips:
        too_old = now - mtime > max_age_s
        over_quota = quota is not None and total > quota
        if not (too_old or over_quota):
            continue
        if is_open(path.stem):
            kept_open.append(path)
            continue
        size = path.stat().st_size
        path.unlink(missing_ok=True)
        total -= size
        deleted.append(path)
    return PruneResult(deleted=deleted, kept_open=kept_open, data_dir_bytes=total)
