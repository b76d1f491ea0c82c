"""Illegal parking (机动车违停 / 占道): a vehicle (car, truck, bus, motorcycle) standing still inside a no-parking zone
for at least T (`min_stationary_s`) opens; no parked vehicle left in the zone for `clear_s` closes.

Stationary: the vehicle's box bottom-centre stays within `max_shift` x the box's larger side of where it was first
seen, for the whole of T (measured against that first position, so a slow creep adds up and restarts the clock).

Matching is per frame by box overlap, not by tracker ids: each parked candidate keeps the box it was first seen with,
and a detection continues it when it overlaps that box (IoU >= 0.5) and its bottom-centre has not moved further than
`max_shift`. Why not tracks: at the 1-2 fps cameras are analysed at, ByteTrack ids rarely confirm and switch when a
passer-by occludes the vehicle (bench/tracking/RESULTS.md), while a parked vehicle's box overlaps itself frame after
frame whatever happened in between; the label is not compared (one van is car in one frame, truck in the next).
A candidate unseen for less than `clear_s` survives (a bus passing in front); longer and it is gone.

Magnitude: minutes the longest-parked vehicle has stood (severity bands by minutes); count: parked vehicles at once.
The shared `dwell_s` (harness) holds the opening on top of T; it defaults to 0 here since T is the rule's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import supervision as sv

from analytics.detector import LABEL_KEY, subset
from analytics.events import Event, EventPhase, Evidence, Observation
from analytics.rules.base import RecordValue, ReplaySeries, Rule, RuleState
from analytics.rules.objects import best_confidence, objects
from analytics.rules.site import RuleSite
from analytics.zones import in_zone
from models.config import VehicleDwellRuleConfig

MATCH_IOU = 0.5  # a detection continues a candidate when it overlaps the candidate's first box this much


@dataclass(slots=True)
class _Candidate:
    box: np.ndarray  # xyxy where it was first seen
    since: float  # first seen here
    last_seen: float
    label: str

    def bottom_centre(self) -> np.ndarray:
        return np.array([(self.box[0] + self.box[2]) / 2.0, self.box[3]])

    def size(self) -> float:
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1], 1.0))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class VehicleDwellRule(Rule):
    name = "vehicle_dwell"

    def __init__(self, config: VehicleDwellRuleConfig, site: RuleSite) -> None:
        self.config = config
        self.category = config.category
        self.model = config.model
        self.labels = frozenset(config.labels)
        self.zone = site.zones[config.zone]
        self._candidates: list[_Candidate] = []
        self._open = False
        self._peak = 0
        self._longest_s = 0.0
        self._peak_confidence: float | None = None
        self._evidence: Evidence | None = None

    @property
    def state(self) -> RuleState:
        if self._open:
            return RuleState.OPEN
        return RuleState.PENDING if self._candidates else RuleState.IDLE

    def adoption_grace_s(self, analysis_fps: float) -> float:
        return self.config.clear_s

    def vehicles(self, observation: Observation) -> sv.Detections:
        found = objects(observation, self.config.model, self.config.labels, self.config.min_confidence)
        return in_zone(found, self.zone)

    def record(self, observation: Observation) -> dict[str, RecordValue]:
        return {"vehicles": len(self.vehicles(observation)), "parked": self._parked_count(observation.timestamp)}

    def replay_series(self) -> ReplaySeries:
        return ReplaySeries(
            key="parked", label=f"parked ≥ T in zone {self.zone.name}", threshold=1, threshold_label="one parked vehicle"
        )

    def _parked_count(self, now: float) -> int:
        return sum(1 for c in self._candidates if now - c.since >= self.config.min_stationary_s)

    def _parked_boxes(self, now: float) -> sv.Detections:
        parked = [c for c in self._candidates if now - c.since >= self.config.min_stationary_s]
        return sv.Detections(
            xyxy=np.array([c.box for c in parked], dtype=float).reshape(-1, 4),
            data={LABEL_KEY: np.array([c.label for c in parked], dtype=object)},
        )

    def _match(self, detections: sv.Detections, now: float) -> np.ndarray:
        """Continue or start a candidate per detection; a mask of the detections that continue a parked one."""
        parked = np.zeros(len(detections), dtype=bool)
        taken: set[int] = set()
        order = np.argsort(-(detections.confidence if detections.confidence is not None else np.ones(len(detections))))
        for index in order:
            box = detections.xyxy[index].astype(float)
            bottom = np.array([(box[0] + box[2]) / 2.0, box[3]])
            best, best_iou = None, MATCH_IOU
            for number, candidate in enumerate(self._candidates):
                if number in taken:
                    continue
                overlap = _iou(candidate.box, box)
                shift = float(np.linalg.norm(bottom - candidate.bottom_centre()))
                if overlap >= best_iou and shift <= self.config.max_shift * candidate.size():
                    best, best_iou = number, overlap
            if best is None:
                self._candidates.append(_Candidate(box, now, now, str(detections.data[LABEL_KEY][index])))
                taken.add(len(self._candidates) - 1)
                continue
            taken.add(best)
            self._candidates[best].last_seen = now
            parked[index] = now - self._candidates[best].since >= self.config.min_stationary_s
        self._candidates = [c for c in self._candidates if now - c.last_seen <= self.config.clear_s]
        return parked

    def observe(self, observation: Observation) -> Event | None:
        if observation.frame is None:
            return None  # no picture: the camera-offline rule speaks for this
        now = observation.timestamp
        inside = self.vehicles(observation)
        parked_now = subset(inside, self._match(inside, now))  # also forgets candidates unseen for clear_s
        parked = self._parked_count(now)  # candidates still alive, seen now or briefly hidden
        if parked:
            self._longest_s = max(self._longest_s, max(now - c.since for c in self._candidates))
            if len(parked_now):
                self._evidence = Evidence(observation.frame, parked_now)
                self._peak_confidence = best_confidence(parked_now)
            elif self._evidence is None:  # T reached while hidden (a bus in front): its box where it stands
                self._evidence = Evidence(observation.frame, self._parked_boxes(now))
            if not self._open or parked > self._peak:
                phase = EventPhase.UPDATED if self._open else EventPhase.OPENED
                self._open, self._peak = True, max(parked, self._peak)
                return self._event(phase, now, observation.camera_id)
            return None
        if not self._open:
            return None
        event = self._event(EventPhase.CLOSED, now, observation.camera_id)
        self._open, self._peak, self._longest_s, self._evidence = False, 0, 0.0, None
        return event

    def _event(self, phase: EventPhase, now: float, camera_id: str) -> Event:
        return Event(
            phase=phase, rule=self.name, category=self.category, camera_id=camera_id, timestamp=now,
            magnitude=round(self._longest_s / 60.0, 2), count=self._peak, confidence=self._peak_confidence,
            evidence=self._evidence,
        )  # fmt: skip
