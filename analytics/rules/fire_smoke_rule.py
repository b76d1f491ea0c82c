"""Fire / smoke (火灾隐患): a hit in at least k of the last n analysed frames opens; n frames without a hit close.

Persistence rather than a single frame: sunset glare and flashing emergency lights fool single frames.
A hit is a fire/smoke box above a confidence and a minimum area (a fraction of the frame), inside the zone.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import supervision as sv

from analytics.detector import confidences, subset, with_label
from analytics.events import Event, EventPhase, Evidence, Observation
from analytics.rules.base import RecordValue, ReplaySeries, Rule, RuleState
from analytics.zones import Zone, in_zone
from models.config import FireSmokeRuleConfig

UPDATE_CONFIDENCE_STEP = 0.05  # an open incident is updated when its peak confidence grows by this much
UPDATE_AREA_STEP = 1.0  # ... or its largest box grows by this many percent of the frame


class FireSmokeRule(Rule):
    name = "fire_smoke"

    def __init__(self, config: FireSmokeRuleConfig, zone: Zone | None = None) -> None:
        self.config = config
        self.category = config.category
        self.model: str | None = config.model
        self.labels = frozenset(config.labels)
        self.zone = zone
        self._window: deque[bool] = deque(maxlen=config.window_frames)
        self._misses = 0
        self._open = False
        self._peak_confidence = 0.0
        self._peak_area_pct = 0.0
        self._reported = (0.0, 0.0)  # (confidence, area %) last sent
        self._evidence: Evidence | None = None

    @property
    def state(self) -> RuleState:
        if self._open:
            return RuleState.OPEN
        return RuleState.PENDING if any(self._window) else RuleState.IDLE

    def adoption_grace_s(self, analysis_fps: float) -> float:
        return self.config.clear_frames / analysis_fps

    def record(self, observation: Observation) -> dict[str, RecordValue]:
        found = with_label(observation.detections.get(self.config.model, sv.Detections.empty()), *self.config.labels)
        confidence = round(float(np.max(confidences(found))), 4) if len(found) else 0.0
        return {"fire_confidence": confidence, "fire_hit": len(self.hits(observation)) > 0}

    def replay_series(self) -> ReplaySeries:
        return ReplaySeries(
            key="fire_confidence", label="confidence", threshold=self.config.min_confidence,
            threshold_label="min_confidence", hit_key="fire_hit", top=1.3, step=False,
        )  # fmt: skip

    def hits(self, observation: Observation) -> sv.Detections:
        detections = observation.detections.get(self.config.model)
        if detections is None or observation.frame is None:
            return sv.Detections.empty()
        found = with_label(detections, *self.config.labels)
        if len(found) == 0:
            return found
        frame_area = float(observation.frame.width * observation.frame.height)
        keep = (confidences(found) >= self.config.min_confidence) & (
            np.asarray(found.box_area) / frame_area >= self.config.min_box_area
        )
        return in_zone(subset(found, keep), self.zone)

    def observe(self, observation: Observation) -> Event | None:
        if observation.frame is None:
            return None
        hits = self.hits(observation)
        hit = len(hits) > 0
        self._window.append(hit)
        self._misses = 0 if hit else self._misses + 1
        if hit:
            self._track_peak(observation, hits)
        if not self._open:
            if sum(self._window) >= self.config.min_hits:
                self._open = True
                self._reported = (self._peak_confidence, self._peak_area_pct)
                return self._event(EventPhase.OPENED, observation)
            if not any(self._window):
                self._reset_peak()
            return None
        if self._misses >= self.config.clear_frames:
            event = self._event(EventPhase.CLOSED, observation)
            self._open = False
            self._window.clear()
            self._reset_peak()
            return event
        conf, area = self._reported
        if self._peak_confidence >= conf + UPDATE_CONFIDENCE_STEP or self._peak_area_pct >= area + UPDATE_AREA_STEP:
            self._reported = (self._peak_confidence, self._peak_area_pct)
            return self._event(EventPhase.UPDATED, observation)
        return None

    def _track_peak(self, observation: Observation, hits: sv.Detections) -> None:
        assert observation.frame is not None
        confidence = float(np.max(confidences(hits)))
        area_pct = 100.0 * float(np.max(hits.box_area)) / (observation.frame.width * observation.frame.height)
        if confidence > self._peak_confidence or self._evidence is None:
            self._evidence = Evidence(observation.frame, hits)
        self._peak_confidence = max(self._peak_confidence, confidence)
        self._peak_area_pct = max(self._peak_area_pct, area_pct)

    def _reset_peak(self) -> None:
        self._peak_confidence, self._peak_area_pct, self._evidence = 0.0, 0.0, None

    def _event(self, phase: EventPhase, observation: Observation) -> Event:
        return Event(
            phase=phase,
            rule=self.name,
            category=self.category,
            camera_id=observation.camera_id,
            timestamp=observation.timestamp,
            magnitude=round(self._peak_area_pct, 3),
            confidence=round(self._peak_confidence, 4),
            evidence=self._evidence,
        )
