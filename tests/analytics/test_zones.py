"""Zones and lines: an object is where its bottom-centre point (its feet) is; a line is crossed by a tracked object's
feet changing side."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.zones import Line, Zone, in_zone
from models.config import LineConfig, ZoneConfig
from tests.analytics.helpers import detections, tracked

# The left half of a 640x480 frame.
LEFT = Zone.from_config("left", ZoneConfig(polygon=[(0, 0), (320, 0), (320, 480), (0, 480)]))
# A triangle: the lower-left corner of the frame.
CORNER = Zone.from_config("corner", ZoneConfig(polygon=[(0, 240), (320, 480), (0, 480)]))


@pytest.mark.parametrize(
    ("zone", "boxes", "inside"),
    [
        (LEFT, [], []),  # nothing found: an empty mask
        (LEFT, [(10, 10, 50, 100)], [True]),
        (LEFT, [(400, 10, 440, 100)], [False]),
        # by the feet, not the box: mostly outside (x 300-400), feet at x 350: outside; mostly inside, feet in
        (LEFT, [(300, 10, 400, 100), (200, 10, 330, 100)], [False, True]),
        (CORNER, [(20, 300, 60, 470)], [True]),  # feet at (40, 470): inside the triangle
        (CORNER, [(20, 100, 60, 250)], [False]),  # head inside the corner's bounding box, feet above the diagonal
        (CORNER, [(200, 300, 260, 340)], [False]),  # feet (230, 340) right of the diagonal
    ],
)
def test_a_zone_holds_the_objects_whose_feet_are_inside(zone: Zone, boxes: list, inside: list[bool]) -> None:
    found = detections(boxes, "person")

    assert zone.trigger(found).tolist() == inside
    assert in_zone(found, zone).xyxy.tolist() == [list(map(float, b)) for b, i in zip(boxes, inside, strict=True) if i]


@pytest.mark.parametrize("boxes", [[], [(10, 10, 50, 100), (400, 10, 440, 100)]])
def test_no_zone_is_the_whole_frame(boxes: list) -> None:
    found = detections(boxes, "person")

    assert in_zone(found, None).xyxy.tolist() == [list(map(float, b)) for b in boxes]


def test_a_zone_keeps_its_name_and_polygon() -> None:
    assert (LEFT.name, LEFT.polygon.tolist()) == ("left", [[0, 0], [320, 0], [320, 480], [0, 480]])


# ------------------------------------------------------------------------------------------------------ lines

# Drawn left to right across the middle of the frame: `in` is from below it to above it.
ACROSS = LineConfig(points=[(0, 240), (640, 240)])


def crossings(line: Line, steps: list[list[tuple[int, float, float]]]) -> list[tuple[list[int], list[int]]]:
    """Feed each step's (tracker id, feet x, feet y) objects; per step, the ids that crossed in and out."""
    out = []
    for objects in steps:
        found = tracked([(i, x) for i, x, _ in objects]) if objects else tracked([])
        if objects:  # each object standing on its own y
            ys = np.array([y for _, _, y in objects], dtype=float)
            found.xyxy[:, 1], found.xyxy[:, 3] = ys - 60, ys
        crossed_in, crossed_out = line.trigger(found)
        ids = found.tracker_id.tolist() if found.tracker_id is not None else []
        went_in = [i for i, c in zip(ids, crossed_in, strict=True) if c]
        out.append((went_in, [i for i, c in zip(ids, crossed_out, strict=True) if c]))
    return out


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([], []),  # no frames
        ([[], []], [([], []), ([], [])]),  # frames with nobody
        ([[(1, 100, 400)], [(1, 100, 100)]], [([], []), ([1], [])]),  # below to above: in
        ([[(1, 100, 100)], [(1, 100, 400)]], [([], []), ([], [1])]),  # above to below: out
        ([[(1, 100, 400)], [(1, 120, 380)]], [([], []), ([], [])]),  # moved, stayed below
        # two people cross opposite ways in the same step
        ([[(1, 100, 400), (2, 300, 100)], [(1, 100, 100), (2, 300, 400)]], [([], []), ([1], [2])]),
        # there and back: one in, then one out
        ([[(5, 50, 300)], [(5, 50, 200)], [(5, 50, 300)]], [([], []), ([5], []), ([], [5])]),
    ],
)
def test_a_tracked_object_crosses_when_its_feet_change_side(steps: list, expected: list) -> None:
    assert crossings(Line.from_config("gate", ACROSS), steps) == expected


def test_an_object_first_seen_on_the_other_side_has_not_crossed() -> None:
    """A new tracker id has no side yet: id 2 appearing above the line is not a crossing of id 1's."""
    assert crossings(Line.from_config("gate", ACROSS), [[(1, 100, 400)], [(2, 100, 100)]]) == [([], []), ([], [])]


def test_untracked_objects_never_cross() -> None:
    line = Line.from_config("gate", ACROSS)
    below, above = detections([(90, 340, 110, 400)], "person"), detections([(90, 40, 110, 100)], "person")
    unconfirmed_below, unconfirmed_above = tracked([(-1, 100)], y=400), tracked([(-1, 100)], y=100)

    results = [line.trigger(found) for found in (below, above, unconfirmed_below, unconfirmed_above)]

    assert [(i.tolist(), o.tolist()) for i, o in results] == [([False], [False])] * 4


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([[(1, 50, 100)], [(1, 150, 100)]], ([1], [])),  # left to right through the first segment (x = 100)
        ([[(1, 150, 100)], [(1, 50, 100)]], ([], [1])),  # and back
        ([[(2, 150, 450)], [(2, 260, 350)]], ([2], [])),  # through the second, the diagonal, the same way
        ([[(2, 260, 350)], [(2, 150, 450)]], ([], [2])),
        ([[(3, 50, 400)], [(3, 60, 470)]], ([], [])),  # below the first segment, left of the second: no crossing
    ],
)
def test_a_polyline_is_crossed_on_any_of_its_segments(steps: list, expected: tuple) -> None:
    # A bend: down from the top at x = 100, then diagonally to the bottom (100,0) -> (100,240) -> (300,480).
    bend = Line("bend", np.array([(100, 0), (100, 240), (300, 480)], dtype=float))

    assert crossings(bend, steps) == [([], []), expected]
