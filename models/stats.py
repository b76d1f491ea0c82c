"""Statistics over incidents: what `/stats` shows. The store counts (`IncidentStats.incident_counts`); this rolls up.

- counts by grid cell are per subtree: a street counts every incident in its communities and grids;
- the false-alarm rate is rejected / decided, where decided means the incident left `reported` (filed or rejected);
  it is given overall and per camera and rule, so a camera's noisy rule stands out;
- mean time to each step is from the incident's opening (the camera saw it) to the first time it reached that
  status, over the incidents that reached it;
- overdue counts the incidents whose deadline passed before they were resolved (or still unresolved).
Test incidents are never counted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.grid import GridTree
from models.lifecycle import LoopStatus


@dataclass(frozen=True)
class StepTime:
    status: str
    opened_at: datetime
    first_at: datetime


@dataclass(frozen=True, kw_only=True)
class FalseAlarms:
    """One camera's rule: of its incidents decided (filed or rejected), how many were rejected as false alarms."""

    camera_id: str
    rule: str
    rejected: int
    decided: int

    @property
    def rate(self) -> float | None:
        return rate(self.rejected, self.decided)


@dataclass(frozen=True)
class IncidentCounts:
    by_grid: dict[str, int]  # by the incident's own cell
    by_category: dict[str, int]
    by_status: dict[str, int]
    overdue: int
    false_alarms: list[FalseAlarms]  # per camera and rule, ordered by camera then rule
    steps: list[StepTime]  # one per incident and status reached: the first time it got there

    @property
    def total(self) -> int:
        return sum(self.by_grid.values())


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def grid_rollup(counts: dict[str, int], tree: GridTree, root: str) -> list[dict[str, Any]]:
    """Every cell of `root`'s subtree with the incidents in its own subtree, in tree order (root first)."""
    rows = []

    def walk(code: str) -> None:
        cell = tree.get(code)
        if cell is None:
            return
        total = sum(n for grid_code, n in counts.items() if grid_code.startswith(code))
        rows.append({"code": cell.code, "name": cell.name, "level": cell.level, "incidents": total})
        for child in cell.children:
            walk(child)

    walk(root)
    return rows


def mean_seconds_to(steps: list[StepTime]) -> dict[str, float | None]:
    """Per status of the loop (not `reported`): mean seconds from opening to first reaching it; None if none did."""
    spans: dict[str, list[float]] = defaultdict(list)
    for step in steps:
        spans[step.status].append((step.first_at - step.opened_at).total_seconds())
    return {
        status.value: (sum(spans[status.value]) / len(spans[status.value]) if spans[status.value] else None)
        for status in LoopStatus
        if status is not LoopStatus.REPORTED
    }


def stats_view(counts: IncidentCounts, tree: GridTree, root: str) -> dict[str, Any]:
    rejected = sum(one.rejected for one in counts.false_alarms)
    decided = sum(one.decided for one in counts.false_alarms)
    return {
        "total": counts.total,
        "by_grid": grid_rollup(counts.by_grid, tree, root),
        "by_category": dict(sorted(counts.by_category.items())),
        "by_status": dict(sorted(counts.by_status.items())),
        "overdue": counts.overdue,
        "false_alarms": {"rejected": rejected, "decided": decided, "rate": rate(rejected, decided)},
        "false_alarms_by_camera_rule": [
            {
                "camera_id": one.camera_id,
                "rule": one.rule,
                "rejected": one.rejected,
                "decided": one.decided,
                "rate": one.rate,
            }
            for one in counts.false_alarms
        ],
        "mean_seconds_to": mean_seconds_to(counts.steps),
    }
