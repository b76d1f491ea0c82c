import pytest

from analytics.events import EventPhase
from analytics.rules.base import RuleState
from analytics.rules.fire_smoke_rule import FireSmokeRule
from models.config import FireSmokeRuleConfig
from tests.analytics.helpers import HEIGHT, WIDTH, detections, observe

CONFIG = FireSmokeRuleConfig(min_confidence=0.5, min_box_area=0.01, window_frames=5, min_hits=3, clear_frames=4)
BIG = (100, 100, 200, 200)  # 10000 px = 3.3% of 640x480
TINY = (100, 100, 110, 110)  # 100 px = 0.03%: below min_box_area


def fire(confidence=0.8, box=BIG, label="fire"):
    return {"fire_smoke": detections([box], label, confidence)}


def run(rule, pattern, **kw):
    """pattern: a string, one char per analysed frame: 'x' hit, '.' nothing."""
    out = []
    for t, c in enumerate(pattern):
        event = rule.observe(observe(float(t), fire(**kw) if c == "x" else {}))
        if event is not None:
            out.append((t, event.phase))
    return out


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("", []),
        ("x", []),  # a single frame never opens (glare, emergency lights)
        ("x.x.", []),  # 2 of 5
        ("xx.x", [(3, EventPhase.OPENED)]),  # 3 of the last 5
        ("x...x...x", []),  # hits too sparse for the window
        ("xxx...", [(2, EventPhase.OPENED)]),  # not yet 4 misses
        ("xxx....", [(2, EventPhase.OPENED), (6, EventPhase.CLOSED)]),  # 4 frames clear closes
        ("xxx...x...xxx", [(2, EventPhase.OPENED)]),  # a hit resets the clear count
        ("xxx....xxx", [(2, EventPhase.OPENED), (6, EventPhase.CLOSED), (9, EventPhase.OPENED)]),
    ],
)
def test_k_of_n_persistence(pattern, expected):
    assert run(FireSmokeRule(CONFIG), pattern) == expected


@pytest.mark.parametrize(
    ("kw", "opens"),
    [
        ({"confidence": 0.45}, False),  # below min_confidence
        ({"box": TINY}, False),  # below min_box_area
        ({"label": "person"}, False),  # not fire or smoke
        ({"label": "smoke"}, True),
        ({}, True),
    ],
)
def test_what_counts_as_a_hit(kw, opens):
    assert bool(run(FireSmokeRule(CONFIG), "xxxx", **kw)) is opens


def test_smoke_only_when_configured_for_fire_only():
    rule = FireSmokeRule(FireSmokeRuleConfig(labels=["fire"], window_frames=3, min_hits=2))
    assert run(rule, "xxx", label="smoke") == []


def test_updates_when_fire_grows_and_reports_area_magnitude():
    rule = FireSmokeRule(CONFIG)
    sizes = [BIG] * 3 + [(0, 0, 320, 240)]  # the last box is 25% of the frame
    events = [rule.observe(observe(float(t), fire(box=b))) for t, b in enumerate(sizes)]
    opened, updated = events[2], events[3]
    assert opened is not None and opened.phase is EventPhase.OPENED
    assert opened.magnitude == pytest.approx(100 * 10000 / (WIDTH * HEIGHT), abs=1e-3)
    assert updated is not None and updated.phase is EventPhase.UPDATED and updated.magnitude == pytest.approx(25.0)
    assert rule.state is RuleState.OPEN


def test_evidence_is_the_most_confident_frame():
    rule = FireSmokeRule(CONFIG)
    for t, conf in enumerate([0.6, 0.9, 0.7]):
        event = rule.observe(observe(float(t), fire(confidence=conf)))
    assert event is not None and event.confidence == 0.9
    assert event.evidence is not None and event.evidence.frame.timestamp == 1.0
