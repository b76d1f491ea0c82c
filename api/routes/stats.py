from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import GridTreeDep, NowDep, PrincipalDep, StoreDep
from api.routes.incidents import GridCode, QueryTime, scoped_grid, utc_query
from api.schemas import StatsOut
from models.stats import stats_view

router = APIRouter(tags=["stats"])


@router.get("/stats", response_model=StatsOut)
def incident_stats(
    store: StoreDep,
    tree: GridTreeDep,
    principal: PrincipalDep,
    now: NowDep,
    grid: GridCode | None = None,
    opened_from: Annotated[QueryTime | None, Query(description="Opened at or after (ISO 8601).")] = None,
    opened_to: Annotated[QueryTime | None, Query(description="Opened before (ISO 8601).")] = None,
) -> dict[str, Any]:
    """Counts over the incidents opened in the time range in a grid subtree (the caller's, or a cell within it),
    test incidents left out: by grid cell (each cell's whole subtree), category and status; overdue; the
    false-alarm rate (rejected / decided) overall and per camera and rule; mean time from opening to each step.
    See models/stats.py."""
    root = scoped_grid(principal, tree, grid) or tree.root_code
    opened_from, opened_to = utc_query("opened_from", opened_from), utc_query("opened_to", opened_to)
    counts = store.stats.incident_counts(now, grid_code=root, opened_from=opened_from, opened_to=opened_to)
    return {"grid": root, "opened_from": opened_from, "opened_to": opened_to, "now": now,
            **stats_view(counts, tree, root)}  # fmt: skip
