"""Loitering (徘徊): the same tracked person inside a zone for at least T s (`min_total_s`) in total within the last
`window_s` opens; no loiterer seen in the zone for `clear_s` closes.

Time in the zone is summed per tracker id from its sightings there: each sighting adds the time since the track's
previous sighting in the zone, at most `max_gap_s` (it may have stepped out meanwhile). So a person who walks in and
out of the zone keeps adding up, and one who passes through never does. A new tracker id (an id switch) starts
from zero: the rule can only be as good as the tracker at the camera's analysis fps (bench/tracking/RESULTS.md).
Magnitude: the most loiterers at once.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import supervision as sv

from analytics.detector import subset
from analytics.events import Event, EventPhase, Evidence, Observation
from analytics.rules.base import RecordValue, ReplaySeries, Rule, RuleState
from analytics.rules.objects import best_confidence, objects
from analytics.rules.site import RuleSite
from analytics.zones import in_zone
from models.config import LoiteringRuleConfig


class LoiteringRule(Rule):
    name = "loitering"
    needs_tracks = True

    def __init__(self, config: LoiteringRuleConfig, site: RuleSite) -> None:
        self.config = config
        self.category = config.category
        self.model = config.model
        self.labels = frozenset(config.labels)
        self.zone = site.zones[config.zone]
        self._time_in: dict[int, deque[tuple[float, float]]] = {}  # tracker id -> (sighting time, seconds added)
        self._last_seen: dict[int, float] = {}
        self._open = False
        self._loiterer_seen_at: float | None = None
        self._peak = 0
        self._peak_confidence: float | None = None
        self._evidence: Evidence | None = None

    @property
    def state(self) -> RuleState:
        if self._open:
            return RuleState.OPEN
        return RuleState.PENDING if self._time_in else RuleState.IDLE

    def adoption_grace_s(self, analysis_fps: float) -> float:
        return self.config.clear_s

    def tracked_inside(self, observation: Observation) -> sv.Detections:
        found = in_zone(objects(observation, self.config.model, self.config.labels, self.config.min_confidence),
                        self.zone)  # fmt: skip
        if len(found) == 0 or found.tracker_id is None:
            return subset(found, np.zeros(len(found), dtype=bool))
        return subset(found, found.tracker_id >= 0)

    def total_s(self, tracker_id: int) -> float:
        return sum(added for _, added in self._time_in.get(tracker_id, ()))

    def record(self, observation: Observation) -> dict[str, RecordValue]:
        ids = self.tracked_inside(observation).tracker_id
        longest = max((self.total_s(int(i)) for i in ids), default=0.0) if ids is not None else 0.0
        return {"longest_in_zone_s": round(longest, 2)}

    def replay_series(self) -> ReplaySeries:
        return ReplaySeries(
            key="longest_in_zone_s", label="longest in zone (s)", threshold=self.config.min_total_s,
            threshold_label="min_total_s",
        )  # fmt: skip

    def observe(self, observation: Observation) -> Event | None:
        if observation.frame is None:
            return None
        now = observation.timestamp
        inside = self.tracked_inside(observation)
        ids = [int(i) for i in inside.tracker_id] if inside.tracker_id is not None else []
        for tracker_id in ids:
            last = self._last_seen.get(tracker_id)
            added = min(now - last, self.config.max_gap_s) if last is not None else 0.0
            self._time_in.setdefault(tracker_id, deque()).append((now, added))
            self._last_seen[tracker_id] = now
        self._forget_before(now - self.config.window_s)
        loitering = np.array([self.total_s(i) >= self.config.min_total_s for i in ids], dtype=bool)
        if loitering.any():
            loiterers = subset(inside, loitering)
            self._loiterer_seen_at = now
            if not self._open or len(loiterers) > self._peak:
                phase = EventPhase.UPDATED if self._open else EventPhase.OPENED
                self._open, self._peak = True, len(loiterers)
                self._peak_confidence = best_confidence(loiterers)
                self._evidence = Evidence(observation.frame, loiterers)
                return self._event(phase, now, observation.camera_id)
            return None
        if self._open and self._loiterer_seen_at is not None and now - self._loiterer_seen_at >= self.config.clear_s:
            event = self._event(EventPhase.CLOSED, now, observation.camera_id)
            self._open, self._peak, self._evidence = False, 0, None
            return event
        return None

    def _forget_before(self, cutoff: float) -> None:
        for tracker_id in list(self._time_in):
            sightings = self._time_in[tracker_id]
            while sightings and sightings[0][0] < cutoff:
                sightings.popleft()
            if not sightings:
                del self._time_in[tracker_id]
                self._last_seen.pop(tracker_id, None)

    def _event(self, phase: EventPhase, now: float, camera_id: str) -> Event:
        return Event(
            phase=phase, rule=self.name, category=self.category, camera_id=camera_id, timestamp=now,
            magnitude=float(self._peak), count=self._peak, confidence=self._peak_confidence, evidence=self._evidence,
        )  # fmt: skip
