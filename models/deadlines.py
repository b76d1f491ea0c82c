"""Handling deadlines and the traffic light (三灯) of each incident. Pure: the caller gives the time.

An incident's time limit is its category's (`deadline - opened_at`). The clock runs from opening until the incident
is resolved (first reaches `handled`, or is rejected as a false alarm: `Incident.resolved_at`); after that the
light is frozen at what it was then.

- green: more than half of the time limit is left (`YELLOW_BELOW` = 0.5);
- yellow: half or less is left, but the deadline has not passed;
- red: the deadline passed before the incident was resolved (overdue).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from models.incident import Incident

YELLOW_BELOW = 0.5
"""Yellow once the time left is at most this fraction of the time limit."""


class Light(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


def clock_stop(incident: Incident, now: datetime) -> datetime:
    """Where the deadline clock stands: `now`, or when the incident was resolved."""
    return incident.resolved_at if incident.resolved_at is not None else now


def seconds_left(incident: Incident, now: datetime) -> float:
    """Seconds until the deadline (negative once past), as of `now` or of the resolution."""
    return (incident.deadline - clock_stop(incident, now)).total_seconds()


def is_overdue(incident: Incident, now: datetime) -> bool:
    return seconds_left(incident, now) <= 0


def traffic_light(incident: Incident, now: datetime) -> Light:
    left = seconds_left(incident, now)
    if left <= 0:
        return Light.RED
    limit = (incident.deadline - incident.opened_at).total_seconds()
    return Light.GREEN if left > YELLOW_BELOW * limit else Light.YELLOW
