"""What every rule is: a small object with one method over an observation (detections and time)."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from analytics.events import Event, Observation


class RuleState(StrEnum):
    IDLE = "idle"  # nothing seen
    PENDING = "pending"  # the condition holds but not yet long enough
    OPEN = "open"  # an event is open


class Rule(Protocol):
    name: str
    category: str
    model: str | None  # the model whose detections the rule reads; None for health-only rules

    @property
    def state(self) -> RuleState: ...

    def observe(self, observation: Observation) -> Event | None:
        """Advance by one observation; return the event this step decides, if any."""
        ...
