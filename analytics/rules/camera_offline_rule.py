"""Camera offline (设备故障): offline or stalled for T s opens a device-fault incident; frames again close it."""

from __future__ import annotations

from analytics.events import Event, EventPhase, Observation
from analytics.rules.base import Rule, RuleState
from ingest.health import CameraState
from models.config import CameraOfflineRuleConfig


class CameraOfflineRule(Rule):
    name = "camera_offline"

    def __init__(self, config: CameraOfflineRuleConfig) -> None:
        self.config = config
        self.category = config.category
        self._down_since: float | None = None
        self._open = False

    @property
    def state(self) -> RuleState:
        if self._open:
            return RuleState.OPEN
        return RuleState.PENDING if self._down_since is not None else RuleState.IDLE

    def observe(self, observation: Observation) -> Event | None:
        health = observation.health
        now = observation.timestamp
        if health.state is CameraState.ONLINE:
            self._down_since = None
            if self._open:
                self._open = False
                return self._event(EventPhase.CLOSED, now, observation)
            return None
        # Connecting counts as down too: a camera that never comes up is a fault as much as one that dropped.
        if self._down_since is None:
            self._down_since = min(health.since, now)
        if not self._open and now - self._down_since >= self.config.open_after_s:
            self._open = True
            return self._event(EventPhase.OPENED, now, observation)
        return None

    def _event(self, phase: EventPhase, now: float, observation: Observation) -> Event:
        down_minutes = (now - self._down_since) / 60.0 if self._down_since is not None else 0.0
        return Event(
            phase=phase,
            rule=self.name,
            category=self.category,
            camera_id=observation.camera_id,
            timestamp=now,
            magnitude=round(down_minutes, 3),
        )
