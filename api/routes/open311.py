"""Open311 GeoReport v2 (read-only): services are event categories, requests are incidents. See api/open311.py."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.deps import ConfigDep, GridTreeDep, PrincipalDep, StoreDep
from api.errors import errors, invalid
from api.open311 import OPEN311_CLOSED_STATUSES, OPEN311_OPEN_STATUSES, open311_request, open311_service
from api.routes.incidents import GridCode, QueryTime, scoped_grid, utc_query, visible_incident
from api.schemas import Open311RequestOut, Open311ServiceOut

router = APIRouter(prefix="/open311/v2", tags=["open311"])


@router.get("/services.json", response_model=list[Open311ServiceOut])
def services(config: ConfigDep) -> list[dict[str, Any]]:
    """The event categories as Open311 services."""
    return [open311_service(code, category) for code, category in config.event_categories.items()]


@router.get("/requests.json", response_model=list[Open311RequestOut])
def requests(
    store: StoreDep,
    config: ConfigDep,
    tree: GridTreeDep,
    principal: PrincipalDep,
    service_request_id: Annotated[
        str | None, Query(max_length=4000, description="Comma-separated request ids; other filters are ignored.")
    ] = None,
    service_code: Annotated[str | None, Query(max_length=64, description="An event category code.")] = None,
    start_date: Annotated[QueryTime | None, Query(description="Requested (opened) at or after.")] = None,
    end_date: Annotated[QueryTime | None, Query(description="Requested (opened) before.")] = None,
    status: Annotated[Literal["open", "closed"] | None, Query(description="open or closed.")] = None,
    grid: GridCode | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[dict[str, Any]]:
    """Incidents in the caller's grid subtree as Open311 service requests, newest first."""
    base_url = config.exports.public_base_url
    grid_code = scoped_grid(principal, tree, grid)
    if service_request_id is not None:
        ids = [i for i in (part.strip() for part in service_request_id.split(",")) if i][:500]
        items, _ = store.incidents.search(grid_code=grid_code, ids=ids, include_tests=True, limit=500)
        return [open311_request(i, base_url) for i in items]
    if service_code is not None and service_code not in config.event_categories:
        raise invalid(("query", "service_code"), f"unknown service_code {service_code!r}")
    statuses = {"open": OPEN311_OPEN_STATUSES, "closed": OPEN311_CLOSED_STATUSES}.get(status or "")
    items, _ = store.incidents.search(
        grid_code=grid_code,
        category_code=service_code,
        opened_from=utc_query("start_date", start_date),
        opened_to=utc_query("end_date", end_date),
        statuses=statuses,
        limit=limit,
        offset=offset,
    )
    return [open311_request(i, base_url) for i in items]


@router.get(
    "/requests/{service_request_id}.json",
    response_model=list[Open311RequestOut],
    responses=errors(404, described={404: "Unknown request, or one outside the caller's grid subtree"}),
)
def request(
    service_request_id: str, store: StoreDep, config: ConfigDep, principal: PrincipalDep
) -> list[dict[str, Any]]:
    """One service request (a list of one, as GeoReport v2 answers)."""
    incident = visible_incident(store, principal, service_request_id)
    return [open311_request(incident, config.exports.public_base_url)]
