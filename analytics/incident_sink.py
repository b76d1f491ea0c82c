"""Where a camera pipeline's events go: one incident per ongoing situation, snapshot on disk, stored, pushed.

Each incident opened on a frame asks `clips` (analytics/clips.py), when given, for its event clip; once written,
`attach_clip` records it on the incident.

Incidents left open by a previous run are adopted: if the same rule on the same camera opens again, the
incident continues; if the rule stays idle for its grace period, it is closed.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from analytics import main_snapshot
from analytics.case_merge import CLOSED_CASES, case_to_join
from analytics.clips import ClipRecorder, ClipRequest
from analytics.events import Event, EventPhase, Evidence
from analytics.evidence import RuleGeometry, render_snapshot, save_snapshot
from analytics.incident_builder import IncidentBuilder, event_time
from analytics.line_counts import LineCounts
from analytics.rules.base import LineCount, RuleState
from ingest.health import CameraHealth, CameraState
from ingest.packet_ring import PacketRing
from models import lifecycle, sightings
from models.incident import CameraStatusRecord, Incident
from models.push import PushJournal
from models.sightings import Sighting, sighting_view
from models.views import camera_status_view, incident_view

log = logging.getLogger(__name__)

MESSAGE_TYPE = {
    EventPhase.OPENED: "incident.opened",
    EventPhase.UPDATED: "incident.updated",
    EventPhase.CLOSED: "incident.closed",
}


@dataclass
class _Adopted:
    incident: Incident
    idle_since: float | None = None


class IncidentSink:
    def __init__(
        self, builder: IncidentBuilder, journal: PushJournal, snapshot_dir: Path, line_counts: LineCounts | None = None
    ) -> None:
        self.builder = builder
        self.journal = journal
        self.snapshot_dir = snapshot_dir
        self.line_counts = line_counts  # None: crossings are not kept (replays record them per frame instead)
        self._open: dict[tuple[str, str], Incident] = {}
        self._adopted: dict[tuple[str, str], _Adopted] = {}
        self._lock = threading.Lock()
        self._published: dict[str, tuple[CameraState, str | None]] = {}  # last pushed (state, error) per camera
        self.clips: ClipRecorder | None = None  # set by the service when clips are enabled
        # The evidence each open incident's snapshot was drawn from: each rule keeps its best frame (highest count
        # or confidence) and sends it with every update; it is drawn again only when the rule found a better one.
        self._snapshot_of: dict[str, Evidence] = {}
        # Cameras analysed on a sub-stream with their main stream in this ring (`record_url`): snapshots are drawn on
        # the main stream's frame nearest the event (analytics/main_snapshot.py). Filled by the service.
        self.main_rings: dict[str, PacketRing] = {}
        self.main_snapshots = main_snapshot.MainSnapshots()
        self._snapshot_lock = threading.Lock()  # a snapshot file and `_snapshot_of` change together
        # One case per situation (analytics/case_merge.py): a camera's opening that joined another camera's incident
        # is a sighting of it, kept here while this camera sees the situation.
        self._sightings: dict[tuple[str, str], Sighting] = {}

    def adopt_open_incidents(self, camera_ids: Collection[str] | None = None) -> int:
        """Take over the incidents a previous run (or another node, for a camera moved here) left open: only for
        cameras still configured, only `camera_ids` when given. One this sink holds open already is kept."""
        count = 0
        for incident in self.journal.store.incidents.unclosed():
            key = (incident.camera_id, incident.rule)
            if camera_ids is not None and incident.camera_id not in camera_ids:
                continue
            if incident.camera_id in self.builder.config.cameras and incident.is_test == self.builder.is_test:
                with self._lock:
                    if key in self._open or key in self._sightings:
                        continue
                    self._adopted[key] = _Adopted(incident)
                count += 1
        return count

    def release_camera(self, camera_id: str) -> None:
        """Forget what this sink holds of a camera that stopped here (its open incidents stay open in the store,
        for whichever node runs the camera next to adopt)."""
        with self._lock:
            for held in (self._open, self._adopted, self._sightings):
                for key in [key for key in held if key[0] == camera_id]:
                    incident = held.pop(key)
                    if isinstance(incident, Incident):
                        self._snapshot_of.pop(incident.id, None)
            self._published.pop(camera_id, None)

    def open_incident(self, camera_id: str, rule: str) -> Incident | None:
        with self._lock:
            key = (camera_id, rule)
            adopted = self._adopted.get(key)
            return self._open.get(key) or (adopted.incident if adopted else None)

    def handle(self, event: Event) -> Incident | None:
        key = (event.camera_id, event.rule)
        with self._lock:
            if key in self._sightings:
                return self._update_sighting(key, event)
            current = self._open.get(key)
            if current is None and key in self._adopted:
                current = self._adopted.pop(key).incident
            if event.phase is EventPhase.OPENED and current is None:
                incident = self.builder.open(event)
                joined = self._case_to_join(incident)
                if joined is not None:
                    return self._join(key, joined, incident, event)
                phase = EventPhase.OPENED
            elif current is None:
                log.warning("%s event for %s/%s with no open incident; ignored", event.phase, *key)
                return None
            else:
                incident = self.builder.apply(current, event)
                phase = EventPhase.CLOSED if event.phase is EventPhase.CLOSED else EventPhase.UPDATED
            if event.evidence is not None and phase is not EventPhase.CLOSED:
                incident = self._with_snapshot(incident, event)
            self.journal.incident(incident, MESSAGE_TYPE[phase], incident_view)
            if phase is EventPhase.OPENED and event.evidence is not None and self.clips is not None:
                self.clips.request(
                    incident_id=incident.id, camera_id=event.camera_id, rule=event.rule, opened_at=event.timestamp
                )
            if phase is EventPhase.CLOSED:
                self._open.pop(key, None)
                self._snapshot_of.pop(incident.id, None)
            else:
                self._open[key] = incident
            return incident

    def _case_to_join(self, new: Incident) -> Incident | None:
        merge = self.builder.config.event_categories[new.category_code].merge
        if not merge.enabled or new.is_test:
            return None
        open_cases = [status.value for status in lifecycle.LoopStatus if status not in CLOSED_CASES]
        candidates, _ = self.journal.store.incidents.search(
            category_code=new.category_code, statuses=open_cases, limit=200
        )
        return case_to_join(merge, new, candidates, new.opened_at)

    def _join(self, key: tuple[str, str], joined: Incident, new: Incident, event: Event) -> Incident:
        """Record this camera's opening as a sighting of `joined` (with its snapshot) and push `incident.updated`
        for `joined`, carrying the sighting."""
        sighting = Sighting(
            id=uuid.uuid4().hex,
            incident_id=joined.id,
            camera_id=new.camera_id,
            camera_name=new.camera_name,
            rule=new.rule,
            grid_code=new.grid_code,
            lat=new.lat,
            lon=new.lon,
            opened_at=new.opened_at,
            updated_at=new.updated_at,
            peak_count=new.peak_count,
            peak_confidence=new.peak_confidence,
        )
        if event.evidence is not None:
            path = self.snapshot_dir / new.opened_at.strftime("%Y%m%d") / f"{sighting.id}.jpg"
            try:
                save_snapshot(path, render_snapshot(event.evidence, geometry=self.rule_geometry(*key)))
                sighting = sighting.with_update(snapshot_path=str(path))
            except OSError:
                log.exception("could not write the snapshot of a sighting of incident %s; kept without it", joined.id)
        with self.journal.store.database.side_transaction() as connection:
            sightings.record(connection, sighting)
        self._sightings[key] = sighting
        log.info("camera %s: %s joins incident %s of camera %s (one case per situation)", new.camera_id, new.rule,
                 joined.id, joined.camera_id)  # fmt: skip
        stored = self.journal.store.incidents.get(joined.id) or joined
        updated = stored.model_copy(update={"updated_at": max(stored.updated_at, new.opened_at)})
        view = sighting_view(sighting)
        self.journal.incident(updated, MESSAGE_TYPE[EventPhase.UPDATED], lambda i: {**incident_view(i), "sighting": view})
        return updated

    def _update_sighting(self, key: tuple[str, str], event: Event) -> Incident | None:
        """This camera's update or end of a situation it sees as a sighting of another camera's incident."""
        sighting = self._sightings[key]
        at = event_time(event)
        sighting = sighting.with_update(
            updated_at=at,
            peak_count=_max(sighting.peak_count, event.count),
            peak_confidence=_max(sighting.peak_confidence, event.confidence),
            closed_at=at if event.phase is EventPhase.CLOSED else None,
        )
        with self.journal.store.database.side_transaction() as connection:
            sightings.save(connection, sighting)
        if event.phase is EventPhase.CLOSED:
            del self._sightings[key]
        else:
            self._sightings[key] = sighting
        return self.journal.store.incidents.get(sighting.incident_id)

    def sighting(self, camera_id: str, rule: str) -> Sighting | None:
        """The sighting this camera's rule is adding to another camera's incident now, if any."""
        with self._lock:
            return self._sightings.get((camera_id, rule))

    def attach_clip(self, request: ClipRequest, path: Path) -> Incident | None:
        """Record a written clip on its incident (open or already ended) and push `incident.updated` with its
        `clip_url` (delivered like any change)."""
        key = (request.camera_id, request.rule)
        with self._lock:
            current = self._open.get(key)
            if current is not None and current.id == request.incident_id:
                incident = current.model_copy(update={"clip_path": str(path)})
                self._open[key] = incident
            else:
                stored = self.journal.store.incidents.get(request.incident_id)
                if stored is None:
                    return None
                incident = stored.model_copy(update={"clip_path": str(path)})
            self.journal.incident(incident, MESSAGE_TYPE[EventPhase.UPDATED], incident_view)
            return incident

    def settle_adopted(self, camera_id: str, rule: str, state: RuleState, now: float, grace_s: float) -> None:
        """Close an adopted incident once its rule has stayed idle for `grace_s`."""
        key = (camera_id, rule)
        with self._lock:
            adopted = self._adopted.get(key)
            if adopted is None:
                return
            if state is not RuleState.IDLE:
                adopted.idle_since = None
                return
            if adopted.idle_since is None:
                adopted.idle_since = now
            if now - adopted.idle_since < grace_s:
                return
            del self._adopted[key]
            closed = adopted.incident.model_copy(update={"closed_at": _utc(now), "updated_at": _utc(now)})
            self.journal.incident(closed, MESSAGE_TYPE[EventPhase.CLOSED], incident_view)

    def line_count(self, camera_id: str, count: LineCount, at: float) -> None:
        """Add a rule's line crossings to the camera's people-flow counts (GET /cameras/{id}/lines). A count that
        cannot be written is logged, never costs an event."""
        if self.line_counts is None:
            return
        try:
            self.line_counts.add(camera_id, count.line, count.crossed_in, count.crossed_out, at)
        except OSError:
            log.exception("camera %s: could not write the counts of line %s", camera_id, count.line)

    def camera_health(self, health: CameraHealth, analysed_fps: float | None = None) -> None:
        """Record and push a camera's health change. Reconnect attempts of a camera that stays down
        (offline → connecting → offline, or stalled → connecting → stalled for a hung server, with the same
        reason) are not news: only the first is pushed."""
        published = self._published.get(health.camera_id)
        still_down = published is not None and published[0] in (CameraState.OFFLINE, CameraState.STALLED)
        if still_down and (health.state is CameraState.CONNECTING or (health.state, health.last_error) == published):
            return
        self._published[health.camera_id] = (health.state, health.last_error)
        camera = self.builder.config.cameras[health.camera_id]
        grid_code = self.builder.config.camera_grid_cell(health.camera_id)
        record = CameraStatusRecord(
            camera_id=health.camera_id,
            state=health.state.value,
            since=_utc(health.since),
            last_error=health.last_error,
            updated_at=_utc(health.since),
            frames_decoded=health.frames_decoded,
            frames_dropped=health.frames_dropped,
            analysed_fps=analysed_fps,
        )
        self.journal.camera_status(record, grid_code, camera_status_view(record, name=camera.name, grid_code=grid_code))

    def rule_geometry(self, camera_id: str, rule: str) -> RuleGeometry:
        """The zones and lines the rule watches on that camera, to draw on its snapshots."""
        camera = self.builder.config.cameras.get(camera_id)
        config = getattr(camera.rules, rule, None) if camera is not None else None
        if camera is None or config is None or not hasattr(config, "zone_refs"):
            return RuleGeometry()
        zones = [camera.zones[name].polygon for name in config.zone_refs().values() if name in camera.zones]
        lines = [camera.lines[name].points for name in config.line_refs().values() if name in camera.lines]
        return RuleGeometry(
            zones=tuple(np.array(z, dtype=float) for z in zones), lines=tuple(np.array(li, dtype=float) for li in lines)
        )

    def _with_snapshot(self, incident: Incident, event: Event) -> Incident:
        assert event.evidence is not None
        if self._snapshot_of.get(incident.id) is event.evidence and incident.snapshot_path is not None:
            return incident  # the rule's best frame has not changed since it was drawn
        path = self.snapshot_dir / incident.opened_at.strftime("%Y%m%d") / f"{incident.id}.jpg"
        try:
            evidence, geometry = event.evidence, self.rule_geometry(event.camera_id, event.rule)
            with self._snapshot_lock:
                save_snapshot(path, render_snapshot(evidence, geometry=geometry))
                self._snapshot_of[incident.id] = evidence
            ring = self.main_rings.get(event.camera_id)
            if ring is not None:  # redrawn at main resolution in place, off this (the analysis) thread
                self.main_snapshots.submit(
                    path, ring, evidence, geometry, self._snapshot_lock,
                    still_current=lambda: self._snapshot_of.get(incident.id) is evidence,
                )  # fmt: skip
        except OSError:
            log.exception("could not write the snapshot of incident %s; the incident is kept without it", incident.id)
            return incident
        return incident.model_copy(update={"snapshot_path": str(path)})


def _max(a: float | int | None, b: float | int | None):  # type: ignore[no-untyped-def]
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
