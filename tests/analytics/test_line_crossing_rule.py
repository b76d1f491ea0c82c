import numpy as np
import pytest

from analytics.events import EventPhase
from analytics.rules.base import LineCount
from analytics.rules.line_crossing import LineCrossingRule
from analytics.rules.site import RuleSite
from analytics.zones import Line
from models.config import LineConfig, LineCrossingRuleConfig
from tests.analytics.helpers import observe, tracked

# A vertical line at x = 100, drawn top to bottom: `in` is left to right in the image.
GATE = LineConfig(points=[(100, 0), (100, 480)])


def run(frames, forbidden="in", clear_s=3.0):
    """One observation per second; each frame lists (tracker id, bottom-centre x)."""
    rule = LineCrossingRule(LineCrossingRuleConfig(line="gate", forbidden=forbidden, clear_s=clear_s),
                            RuleSite({}, {"gate": Line.from_config("gate", GATE)}, 2.0))  # fmt: skip
    events = []
    for t, objects in enumerate(frames):
        event = rule.observe(observe(float(t), {"people": tracked(objects)}))
        if event is not None:
            events.append((float(t), event.phase, event.count))
    return events, rule.take_line_counts(), rule


RIGHT = [[(1, 50)], [(1, 150)]]  # one walker, left to right
LEFT = [[(1, 150)], [(1, 50)]]


@pytest.mark.parametrize(
    ("frames", "forbidden", "events", "counts"),
    [
        ([], "in", [], []),
        ([[(1, 50)], [(1, 60)], [(1, 90)]], "in", [], []),  # approaching, never across
        (RIGHT, "in", [(1.0, EventPhase.OPENED, 1)], [LineCount(line="gate", crossed_in=1, crossed_out=0)]),
        (RIGHT, "out", [], [LineCount(line="gate", crossed_in=1, crossed_out=0)]),  # allowed direction: counted, no incident
        (LEFT, "out", [(1.0, EventPhase.OPENED, 1)], [LineCount(line="gate", crossed_in=0, crossed_out=1)]),
        (LEFT, "none", [], [LineCount(line="gate", crossed_in=0, crossed_out=1)]),
        (LEFT + [[(1, 150)]], "both", [(1.0, EventPhase.OPENED, 1), (2.0, EventPhase.UPDATED, 2)],
         [LineCount(line="gate", crossed_in=1, crossed_out=1)]),
        ([[(-1, 50)], [(-1, 150)]], "in", [], []),  # untracked boxes never cross
        ([[(1, 50)], [(2, 150)]], "in", [], []),  # an id switch on the line loses the crossing
        # two walkers cross one after the other; no crossing for clear_s closes
        ([[(1, 50), (2, 20)], [(1, 150), (2, 60)], [(2, 120)], [], [], [], []], "in",
         [(1.0, EventPhase.OPENED, 1), (2.0, EventPhase.UPDATED, 2), (5.0, EventPhase.CLOSED, 2)],
         [LineCount(line="gate", crossed_in=2, crossed_out=0)]),
    ],
)  # fmt: skip
def test_line_crossing(frames, forbidden, events, counts):
    found, taken, _ = run(frames, forbidden)
    assert found == events
    assert taken == counts


def test_counts_are_taken_once_and_kept_in_total():
    _, taken, rule = run(RIGHT)
    assert taken == [LineCount(line="gate", crossed_in=1, crossed_out=0)] and rule.take_line_counts() == []  # taken: not given again
    assert (rule.crossed_in, rule.crossed_out) == (1, 0)


def test_a_polyline_counts_a_crossing_of_any_segment():
    line = Line("bend", np.array([(100, 0), (100, 240), (300, 480)], dtype=float))
    found = tracked([(1, 50)], y=200)
    assert not line.trigger(found)[0].any()
    crossed_in, _ = line.trigger(tracked([(1, 150)], y=200))
    assert crossed_in.tolist() == [True]
