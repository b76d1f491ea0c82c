"""The scoring arithmetic on hand-made cases: no clip, no model."""

from __future__ import annotations

import pytest

from analytics.scoring import (
    CountLabel,
    CountSample,
    DetectedEvent,
    LabelledEvent,
    combine_count_scores,
    combine_event_scores,
    matches,
    overlaps,
    score_counts,
    score_events,
)

FIRE, CROWD = "fire_smoke", "crowd"


def fire(start: float, end: float, zone: str | None = None) -> LabelledEvent:
    return LabelledEvent(FIRE, start, end, zone)


def incident(start: float, end: float, kind: str = FIRE, zone: str | None = None) -> DetectedEvent:
    return DetectedEvent(kind, start, end, zone)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 5), (6, 9), False),  # apart
        ((0, 5), (5, 9), True),  # touching counts
        ((0, 5), (2, 3), True),  # inside
        ((2, 3), (0, 5), True),  # around
        ((4, 4), (4, 4), True),  # two instants, the same
        ((4, 4), (4.01, 9), False),
    ],
)
def test_overlaps_closed_intervals(a, b, expected):
    assert overlaps(*a, *b) is expected
    assert overlaps(*b, *a) is expected


@pytest.mark.parametrize(
    ("label", "detected", "expected"),
    [
        (fire(0, 5), incident(3, 8), True),
        (fire(0, 5), incident(3, 8, kind=CROWD), False),  # another type never matches
        (fire(0, 5, zone="yard"), incident(3, 8, zone="yard"), True),
        (fire(0, 5, zone="yard"), incident(3, 8, zone="gate"), False),
        (fire(0, 5, zone="yard"), incident(3, 8), True),  # a rule watching the whole frame matches any zone
        (fire(0, 5), incident(3, 8, zone="gate"), True),
    ],
)
def test_matches_needs_type_zone_and_overlap(label, detected, expected):
    assert matches(label, detected) is expected


# (labels, detected, footage_s) -> (labelled, detected, true, false, hits, misses, precision, recall, delays, per hour)
EVENT_CASES = [
    pytest.param([], [], 60.0, (0, 0, 0, 0, 0, 0, None, None, (), 0.0), id="empty"),
    pytest.param([], [], 0.0, (0, 0, 0, 0, 0, 0, None, None, (), None), id="empty-no-footage"),
    pytest.param([fire(2, 10)], [], 60.0, (1, 0, 0, 0, 0, 1, None, 0.0, (), 0.0), id="all-miss"),
    pytest.param(
        [fire(2, 10), fire(30, 40)], [incident(3, 12), incident(31, 35)], 60.0,
        (2, 2, 2, 0, 2, 0, 1.0, 1.0, (1.0, 1.0), 0.0), id="all-hit",
    ),
    pytest.param(
        [], [incident(1, 2), incident(5, 6)], 3600.0, (0, 2, 0, 2, 0, 0, 0.0, None, (), 2.0), id="all-false",
    ),
    pytest.param(
        [fire(10, 20)], [incident(5, 12)], 60.0, (1, 1, 1, 0, 1, 0, 1.0, 1.0, (-5.0,), 0.0),
        id="opened-before-onset-negative-delay",
    ),
    pytest.param(
        [fire(10, 20)], [incident(12, 14), incident(16, 25)], 60.0,
        (1, 2, 2, 0, 1, 0, 1.0, 1.0, (2.0,), 0.0), id="two-fragments-on-one-label",
    ),
    pytest.param(
        [fire(0, 10), fire(8, 20)], [incident(9, 9.5)], 60.0,
        (2, 1, 1, 0, 2, 0, 1.0, 1.0, (9.0, 1.0), 0.0), id="overlapping-labels-one-incident",
    ),
    pytest.param(
        [fire(10, 20)], [incident(0, 5), incident(12, 30), incident(40, 50)], 1800.0,
        (1, 3, 1, 2, 1, 0, 1 / 3, 1.0, (2.0,), 4.0), id="hit-and-false-alarms",
    ),
    pytest.param(
        [fire(10, 20), LabelledEvent(CROWD, 0, 60)], [incident(11, 12)], 60.0,
        (2, 1, 1, 0, 1, 1, 1.0, 0.5, (1.0,), 0.0), id="types-pooled-when-no-type",
    ),
]


@pytest.mark.parametrize(("labels", "detected", "footage_s", "expected"), EVENT_CASES)
def test_score_events(labels, detected, footage_s, expected):
    score = score_events(labels, detected, footage_s)
    labelled, n_detected, true, false, hits, misses, precision, recall, delays, per_hour = expected
    assert (score.labelled, score.detected, score.true_positives, score.false_positives) == (
        labelled, n_detected, true, false,
    )  # fmt: skip
    assert (score.hits, score.misses) == (hits, misses)
    assert score.precision == pytest.approx(precision) if precision is not None else score.precision is None
    assert score.recall == pytest.approx(recall) if recall is not None else score.recall is None
    assert score.delays == pytest.approx(delays)
    assert score.false_per_hour == pytest.approx(per_hour) if per_hour is not None else score.false_per_hour is None


def test_score_events_of_one_type_leaves_the_others_out():
    labels = [fire(10, 20), LabelledEvent(CROWD, 0, 60)]
    detected = [incident(11, 12), incident(30, 31, kind=CROWD), incident(50, 51)]
    by_fire = score_events(labels, detected, 60.0, type=FIRE)
    by_crowd = score_events(labels, detected, 60.0, type=CROWD)
    assert (by_fire.labelled, by_fire.detected, by_fire.true_positives, by_fire.hits) == (1, 2, 1, 1)
    assert (by_crowd.labelled, by_crowd.detected, by_crowd.true_positives, by_crowd.hits) == (1, 1, 1, 1)
    assert by_crowd.delays == (30.0,)


def test_delay_and_summary_statistics():
    score = score_events([fire(0, 10), fire(20, 30), fire(40, 50)], [incident(1, 5), incident(23, 25), incident(48, 60)], 60)
    assert score.delays == (1.0, 3.0, 8.0)
    assert score.mean_delay_s == pytest.approx(4.0)
    assert score.median_delay_s == 3.0 and score.max_delay_s == 8.0
    assert score.f1 == 1.0
    assert score.as_dict()["delays_s"] == [1.0, 3.0, 8.0]


def test_combined_scores_pool_counts_and_footage():
    one = score_events([fire(0, 10)], [incident(2, 4), incident(30, 31)], 1800.0)
    two = score_events([fire(5, 9)], [], 1800.0)
    both = combine_event_scores([one, two], type=FIRE)
    assert (both.labelled, both.detected, both.true_positives, both.hits) == (2, 2, 1, 1)
    assert both.precision == 0.5 and both.recall == 0.5
    assert both.false_per_hour == pytest.approx(1.0)  # one false incident in an hour of footage
    assert both.delays == (2.0,)
    assert combine_event_scores([]).precision is None


def test_invalid_intervals_and_footage_are_errors():
    with pytest.raises(ValueError, match="before it starts"):
        LabelledEvent(FIRE, 5, 4)
    with pytest.raises(ValueError, match="before it starts"):
        DetectedEvent(FIRE, 5, 4)
    with pytest.raises(ValueError, match="footage_s"):
        score_events([], [], -1)
    with pytest.raises(ValueError, match="tolerance_s"):
        score_counts([], [], -0.1)


# (labels, samples, tolerance) -> (compared, unmatched, mae, mape %, errors)
COUNT_CASES = [
    pytest.param([], [], 0.5, (0, 0, None, None, []), id="empty"),
    pytest.param([CountLabel(5, 6)], [], 0.5, (0, 1, None, None, [None]), id="no-samples"),
    pytest.param(
        [CountLabel(5, 6), CountLabel(10, 4)], [CountSample(5, 6), CountSample(10, 4)], 0.5,
        (2, 0, 0.0, 0.0, [0, 0]), id="exact",
    ),
    pytest.param(
        [CountLabel(5, 10), CountLabel(10, 4)], [CountSample(5, 8), CountSample(10, 6)], 0.5,
        (2, 0, 2.0, 35.0, [-2, 2]), id="errors-both-ways",
    ),
    pytest.param(
        [CountLabel(5, 0), CountLabel(10, 5)], [CountSample(5, 2), CountSample(10, 4)], 0.5,
        (2, 0, 1.5, 20.0, [2, -1]), id="zero-label-left-out-of-mape-only",
    ),
    pytest.param(
        [CountLabel(5, 6)], [CountSample(4, 1), CountSample(5.4, 6), CountSample(6, 9)], 0.5,
        (1, 0, 0.0, 0.0, [0]), id="nearest-sample",
    ),
    pytest.param([CountLabel(5, 6)], [CountSample(4, 6), CountSample(6, 6)], 0.5, (0, 1, None, None, [None]),
                 id="no-sample-within-tolerance"),  # fmt: skip
    pytest.param([CountLabel(5, 6)], [CountSample(4.5, 3), CountSample(5.5, 9)], 0.5, (1, 0, 3.0, 50.0, [-3]),
                 id="tie-takes-the-earlier"),  # fmt: skip
]


@pytest.mark.parametrize(("labels", "samples", "tolerance", "expected"), COUNT_CASES)
def test_score_counts(labels, samples, tolerance, expected):
    score = score_counts(labels, samples, tolerance)
    compared, unmatched, mae, mape, errors = expected
    assert len(score.compared) == compared and score.unmatched == unmatched
    assert score.mae == pytest.approx(mae) if mae is not None else score.mae is None
    assert score.mape == pytest.approx(mape) if mape is not None else score.mape is None
    assert [p.error for p in score.pairs] == errors


def test_count_bias_and_pooling():
    one = score_counts([CountLabel(1, 4)], [CountSample(1, 6)], 0.5)
    two = score_counts([CountLabel(1, 10), CountLabel(2, 5)], [CountSample(1, 9), CountSample(2, 5)], 0.5)
    pooled = combine_count_scores([one, two])
    assert pooled.mae == pytest.approx(1.0) and pooled.bias == pytest.approx(1 / 3)
    assert pooled.mape == pytest.approx(100 * (0.5 + 0.1 + 0.0) / 3)
    assert pooled.as_dict()["compared"] == 3
