"""What `/stats` shows, rolled up from the store's counts: per-subtree counts on the grid, false-alarm rates overall
and per camera and rule, mean time to each step of the loop. Pure: counts are built in memory here (the store's
counting is tested in test_closed_loop_store.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.config import GridConfig
from models.grid import GridTree
from models.stats import FalseAlarms, IncidentCounts, StepTime, grid_rollup, mean_seconds_to, rate, stats_view
from tests.conftest import demo_raw_config

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
GRID_1, GRID_2, YUQUAN = "330106001001001", "330106001001002", "330106002001001"
NO_STEPS = {"filed": None, "rejected": None, "dispatched": None, "handled": None, "checked": None, "closed": None,
            "evaluated": None}  # fmt: skip


@pytest.fixture(scope="module")
def tree() -> GridTree:
    """The demo grid: 西湖区 → 北山街道 (宝石山社区: two grids), 灵隐街道 (玉泉社区: one grid)."""
    return GridConfig.model_validate(demo_raw_config()["grid"]).tree()


def counts(
    by_grid: dict[str, int] | None = None,
    false_alarms: list[FalseAlarms] | None = None,
    *,
    by_category: dict[str, int] | None = None,
    by_status: dict[str, int] | None = None,
    overdue: int = 0,
) -> IncidentCounts:
    return IncidentCounts(
        by_grid=by_grid or {}, by_category=by_category or {}, by_status=by_status or {}, overdue=overdue,
        false_alarms=false_alarms or [], steps=[],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("part", "whole", "expected"), [(0, 0, None), (3, 0, None), (0, 4, 0.0), (1, 4, 0.25), (4, 4, 1.0)]
)
def test_a_rate_of_nothing_decided_is_none_not_zero(part: int, whole: int, expected: float | None) -> None:
    assert rate(part, whole) == expected


@pytest.mark.parametrize(
    ("by_grid", "root", "expected"),
    [
        ({}, "330106", [("330106", 0), ("330106001", 0), ("330106001001", 0), (GRID_1, 0), (GRID_2, 0),
                        ("330106002", 0), ("330106002001", 0), (YUQUAN, 0)]),  # fmt: skip
        # each cell counts its own subtree; tree order, root first
        ({GRID_1: 2, GRID_2: 1, YUQUAN: 4}, "330106", [("330106", 7), ("330106001", 3), ("330106001001", 3),
                                                     (GRID_1, 2), (GRID_2, 1), ("330106002", 4),
                                                     ("330106002001", 4), (YUQUAN, 4)]),  # fmt: skip
        ({GRID_1: 2, GRID_2: 1, YUQUAN: 4}, "330106001", [("330106001", 3), ("330106001001", 3), (GRID_1, 2),
                                                        (GRID_2, 1)]),  # fmt: skip
        ({GRID_1: 2, "330106001": 5}, "330106001001", [("330106001001", 2), (GRID_1, 2), (GRID_2, 0)]),
        ({GRID_1: 2}, "330199", []),  # a code not on the grid: no rows
    ],
)
def test_grid_rollup_counts_each_cell_with_its_subtree(
    tree: GridTree, by_grid: dict[str, int], root: str, expected: list[tuple[str, int]]
) -> None:
    rows = grid_rollup(by_grid, tree, root)

    assert [(row["code"], row["incidents"]) for row in rows] == expected


def test_grid_rollup_rows_name_each_cell_and_its_level(tree: GridTree) -> None:
    rows = grid_rollup({GRID_1: 1}, tree, "330106001001")

    assert [(row["name"], row["level"]) for row in rows] == [
        ("宝石山社区", tree.get("330106001001").level), ("宝石山第一网格", tree.get(GRID_1).level),  # type: ignore[union-attr]
        ("宝石山第二网格", tree.get(GRID_2).level),  # type: ignore[union-attr]
    ]  # fmt: skip


def after(status: str, minutes: float, opened: datetime = T0) -> StepTime:
    return StepTime(status, opened, opened + timedelta(minutes=minutes))


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([], {}),  # nothing reached any step: every mean is None
        ([after("filed", 2)], {"filed": 120.0}),
        ([after("filed", 2), after("filed", 4), after("handled", 60)], {"filed": 180.0, "handled": 3600.0}),
        # from each incident's own opening
        ([after("filed", 1, T0), after("filed", 3, T0 + timedelta(hours=5))], {"filed": 120.0}),
        ([after("reported", 0)], {}),  # reaching `reported` is the opening itself: not a step
    ],
)
def test_mean_time_to_each_step_is_over_the_incidents_that_reached_it(
    steps: list[StepTime], expected: dict[str, float]
) -> None:
    assert mean_seconds_to(steps) == {**NO_STEPS, **expected}


def test_the_false_alarm_rate_is_rejected_over_decided_overall_and_per_camera_rule(tree: GridTree) -> None:
    per_camera_rule = [
        FalseAlarms(camera_id="cam-1", rule="crowd", rejected=1, decided=4),
        FalseAlarms(camera_id="cam-1", rule="intrusion", rejected=0, decided=0),  # none decided yet
        FalseAlarms(camera_id="cam-2", rule="fire_smoke", rejected=3, decided=4),
    ]

    view = stats_view(counts({GRID_1: 9}, per_camera_rule), tree, "330106")

    assert view["false_alarms"] == {"rejected": 4, "decided": 8, "rate": 0.5}
    assert view["false_alarms_by_camera_rule"] == [
        {"camera_id": "cam-1", "rule": "crowd", "rejected": 1, "decided": 4, "rate": 0.25},
        {"camera_id": "cam-1", "rule": "intrusion", "rejected": 0, "decided": 0, "rate": None},
        {"camera_id": "cam-2", "rule": "fire_smoke", "rejected": 3, "decided": 4, "rate": 0.75},
    ]  # the noisy camera's rule stands out, in the store's order


def test_stats_of_nothing(tree: GridTree) -> None:
    view = stats_view(counts(), tree, "330106001001")

    assert view == {
        "total": 0,
        "by_grid": [
            {"code": "330106001001", "name": "宝石山社区", "level": tree.get("330106001001").level, "incidents": 0},  # type: ignore[union-attr]
            {"code": GRID_1, "name": "宝石山第一网格", "level": tree.get(GRID_1).level, "incidents": 0},  # type: ignore[union-attr]
            {"code": GRID_2, "name": "宝石山第二网格", "level": tree.get(GRID_2).level, "incidents": 0},  # type: ignore[union-attr]
        ],
        "by_category": {},
        "by_status": {},
        "overdue": 0,
        "false_alarms": {"rejected": 0, "decided": 0, "rate": None},
        "false_alarms_by_camera_rule": [],
        "mean_seconds_to": NO_STEPS,
    }


def test_stats_view_totals_and_sorts_its_breakdowns(tree: GridTree) -> None:
    view = stats_view(
        counts({GRID_1: 2, YUQUAN: 3}, by_category={"fire_hazard": 1, "crowd_gathering": 4},
               by_status={"reported": 3, "filed": 2}, overdue=2),  # fmt: skip
        tree,
        "330106",
    )

    assert (view["total"], view["overdue"]) == (5, 2)
    assert list(view["by_category"].items()) == [("crowd_gathering", 4), ("fire_hazard", 1)]
    assert list(view["by_status"].items()) == [("filed", 2), ("reported", 3)]
