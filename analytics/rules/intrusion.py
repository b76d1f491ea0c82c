"""Zone intrusion (区域入侵): a person (or another configured label) inside a zone during its armed hours for at
least T s (`dwell_s`, held by the harness) opens; the zone empty for `clear_s` closes.

The rule itself opens on the first frame with someone inside and stays open across missed detections shorter
than `clear_s`; the shared harness (analytics/rules/harness.py) holds the opening until it has lasted `dwell_s`
and applies the arming schedule. Magnitude: the most objects inside at once. Needs no tracks.
"""

from __future__ import annotations

import supervision as sv

from analytics.events import Event, EventPhase, Evidence, Observation
from analytics.rules.base import RecordValue, ReplaySeries, Rule, RuleState
from analytics.rules.objects import best_confidence, objects
from analytics.rules.site import RuleSite
from analytics.zones import in_zone
from models.config import IntrusionRuleConfig


class IntrusionRule(Rule):
    name = "intrusion"

    def __init__(self, config: IntrusionRuleConfig, site: RuleSite) -> None:
        self.config = config
        self.category = config.category
        self.model = config.model
        self.labels = frozenset(config.labels)
        self.zone = site.zones[config.zone]
        self._open = False
        self._empty_since: float | None = None
        self._peak = 0
        self._peak_confidence: float | None = None
        self._evidence: Evidence | None = None

    @property
    def state(self) -> RuleState:
        return RuleState.OPEN if self._open else RuleState.IDLE

    def adoption_grace_s(self, analysis_fps: float) -> float:
        return self.config.clear_s

    def intruders(self, observation: Observation) -> sv.Detections:
        found = objects(observation, self.config.model, self.config.labels, self.config.min_confidence)
        return in_zone(found, self.zone)

    def record(self, observation: Observation) -> dict[str, RecordValue]:
        return {"intruders": len(self.intruders(observation))}

    def replay_series(self) -> ReplaySeries:
        return ReplaySeries(key="intruders", label=f"in zone {self.zone.name}", threshold=1, threshold_label="one intruder")

    def observe(self, observation: Observation) -> Event | None:
        if observation.frame is None:
            return None  # no picture: the camera-offline rule speaks for this
        inside = self.intruders(observation)
        now = observation.timestamp
        if len(inside):
            self._empty_since = None
            if not self._open or len(inside) > self._peak:
                phase = EventPhase.UPDATED if self._open else EventPhase.OPENED
                self._open, self._peak = True, len(inside)
                self._peak_confidence = best_confidence(inside)
                self._evidence = Evidence(observation.frame, inside)
                return self._event(phase, now, observation.camera_id)
            return None
        if not self._open:
            return None
        if self._empty_since is None:
            self._empty_since = now
        if now - self._empty_since < self.config.clear_s:
            return None
        event = self._event(EventPhase.CLOSED, now, observation.camera_id)
        self._open, self._empty_since, self._peak, self._evidence = False, None, 0, None
        return event

    def _event(self, phase: EventPhase, now: float, camera_id: str) -> Event:
        return Event(
            phase=phase, rule=self.name, category=self.category, camera_id=camera_id, timestamp=now,
            magnitude=float(self._peak), count=self._peak, confidence=self._peak_confidence, evidence=self._evidence,
        )  # fmt: skip
