"""Crowd gathering (人员聚集): at least N people in a zone for T s opens; peak count updates; below N - h for
T_end s closes.

The rule decides on a steady count, not on each frame's: the median of the per-frame counts over the last
`count_window_s` seconds, and while pending it rides out dips below N shorter than `dip_tolerance_s` (see
models.config.CrowdRuleConfig for why)."""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

import numpy as np
import supervision as sv

from analytics.detector import confidences, subset, with_label
from analytics.events import Event, EventPhase, Evidence, Observation
from analytics.rules.base import RecordValue, ReplaySeries, Rule, RuleState
from analytics.zones import Zone, in_zone
from models.config import CrowdRuleConfig


@dataclass(frozen=True, slots=True)
class CountedFrame:
    """One analysed frame's people count, kept for the steady count."""

    timestamp: float
    count: int


class SteadyCount:
    """The median of the counts of the last `window_s` seconds of frames (the newest frame always included)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._frames: deque[CountedFrame] = deque()

    def add(self, timestamp: float, count: int) -> int:
        if self._frames and timestamp < self._frames[-1].timestamp:
            self._frames.clear()  # time went backwards (a new stream): old counts say nothing about now
        self._frames.append(CountedFrame(timestamp, count))
        while self._frames[0].timestamp < timestamp - self.window_s - 1e-9:
            self._frames.popleft()
        # median_high: with an even number of frames the higher middle count, so that a crowd a detector keeps
        # losing people from (misses are far more common than doubles) is not rounded down.
        return int(statistics.median_high(frame.count for frame in self._frames))

    def reset(self) -> None:
        self._frames.clear()


class CrowdRule(Rule):
    name = "crowd"
    labels = frozenset({"person"})
    counts_people = True

    def __init__(self, config: CrowdRuleConfig, zone: Zone | None = None) -> None:
        self.config = config
        self.category = config.category
        self.model: str | None = config.model
        self.zone = zone
        self._state = RuleState.IDLE
        self._since: float | None = None  # when the count first reached N (pending) / fell below N - h (open)
        self._below_since: float | None = None  # pending: when the count fell below N (a dip)
        self._steady = SteadyCount(config.count_window_s)
        self.count = 0  # the steady count of the last frame
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
        return ReplaySeries(key="people", label="people", threshold=self.config.min_people, threshold_label="min_people")

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
        now = observation.timestamp
        count = self.count = self._steady.add(now, len(people))
        if self._state is RuleState.OPEN:
            return self._while_open(observation, people, count, now)
        if count < self.config.min_people:
            if self._state is RuleState.PENDING:
                if self._below_since is None:
                    self._below_since = now
                if self.config.dip_tolerance_s > 0 and now - self._below_since <= self.config.dip_tolerance_s:
                    return None  # a brief dip: still pending, its time counts; it opens on a frame with the crowd
            self._state, self._since, self._below_since, self._peak = RuleState.IDLE, None, None, 0
            return None
        self._below_since = None
        if self._since is None:
            self._state, self._since = RuleState.PENDING, now
        self._track_peak(observation, people, count)
        return self._open_if_due(observation, now)

    def _open_if_due(self, observation: Observation, now: float) -> Event | None:
        assert self._since is not None
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
        """The peak is of the steady count; its evidence is the frame that reached it, with that frame's boxes."""
        if count > self._peak and observation.frame is not None:
            self._peak = count
            self._peak_confidence = float(np.max(confidences(people))) if len(people) else 0.0
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
