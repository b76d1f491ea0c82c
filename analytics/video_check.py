"""The video check of a closure (视频核查): the camera that raised an incident re-examines its scene once the incident
is reported handled (处置反馈), and the outcome is a step of the closed loop.

How a camera learns of it: the `incident.transition` message of the handled step, through the broker its service
subscribes to (`VideoChecker.on_message`), or, for steps taken while it was down, the store at start
(`VideoChecker.resume`): never a call from the API's route, so the pipelines may run on other nodes.

What it watches: the incident's rule on that camera (`cameras.<id>.video_check`, models/config/video_check.py).
From the first analysed step after it learned of the handled step, for `duration_s` of the camera's own time
(frame timestamps), each step says whether the rule still sees the situation (its state is not idle: pending or
open). At the end of the window (`CheckWindow`, pure):

- passed: the rule was idle for at least the last `clear_s`, and frames were analysed in that stretch;
- failed: the rule saw the situation within the last `clear_s`;
- no video: no frame was analysed in the last `clear_s` (the camera is down): no step, the checker decides.

What it records: the after snapshot (the last analysed frame, the rule's zone and detections drawn, under
`<data_dir>/video_checks/<day>/<check id>.jpg`) and the after clip (the last `clips.pre_s + clips.post_s` seconds of
the window from the camera's packet ring, `.mp4` beside it, when clips are on), a row in `incident_video_checks`
(models/video_checks.py), then the step, taken by the system actor `video-check:<camera id>` with the
incident-system role (the role of steps that no person takes; operators are people scoped to a grid, and the
loop lets the incident system check and send back):

- passed: `check` (handled → checked), note "video check passed: ...", the after snapshot and clip attached; the
  checker closes the case (结案) with one click, looking at before and after side by side in the console;
- failed: `send_back` (handled → dispatched), reason "video check failed", note saying what was still seen, the
  evidence attached: the department handles it again, and its next handled step is checked again.

Both are pushed as `incident.transition` and delivered like any step. If the incident left `handled` meanwhile
(an operator checked it by hand), the outcome is kept and no step is taken.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import av
import supervision as sv

from analytics.detector import with_label
from analytics.events import Evidence
from analytics.evidence import RuleGeometry, render_snapshot, save_snapshot
from analytics.rules.base import Rule, RuleState
from ingest.frames import VideoFrame
from ingest.packet_ring import PacketRing, write_mp4
from models import lifecycle, video_checks
from models.config import ServiceConfig
from models.incident import MessageType, PushMessage
from models.push import PushJournal
from models.video_checks import CheckOutcome, VideoCheck, check_urls

if TYPE_CHECKING:
    from analytics.pipeline import CameraPipeline

log = logging.getLogger(__name__)

ACTOR_PREFIX = "video-check:"
ROLE = lifecycle.Role.INCIDENT_SYSTEM
FAILED_REASON = "video check failed"


@dataclass
class CheckWindow:
    """One check's decision, pure: fed what each analysed step saw, it says the outcome once the window is over."""

    started_at: float
    duration_s: float
    clear_s: float
    last_seen: float | None = None  # the last step at which the rule still saw the situation
    last_clear_frame: float | None = None  # the last analysed frame at which the rule was idle

    @property
    def ends_at(self) -> float:
        return self.started_at + self.duration_s

    def observe(self, at: float, *, frame: bool, seen: bool) -> None:
        """One step at `at`: whether a frame was analysed, and whether the rule saw the situation (not idle)."""
        if seen:
            self.last_seen = at if self.last_seen is None else max(self.last_seen, at)
        elif frame:
            self.last_clear_frame = at if self.last_clear_frame is None else max(self.last_clear_frame, at)

    def outcome(self, now: float) -> CheckOutcome | None:
        """None while the window lasts; then passed, failed or no video (see the module docstring)."""
        if now < self.ends_at:
            return None
        quiet_from = self.ends_at - self.clear_s
        if self.last_seen is not None and self.last_seen >= quiet_from:
            return CheckOutcome.FAILED
        if self.last_clear_frame is None or self.last_clear_frame < quiet_from:
            return CheckOutcome.NO_VIDEO
        return CheckOutcome.PASSED


@dataclass
class _Check:
    incident_id: str
    camera_id: str
    rule: str
    window: CheckWindow | None = None  # set at the first analysed step after the handled step was learned of


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


class VideoChecker:
    """Runs the video checks of one service's cameras (see the module docstring).

    `on_message` is a broker subscriber (any thread, quick: it only notes the incident); `observe` is called by each
    camera's runner after every analysis step, on that camera's thread, and takes the steps.
    """

    def __init__(
        self,
        config: ServiceConfig,
        journal: PushJournal,
        *,
        rings: Mapping[str, PacketRing] | None = None,
        geometry: Callable[[str, str], RuleGeometry] | None = None,
    ) -> None:
        self.config = config
        self.journal = journal
        self.rings = rings if rings is not None else {}  # the service's own dict: cameras come and go
        self.geometry = geometry
        self.check_dir = config.store.data_dir / "video_checks"
        self._lock = threading.Lock()
        self._checks: dict[str, list[_Check]] = {}  # by camera id

    def _wants(self, camera_id: str | None, rule: str) -> bool:
        camera = self.config.cameras.get(camera_id) if camera_id is not None else None
        return camera is not None and camera.enabled and camera.video_check.covers(rule)

    def _add(self, incident_id: str, camera_id: str, rule: str) -> bool:
        with self._lock:
            checks = self._checks.setdefault(camera_id, [])
            if any(c.incident_id == incident_id for c in checks):
                return False
            checks.append(_Check(incident_id, camera_id, rule))
            return True

    def on_message(self, message: PushMessage) -> None:
        """A broker subscriber: a handled step of an incident of a checked camera and rule starts a check."""
        if message.type != MessageType.INCIDENT_TRANSITION.value:
            return
        step = message.data.get("transition") or {}
        if step.get("to_status") != lifecycle.LoopStatus.HANDLED.value or message.data.get("is_test"):
            return
        rule = str(message.data.get("rule", ""))
        camera_id = message.camera_id
        if (
            camera_id is not None
            and self._wants(camera_id, rule)
            and self._add(str(message.data["id"]), camera_id, rule)
        ):
            log.info("camera %s: video check of incident %s starts", message.camera_id, message.data["id"])

    def resume(self, camera_ids: Collection[str] | None = None) -> int:
        """Start the checks of incidents reported handled while no camera watched (none decided since), of
        `camera_ids` when given; how many."""
        started = 0
        store = self.journal.store
        for camera_id, camera in self.config.enabled_cameras():
            if camera_ids is not None and camera_id not in camera_ids:
                continue
            if not camera.video_check.enabled:
                continue
            handled, _ = store.incidents.search(
                camera_id=camera_id, status=lifecycle.LoopStatus.HANDLED.value, limit=1000
            )
            for incident in handled:
                if not self._wants(camera_id, incident.rule):
                    continue
                since = incident.status_changed_at or incident.updated_at
                with store.database.engine.connect() as connection:
                    if video_checks.decided_since(connection, incident.id, since):
                        continue
                started += self._add(incident.id, camera_id, incident.rule)
        return started

    def forget(self, camera_id: str) -> None:
        """Drop the checks of a camera that stopped here (the node that runs it next resumes them)."""
        with self._lock:
            self._checks.pop(camera_id, None)

    def pending(self, camera_id: str) -> list[str]:
        """The incidents the camera is checking now."""
        with self._lock:
            return [c.incident_id for c in self._checks.get(camera_id, [])]

    def observe(self, pipeline: CameraPipeline, frame: VideoFrame | None, at: float) -> None:
        """After one analysis step of `pipeline`'s camera at `at`: feed its checks, decide and record those due."""
        camera_id = pipeline.camera_id
        with self._lock:
            checks = list(self._checks.get(camera_id, ()))
        if not checks:
            return
        rules = {rule.name: rule for rule in pipeline.rules}
        settings = self.config.cameras[camera_id].video_check
        done = []
        for check in checks:
            rule = rules.get(check.rule)
            if rule is None:  # the camera no longer runs that rule: nothing to watch
                done.append(check)
                continue
            if check.window is None:
                check.window = CheckWindow(at, settings.duration_s, settings.clear_s)
            check.window.observe(at, frame=frame is not None, seen=rule.state is not RuleState.IDLE)
            outcome = check.window.outcome(at)
            if outcome is not None:
                done.append(check)
                try:
                    self._finish(check, outcome, pipeline, rule, at)
                except Exception:
                    log.exception("camera %s: could not record the video check of incident %s", camera_id,
                                  check.incident_id)  # fmt: skip
        if done:
            with self._lock:
                remaining = [c for c in self._checks.get(camera_id, []) if c not in done]
                self._checks[camera_id] = remaining

    def _finish(
        self, check: _Check, outcome: CheckOutcome, pipeline: CameraPipeline, rule: Rule, at: float
    ) -> None:
        assert check.window is not None
        check_id = uuid.uuid4().hex
        window = check.window
        camera_name = self.config.cameras[check.camera_id].name
        base = self.check_dir / _utc(at).strftime("%Y%m%d") / check_id
        snapshot = clip = None
        if outcome is not CheckOutcome.NO_VIDEO:
            snapshot = self._write_snapshot(base.with_suffix(".jpg"), pipeline, rule)
            clip = self._write_clip(base.with_suffix(".mp4"), check.camera_id, at)
        watched = (
            f"camera {camera_name} ({check.camera_id}) watched rule {check.rule} for {window.duration_s:g} s"
        )
        note, step = {
            CheckOutcome.PASSED: (f"video check passed: {watched}; nothing seen in the last {window.clear_s:g} s",
                                  lifecycle.LoopStatus.CHECKED.value),
            CheckOutcome.FAILED: (f"{FAILED_REASON}: {watched}; still seen {at - (window.last_seen or at):.0f} s "
                                  "before the end", lifecycle.LoopStatus.DISPATCHED.value),
            CheckOutcome.NO_VIDEO: (f"video check inconclusive: {watched}; no frame analysed in the last "
                                    f"{window.clear_s:g} s", None),
        }[outcome]  # fmt: skip
        record = VideoCheck(
            id=check_id,
            incident_id=check.incident_id,
            camera_id=check.camera_id,
            rule=check.rule,
            started_at=_utc(window.started_at),
            decided_at=_utc(at),
            outcome=outcome,
            step=step,
            note=note,
            snapshot_path=str(snapshot) if snapshot else None,
            clip_path=str(clip) if clip else None,
        )
        store = self.journal.store
        with store.database.side_transaction() as connection:  # first: the step's attachments link to it
            video_checks.record(connection, record)
        log.info("camera %s: %s (incident %s)", check.camera_id, note, check.incident_id)
        if step is None:
            return
        urls = check_urls(record)
        try:
            self.journal.transition(
                check.incident_id,
                step,
                actor=ACTOR_PREFIX + check.camera_id,
                role=ROLE,
                at=_utc(at),
                note=note,
                reason=FAILED_REASON if outcome is CheckOutcome.FAILED else None,
                attachments=[url for url in (urls["snapshot_url"], urls["clip_url"]) if url],
            )
        except lifecycle.TransitionError as error:  # someone took a step first: the outcome stays on record
            log.info(
                "incident %s: video check %s, no step taken (%s)", check.incident_id, outcome.value, error
            )
            with store.database.side_transaction() as connection:
                video_checks.set_step(connection, check_id, None)

    def _write_snapshot(self, path: Path, pipeline: CameraPipeline, rule: Rule) -> Path | None:
        observation = pipeline.last_analysed  # the step that decides may have had no frame: the last one that did
        if observation is None or observation.frame is None:
            return None
        found = observation.detections.get(rule.model) if rule.model is not None else None
        detections = with_label(found, *sorted(rule.labels)) if found is not None else None
        if detections is None:
            detections = sv.Detections.empty()
        geometry = self.geometry(pipeline.camera_id, rule.name) if self.geometry is not None else None
        try:
            save_snapshot(path, render_snapshot(Evidence(observation.frame, detections), geometry=geometry))
        except OSError:
            log.exception("could not write the after snapshot %s; the check goes on without it", path)
            return None
        return path

    def _write_clip(self, path: Path, camera_id: str, at: float) -> Path | None:
        ring = self.rings.get(camera_id)
        if ring is None:
            return None
        span = self.config.clips.pre_s + self.config.clips.post_s
        try:
            clip = ring.clip(at - span, at)
            if clip is None:
                return None
            write_mp4(clip, path)
        except (OSError, av.FFmpegError) as exc:
            log.warning(
                "camera %s: could not write the after clip (%s); the check goes on without it", camera_id, exc
            )
            return None
        return path
