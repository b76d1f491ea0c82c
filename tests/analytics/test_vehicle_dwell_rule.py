import pytest

from analytics.events import EventPhase
from analytics.rules.site import RuleSite
from analytics.rules.vehicle_dwell import VehicleDwellRule
from analytics.zones import Zone
from models.config import VehicleDwellRuleConfig, ZoneConfig
from tests.analytics.helpers import detections, observe

# The no-parking zone: x < 320 of a 640x480 frame. A vehicle is a 100x60 box placed by its bottom-centre x.
SITE = RuleSite({"kerb": Zone.from_config("kerb", ZoneConfig(polygon=[(0, 0), (320, 0), (320, 480), (0, 480)]))},
                {}, 1.0)  # fmt: skip
STEP = 10.0  # one observation every 10 s


def vehicles(xs, label="car", confidence=0.8):
    return detections([(x - 50, 340, x + 50, 400) for x in xs], label, confidence)


def run(rule, frames, label="car"):
    """Each frame lists the bottom-centre x of the vehicles seen; observations STEP s apart."""
    out = []
    for n, xs in enumerate(frames):
        event = rule.observe(observe(n * STEP, {"vehicles": vehicles(xs, label)}))
        if event is not None:
            out.append((n * STEP, event.phase, event.count))
    return out


def rule(**overrides):
    config = VehicleDwellRuleConfig(zone="kerb", min_stationary_s=60, clear_s=30, **overrides)
    return VehicleDwellRule(config, SITE)


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        ([], []),  # empty input
        ([[]] * 10, []),  # no vehicle
        ([[100]] * 6, []),  # parked 50 s: shorter than T (60 s)
        ([[100]] * 8, [(60.0, EventPhase.OPENED, 1)]),  # parked long enough opens at T
        ([[100 + (4 if n % 2 else -4)] for n in range(8)], [(60.0, EventPhase.OPENED, 1)]),  # jitter of a few px is standing still
        ([[20 + 30 * n] for n in range(10)], []),  # a vehicle moving slowly through the zone never opens
        ([[500]] * 10, []),  # parked outside the no-parking zone
        # parked, then leaves: closes once unseen for clear_s (30 s) after its last sighting at 70 s
        ([[100]] * 8 + [[]] * 5, [(60.0, EventPhase.OPENED, 1), (110.0, EventPhase.CLOSED, 1)]),
        # hidden for 20 s (a bus in front) while parking: still one vehicle standing since 0 s
        ([[100]] * 3 + [[]] * 2 + [[100]] * 3, [(60.0, EventPhase.OPENED, 1)]),
        # a second vehicle parks later: an update with two parked
        ([[100]] * 3 + [[100, 250]] * 7, [(60.0, EventPhase.OPENED, 1), (90.0, EventPhase.UPDATED, 2)]),
    ],
)  # fmt: skip
def test_vehicle_dwell(frames, expected):
    assert run(rule(), frames) == expected


def test_creeping_restarts_the_clock():
    # 6 px per 10 s: within max_shift (10 % of 100 px) for a while, then beyond it: the 60 s start again from there
    frames = [[100 + 6 * n] for n in range(12)]
    assert run(rule(), frames) == []


def test_a_van_that_is_car_then_truck_is_one_vehicle_and_other_labels_do_not_count():
    r = rule()
    out = []
    for n in range(8):
        event = r.observe(observe(n * STEP, {"vehicles": vehicles([100], "car" if n % 2 else "truck")}))
        if event is not None:
            out.append((n * STEP, event.phase))
    assert out == [(60.0, EventPhase.OPENED)]
    assert run(rule(), [[100]] * 8, label="person") == []


def test_the_opening_carries_minutes_parked_and_the_evidence():
    r = rule()
    events = [r.observe(observe(n * STEP, {"vehicles": vehicles([100, 600])})) for n in range(13)]
    opened = [e for e in events if e is not None]
    assert len(opened) == 1 and opened[0].phase is EventPhase.OPENED
    assert opened[0].magnitude == 1.0  # minutes
    assert opened[0].evidence is not None and len(opened[0].evidence.detections) == 1  # the one in the zone
