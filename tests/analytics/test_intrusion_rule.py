import pytest

from analytics.events import EventPhase
from analytics.rules.intrusion import IntrusionRule
from analytics.rules.site import RuleSite
from analytics.zones import Zone
from models.config import IntrusionRuleConfig, ZoneConfig
from tests.analytics.helpers import observe, tracked

# The zone: x < 200 of a 640x480 frame. Objects are placed by their bottom-centre x.
SITE = RuleSite({"gate": Zone.from_config("gate", ZoneConfig(polygon=[(0, 0), (200, 0), (200, 480), (0, 480)]))},
                {}, 2.0)  # fmt: skip


def run(rule, frames, label="person", confidence=0.9):
    """One observation per second; each frame lists the bottom-centre x of the objects seen."""
    out = []
    for t, xs in enumerate(frames):
        found = tracked([(-1, x) for x in xs], label, confidence)
        event = rule.observe(observe(float(t), {"people": found}))
        if event is not None:
            out.append((float(t), event.phase, event.count))
    return out


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        ([], []),  # nothing observed
        ([[], [], []], []),  # nobody
        ([[300], [400]], []),  # people outside the zone only
        ([[50]], [(0.0, EventPhase.OPENED, 1)]),  # the rule opens at once; the harness holds it for dwell_s
        # two at once: an update with the new peak; empty for clear_s (3 s) closes
        ([[50], [50, 150], [], [], [], []], [(0.0, EventPhase.OPENED, 1), (1.0, EventPhase.UPDATED, 2),
                                             (5.0, EventPhase.CLOSED, 2)]),
        ([[50], [], [], [60], [], []], [(0.0, EventPhase.OPENED, 1)]),  # a 2 s gap is a missed detection, not an exit
    ],
)  # fmt: skip
def test_intrusion(frames, expected):
    assert run(IntrusionRule(IntrusionRuleConfig(zone="gate", clear_s=3), SITE), frames) == expected


def test_low_confidence_and_other_labels_do_not_intrude():
    rule = IntrusionRule(IntrusionRuleConfig(zone="gate", min_confidence=0.5), SITE)
    assert run(rule, [[50]] * 3, confidence=0.45) == []
    assert run(rule, [[50]] * 3, label="car") == []
    vehicles = IntrusionRule(IntrusionRuleConfig(zone="gate", labels=["car"]), SITE)
    assert run(vehicles, [[50]], label="car") == [(0.0, EventPhase.OPENED, 1)]


def test_the_opening_carries_the_evidence_of_the_intruders():
    rule = IntrusionRule(IntrusionRuleConfig(zone="gate"), SITE)
    event = rule.observe(observe(0.0, {"people": tracked([(-1, 50), (-1, 500)])}))
    assert event is not None and event.evidence is not None
    assert len(event.evidence.detections) == 1 and event.magnitude == 1.0  # the one inside, not the one outside
