"""Scores beside a baseline's: which way is better for each score, and what a tester is told."""

from __future__ import annotations

import json

import pytest

from analytics.replay_baseline import (
    BaselineError,
    Better,
    ScoreChange,
    Verdict,
    compare,
    load_baseline,
    worse,
)


@pytest.mark.parametrize(
    ("better", "baseline", "current", "verdict"),
    [
        (Better.HIGHER, 0.5, 1.0, Verdict.BETTER),  # recall up
        (Better.HIGHER, 1.0, 0.5, Verdict.WORSE),
        (Better.LOWER, 2.0, 1.0, Verdict.BETTER),  # MAE down
        (Better.LOWER, 1.0, 1.0, Verdict.SAME),
        (Better.NEARER_ZERO, 3.0, -1.0, Verdict.BETTER),  # over-counting by 3 -> under by 1
        (Better.NEARER_ZERO, -0.5, 1.0, Verdict.WORSE),
        (Better.LOWER, None, 1.0, Verdict.NEW),
        (Better.HIGHER, 1.0, None, Verdict.GONE),  # e.g. precision undefined now: no incidents at all
    ],
)
def test_verdict_follows_which_way_is_better(better, baseline, current, verdict):
    assert ScoreChange("x", "m", baseline, current, better).verdict is verdict


def scores(precision, recall, mae, bias, clip_mae):
    return {
        "command": "xueliang replay ...",
        "totals": {"fire_smoke": {"precision": precision, "recall": recall, "false_positives": 0, "misses": 0}},
        "counts": {"mae": mae, "mape_pct": 10.0, "bias": bias},
        "clips": [{"clip": "a.mp4", "counts": {"mae": clip_mae, "mape_pct": 10.0, "bias": bias}}],
    }


def test_compare_lists_every_score_and_worse_picks_what_got_worse():
    changes = compare(scores(1.0, 0.5, 1.0, 0.2, 1.0), scores(1.0, 1.0, 2.0, 0.2, 0.5))
    by_name = {(c.scope, c.metric): c for c in changes}
    assert by_name["fire_smoke", "recall"].verdict is Verdict.WORSE
    assert by_name["fire_smoke", "recall"].change == -0.5
    assert by_name["people counts", "mae"].verdict is Verdict.BETTER
    assert by_name["a.mp4", "mae"].verdict is Verdict.WORSE
    assert {(c.scope, c.metric) for c in worse(changes)} == {("fire_smoke", "recall"), ("a.mp4", "mae")}


def test_a_baseline_that_is_not_a_scores_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(BaselineError, match=f"--baseline {path}: not a replay's scores.json"):
        load_baseline(path)
    with pytest.raises(BaselineError, match="cannot read the file"):
        load_baseline(tmp_path / "missing.json")


def test_the_report_says_when_the_pooled_totals_are_over_different_clips():
    from analytics.replay_report import baseline_section

    now = scores(1.0, 1.0, 1.0, 0.2, 1.0)
    now["clips"].append({"clip": "b.mp4", "counts": {"mae": 5.0, "mape_pct": 50.0, "bias": -5.0}})
    text = "\n".join(baseline_section(now, scores(1.0, 1.0, 1.0, 0.2, 1.0)))
    assert "The clip sets differ (new: b.mp4)" in text
    assert "| b.mp4 | mae | — | 5.00 | — | new |" in text
    same = "\n".join(baseline_section(scores(1.0, 1.0, 1.0, 0.2, 1.0), scores(1.0, 1.0, 1.0, 0.2, 1.0)))
    assert "Nothing got worse." in same and "clip sets differ" not in same


def test_a_clip_replayed_as_a_second_camera_is_compared_camera_by_camera():
    """labels `also_as`: vtest is replayed as a counting camera and as a zone/line camera without counts; the
    second is not "gone" from the baseline, and the first keeps its comparison."""
    old = scores(1.0, 1.0, 1.0, 0.2, 1.0)
    old["clips"][0]["camera"] = "counting"
    now = scores(1.0, 1.0, 1.0, 0.2, 2.0)
    now["clips"][0]["camera"] = "counting"
    now["clips"].append({"clip": "a.mp4", "camera": "zones"})  # no counts: this camera runs no crowd rule
    changes = compare(now, old)
    assert {(c.scope, c.metric, c.verdict) for c in worse(changes)} == {("a.mp4 (counting)", "mae", Verdict.WORSE)}
    assert not [c for c in changes if c.scope == "a.mp4 (zones)"]
