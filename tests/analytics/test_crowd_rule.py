import pytest

from analytics.events import EventPhase
from analytics.rules.base import RuleState
from analytics.rules.crowd_rule import CrowdRule
from analytics.zones import Zone
from models.config import CrowdRuleConfig, ZoneConfig
from tests.analytics.helpers import observe, people

CONFIG = CrowdRuleConfig(min_people=5, open_after_s=3, hysteresis=2, close_after_s=4, min_confidence=0.5)


def run(rule, counts, step=1.0, confidence=0.9):
    """Feed one observation per second with the given people counts; return (time, phase, count) of events."""
    out = []
    for i, count in enumerate(counts):
        event = rule.observe(observe(i * step, {"people": people(count, confidence)}))
        if event is not None:
            out.append((i * step, event.phase, event.count))
    return out


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([], []),  # no observations, no events
        ([9, 9, 9], []),  # a crowd for only 2 s is not yet an incident
        ([5, 5, 5, 5], [(3.0, EventPhase.OPENED, 5)]),  # N for T s opens
        ([5, 5, 4, 5, 5, 5], []),  # the count dipped below N: persistence starts over
        ([4, 4, 4, 4, 4, 4], []),  # never N
        ([5, 6, 5, 5, 8, 7], [(3.0, EventPhase.OPENED, 6), (4.0, EventPhase.UPDATED, 8)]),  # peak grows: update
        # Open, then below N - h (=3) for T_end (4 s) closes; 3 people (not below N - h) keeps it open.
        ([5, 5, 5, 5, 3, 3, 2, 2, 2, 2, 2], [(3.0, EventPhase.OPENED, 5), (10.0, EventPhase.CLOSED, 5)]),
        ([5, 5, 5, 5, 2, 2, 4, 2, 2, 2], [(3.0, EventPhase.OPENED, 5)]),  # back above N - h resets the end timer
    ],
)
def test_crowd_rule_persistence(counts, expected):
    assert run(CrowdRule(CONFIG), counts) == expected


def test_crowd_reopens_after_close():
    rule = CrowdRule(CrowdRuleConfig(min_people=2, open_after_s=0, hysteresis=0, close_after_s=0))
    phases = [e[1] for e in run(rule, [2, 0, 2])]
    assert phases == [EventPhase.OPENED, EventPhase.CLOSED, EventPhase.OPENED]


def test_low_confidence_people_are_not_counted():
    rule = CrowdRule(CONFIG)
    assert run(rule, [9] * 6, confidence=0.4) == []
    assert rule.state is RuleState.IDLE


def test_only_people_in_the_zone_count():
    # Zone: the left half of the image; people() puts boxes from x=10 to x=30*count, bottom at y=300.
    zone = Zone.from_config("left", ZoneConfig(polygon=[(0, 0), (100, 0), (100, 480), (0, 480)]))
    rule = CrowdRule(CrowdRuleConfig(min_people=4, open_after_s=0), zone)
    # 8 people, but only those with bottom-centre x < 100 (the first 3) are in the zone.
    assert rule.observe(observe(0, {"people": people(8)})) is None
    rule_all = CrowdRule(CrowdRuleConfig(min_people=4, open_after_s=0))
    event = rule_all.observe(observe(0, {"people": people(8)}))
    assert event is not None and event.count == 8


def test_no_frame_changes_nothing():
    rule = CrowdRule(CONFIG)
    for t in range(3):
        rule.observe(observe(t, {"people": people(6)}))
    assert rule.state is RuleState.PENDING
    assert rule.observe(observe(3, with_frame=False)) is None
    assert rule.state is RuleState.PENDING


def test_event_carries_peak_evidence_and_magnitude():
    rule = CrowdRule(CrowdRuleConfig(min_people=3, open_after_s=2))
    events = [rule.observe(observe(t, {"people": people(c)})) for t, c in enumerate([3, 7, 4])]
    opened = events[-1]
    assert opened is not None and opened.phase is EventPhase.OPENED
    assert opened.count == 7 and opened.magnitude == 7.0
    assert opened.evidence is not None and len(opened.evidence.detections) == 7
    assert opened.evidence.frame.timestamp == 1.0  # the frame with the peak, not the last one
