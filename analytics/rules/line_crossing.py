"""Line crossing (越线 / 逆行): a tracked object crossing a camera line in the forbidden direction opens an incident;
each further forbidden crossing updates it (magnitude: forbidden crossings so far); none for `clear_s` closes it.

Crossings both ways are also counted (people flow for the grid centre): the pipeline takes them after each step
(`take_line_counts`) and adds them to the camera's line counts, which `GET /cameras/{id}/lines` reads. A crossing is
one tracker id changing sides of the line by its bottom-centre point (supervision `LineZone`, analytics/zones.py):
untracked detections never cross, and an id switch on the line can lose or double a crossing
(bench/tracking/RESULTS.md measures it at the analysis fps).
"""

from __future__ import annotations

import supervision as sv

from analytics.detector import subset
from analytics.events import Event, EventPhase, Evidence, Observation
from analytics.rules.base import LineCount, RecordValue, ReplaySeries, Rule, RuleState
from analytics.rules.objects import best_confidence, objects
from analytics.rules.site import RuleSite
from models.config import LineCrossingRuleConfig


class LineCrossingRule(Rule):
    name = "line_crossing"
    needs_tracks = True

    def __init__(self, config: LineCrossingRuleConfig, site: RuleSite) -> None:
        self.config = config
        self.category = config.category
        self.model = config.model
        self.labels = frozenset(config.labels)
        self.line = site.lines[config.line]
        self.crossed_in = 0  # since the rule started
        self.crossed_out = 0
        self._untaken = (0, 0)  # (in, out) not yet taken by take_line_counts
        self._open = False
        self._forbidden_count = 0
        self._last_forbidden_at: float | None = None
        self._peak_confidence: float | None = None
        self._evidence: Evidence | None = None

    @property
    def state(self) -> RuleState:
        return RuleState.OPEN if self._open else RuleState.IDLE

    def adoption_grace_s(self, analysis_fps: float) -> float:
        return self.config.clear_s

    def take_line_counts(self) -> list[LineCount]:
        crossed_in, crossed_out = self._untaken
        if crossed_in == 0 and crossed_out == 0:
            return []
        self._untaken = (0, 0)
        return [LineCount(line=self.line.name, crossed_in=crossed_in, crossed_out=crossed_out)]

    def record(self, observation: Observation) -> dict[str, RecordValue]:
        return {"crossed_in": self.crossed_in, "crossed_out": self.crossed_out}

    def replay_series(self) -> ReplaySeries:
        key = "crossed_out" if self.config.forbidden == "out" else "crossed_in"
        return ReplaySeries(key=key, label=f"{key} (total)")

    def crossings(self, observation: Observation) -> tuple[sv.Detections, sv.Detections]:
        """The objects that crossed in and out on this observation."""
        found = objects(observation, self.config.model, self.config.labels, self.config.min_confidence)
        crossed_in, crossed_out = self.line.trigger(found)
        return subset(found, crossed_in), subset(found, crossed_out)

    def observe(self, observation: Observation) -> Event | None:
        if observation.frame is None:
            return None
        now = observation.timestamp
        went_in, went_out = self.crossings(observation)
        self.crossed_in += len(went_in)
        self.crossed_out += len(went_out)
        self._untaken = (self._untaken[0] + len(went_in), self._untaken[1] + len(went_out))
        forbidden = {"in": [went_in], "out": [went_out], "both": [went_in, went_out], "none": []}[self.config.forbidden]
        offenders = sv.Detections.merge(forbidden) if forbidden else sv.Detections.empty()
        if len(offenders):
            phase = EventPhase.UPDATED if self._open else EventPhase.OPENED
            self._open, self._last_forbidden_at = True, now
            self._forbidden_count += len(offenders)
            self._peak_confidence = max(self._peak_confidence or 0.0, best_confidence(offenders) or 0.0)
            self._evidence = Evidence(observation.frame, offenders)
            return self._event(phase, now, observation.camera_id)
        if self._open and self._last_forbidden_at is not None and now - self._last_forbidden_at >= self.config.clear_s:
            event = self._event(EventPhase.CLOSED, now, observation.camera_id)
            self._open, self._forbidden_count, self._evidence, self._peak_confidence = False, 0, None, None
            return event
        return None

    def _event(self, phase: EventPhase, now: float, camera_id: str) -> Event:
        return Event(
            phase=phase, rule=self.name, category=self.category, camera_id=camera_id, timestamp=now,
            magnitude=float(self._forbidden_count), count=self._forbidden_count, confidence=self._peak_confidence,
            evidence=self._evidence,
        )  # fmt: skip
