"""Deadlines and traffic lights (三灯): pure functions of the incident and the time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.deadlines import Light, is_overdue, seconds_left, traffic_light
from tests.models.test_store import make_incident

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)  # opened; the time limit is 2 h (make_incident)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("now", "light", "overdue", "left_s"),
    [
        (at(0), Light.GREEN, False, 7200),
        (at(59), Light.GREEN, False, 3660),
        (at(60), Light.YELLOW, False, 3600),  # exactly half left: yellow
        (at(119), Light.YELLOW, False, 60),
        (at(120), Light.RED, True, 0),  # at the deadline: overdue
        (at(600), Light.RED, True, -28800),
    ],
)
def test_light_of_an_unresolved_incident(now: datetime, light: Light, overdue: bool, left_s: float) -> None:
    incident = make_incident(opened_at=T0)

    assert traffic_light(incident, now) is light
    assert is_overdue(incident, now) is overdue
    assert seconds_left(incident, now) == left_s


@pytest.mark.parametrize(
    ("resolved", "light", "overdue"),
    [(at(30), Light.GREEN, False), (at(90), Light.YELLOW, False), (at(150), Light.RED, True)],
)
def test_light_freezes_when_resolved(resolved: datetime, light: Light, overdue: bool) -> None:
    incident = make_incident(opened_at=T0, resolved_at=resolved, status="handled")

    for now in (resolved, at(1000), at(10_000)):
        assert traffic_light(incident, now) is light
        assert is_overdue(incident, now) is overdue
