"""Crowd gathering (人员聚集): at least N people in a zone for T s opens; peak count updates; below N - h for
T_end s closes."""

from __future__ import annotations

import numpy as np
import supervision as sv

from analytics.detector import confidences, subset, with_label
from analytics.events import Event, EventPhase, Evidence, Observation
from analytics.rules.base import RecordValue, ReplaySeries, Rule, RuleState
from analytics.zones import Zone, in_zone
from models.config import CrowdRuleConfig


class CrowdRule(Rule):
    name = "crowd"
    labels = frozenset({"person"})

    def __init__(self, config: CrowdRuleConfig, zone: Zone | None = None) -> None:
        self.config = config
        self.category = config.category
        self.model: str | None = config.model
        self.zone = zone
        self._state = RuleState.IDLE
        self._since: float | None = None  # when the count first reached N (pending) / fell below N - h (open)
        self._peak = 0
        self._peak_confidence = 0.0
        self._peak_evidence: Evidence | None = None

    @property
    def state(self) -> RuleState:
        return self._state

    def adoption_grace_s(self, analysis_fps: float) -> float:
        return self.config.close_after_s

    def record(self, observation: Observation) -> dict[str, RecordValue]:
        return {"people": len(self.people(observation))}

    def replay_series(self) -> ReplaySeries:
        return ReplaySeries("people", "people", self.config.min_people, "min_people")

    def people(self, observation: Observation) -> sv.Detections:
        detections = observation.detections.get(self.config.model)
        if detections is None:
            return sv.Detections.empty()
        people = with_label(detections, "person")
        if len(people):
            people = subset(people, confidences(people) >= self.config.min_confidence)
        return in_zone(people, self.zone)

    def observe(self, observation: Observation) -> Event | None:
        if observation.frame is None:
            return None  # no picture, no count: the camera-offline rule speaks for this
        people = self.people(observation)
        count = len(people)
        now = observation.timestamp
        if self._state is RuleState.OPEN:
            return self._while_open(observation, people, count, now)
        if count < self.config.min_people:
            self._state, self._since, self._peak = RuleState.IDLE, None, 0
            return None
        if self._since is None:
            self._state, self._since = RuleState.PENDING, now
        self._track_peak(observation, people, count)
        if now - self._since < self.config.open_after_s:
            return None
        self._state, self._since = RuleState.OPEN, None
        return self._event(EventPhase.OPENED, observation)

    def _while_open(self, observation: Observation, people: sv.Detections, count: int, now: float) -> Event | None:
        if count < self.config.min_people - self.config.hysteresis:
            if self._since is None:
                self._since = now
            if now - self._since >= self.config.close_after_s:
                event = self._event(EventPhase.CLOSED, observation)
                self._state, self._since, self._peak = RuleState.IDLE, None, 0
                return event
            return None
        self._since = None
        if count > self._peak:
            self._track_peak(observation, people, count)
            return self._event(EventPhase.UPDATED, observation)
        return None

    def _track_peak(self, observation: Observation, people: sv.Detections, count: int) -> None:
        if count > self._peak and observation.frame is not None:
            self._peak = count
            self._peak_confidence = float(np.max(confidences(people))) if count else 0.0
            self._peak_evidence = Evidence(observation.frame, people)

    def _event(self, phase: EventPhase, observation: Observation) -> Event:
        return Event(
            phase=phase,
            rule=self.name,
            category=self.category,
            camera_id=observation.camera_id,
            timestamp=observation.timestamp,
            magnitude=float(self._peak),
            count=self._peak,
            confidence=round(self._peak_confidence, 4),
            evidence=self._peak_evidence,
        )
