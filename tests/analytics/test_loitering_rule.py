import pytest

from analytics.events import EventPhase
from analytics.rules.base import RuleState
from analytics.rules.loitering import LoiteringRule
from analytics.rules.site import RuleSite
from analytics.zones import Zone
from models.config import LoiteringRuleConfig, ZoneConfig
from tests.analytics.helpers import observe, tracked

SITE = RuleSite({"bench": Zone.from_config("bench", ZoneConfig(polygon=[(0, 0), (200, 0), (200, 480), (0, 480)]))},
                {}, 2.0)  # fmt: skip
CONFIG = LoiteringRuleConfig(zone="bench", min_total_s=5, window_s=20, max_gap_s=2, clear_s=3)


def run(frames, config=CONFIG):
    """One observation per second; each frame lists (tracker id, bottom-centre x); the zone is x < 200."""
    rule = LoiteringRule(config, SITE)
    out = []
    for t, objects in enumerate(frames):
        event = rule.observe(observe(float(t), {"people": tracked(objects)}))
        if event is not None:
            out.append((float(t), event.phase, event.count))
    return out


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        ([], []),
        ([[]] * 8, []),
        ([[(1, 50)]] * 6, [(5.0, EventPhase.OPENED, 1)]),  # one track in the zone for 5 s
        ([[(1, 50)]] * 5, []),  # 4 s is not enough
        ([[(1, 500)]] * 10, []),  # standing outside the zone
        ([[(-1, 50)]] * 10, []),  # untracked: no one can be timed
        ([[(t // 3, 50)] for t in range(12)], []),  # a new id every 3 s (id switches): nobody adds up to 5 s
        # in the zone 0-2 s, out 3-4 s, back 5-8 s: 0+1+1, then +2 (the gap counts at most max_gap_s), +1: 5 s at 6 s
        ([[(1, 50)], [(1, 50)], [(1, 50)], [(1, 500)], [(1, 500)], [(1, 50)], [(1, 50)]], [(6.0, EventPhase.OPENED, 1)]),
        # a second loiterer updates; nobody in the zone for clear_s (3 s) closes
        ([[(1, 50), (2, 60)]] * 6 + [[]] * 4,
         [(5.0, EventPhase.OPENED, 2), (8.0, EventPhase.CLOSED, 2)]),
    ],
)  # fmt: skip
def test_loitering(frames, expected):
    assert run(frames) == expected


def test_time_outside_the_window_is_forgotten():
    config = LoiteringRuleConfig(zone="bench", min_total_s=4, window_s=5, max_gap_s=1, clear_s=1)
    # 3 s in the zone, 4 s away, 2 s back: never 4 s within 5 s
    frames = [[(1, 50)]] * 4 + [[(1, 500)]] * 4 + [[(1, 50)]] * 3
    assert run(frames, config) == []
    rule = LoiteringRule(config, SITE)
    rule.observe(observe(0.0, {"people": tracked([(1, 50)])}))
    assert rule.state is RuleState.PENDING
    rule.observe(observe(10.0, {"people": tracked([])}))
    assert rule.state is RuleState.IDLE  # its sightings fell out of the window
