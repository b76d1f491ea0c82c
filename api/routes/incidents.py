from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.responses import FileResponse
from pydantic import BeforeValidator

from api import audit
from api.auth import OutsideScope, Principal
from api.cap import CAP_MEDIA_TYPE, cap_alert
from api.deps import AddressDep, ConfigDep, GridTreeDep, JournalDep, NowDep, PrincipalDep, StoreDep, WriterDep
from api.errors import WITH_BODY, errors, invalid
from api.schemas import (
    ConflictOut,
    IncidentDetailOut,
    IncidentPage,
    LifecycleStepOut,
    TransitionIn,
    TransitionOut,
    TransitionResultOut,
)
from models import lifecycle
from models.audit import AuditAction
from models.incident import Incident
from models.repositories.incidents import UnknownIncident
from models.store import Store
from models.views import incident_feature_collection, incident_view, transition_view

router = APIRouter(prefix="/incidents", tags=["incidents"])

GridCode = Annotated[str, Query(pattern=r"^\d{1,32}$", description="Grid cell code; its whole subtree matches.")]
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def iso_time_only(value: Any) -> Any:
    """pydantic reads a number as a Unix time (`opened_to=0.5` was 1970); the OpenAPI says an RFC 3339 time."""
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        raise ValueError("must be an ISO 8601 time with a zone (e.g. 2026-01-01T00:00:00Z), not a number")
    return value


QueryTime = Annotated[datetime, BeforeValidator(iso_time_only)]
GEOJSON_MEDIA_TYPE = "application/geo+json"
NOT_FOUND = errors(404, described={404: "Unknown incident, or one outside the caller's grid subtree"})


@dataclass(frozen=True)
class IncidentQuery:
    """The list filters, the caller's grid subtree applied; `nothing` when they cannot match (a filter outside
    the subtree)."""

    filters: dict[str, Any]
    limit: int
    offset: int
    nothing: bool = False

    def run(self, store: Store) -> tuple[list[Incident], int]:
        if self.nothing:
            return [], 0
        return store.incidents.search(**self.filters, limit=self.limit, offset=self.offset)


def incident_query(
    principal: PrincipalDep,
    tree: GridTreeDep,
    config: ConfigDep,
    grid: GridCode | None = None,
    category: Annotated[str | None, Query(max_length=64, description="Event category code.")] = None,
    status: Annotated[str | None, Query(max_length=32, description="Closed-loop status, e.g. reported.")] = None,
    camera: Annotated[str | None, Query(max_length=64, description="Camera id.")] = None,
    opened_from: Annotated[QueryTime | None, Query(description="Opened at or after (ISO 8601).")] = None,
    opened_to: Annotated[QueryTime | None, Query(description="Opened before (ISO 8601).")] = None,
    include_tests: Annotated[bool, Query(description="Include incidents raised by replays.")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> IncidentQuery:
    grid_code = scoped_grid(principal, tree, grid)
    if category is not None and category not in config.event_categories:
        raise invalid(("query", "category"), f"unknown event category {category!r}")
    filters = {
        "grid_code": grid_code,
        "category_code": category,
        "status": status,
        "camera_id": camera,
        "opened_from": utc_query("opened_from", opened_from),
        "opened_to": utc_query("opened_to", opened_to),
        "include_tests": include_tests,
    }
    return IncidentQuery(filters, limit, offset)


IncidentQueryDep = Annotated[IncidentQuery, Depends(incident_query)]


def scoped_grid(principal: Principal, tree: GridTreeDep, grid: str | None) -> str | None:
    """The grid filter for this caller: `grid` within its subtree (an ancestor narrows to the subtree); 422 for a
    cell that does not exist or that the caller may not see (the two cannot be told apart)."""
    if grid is not None and tree.get(grid) is None:
        raise invalid(("query", "grid"), f"unknown grid cell {grid!r}")
    try:
        return principal.narrow(grid)
    except OutsideScope:
        raise invalid(("query", "grid"), f"unknown grid cell {grid!r}") from None


def utc_query(name: str, value: datetime | None) -> datetime | None:
    """The query time in UTC, as the store compares it; 422 when it has no zone or no UTC equivalent
    (year 1 or 9999 with an offset would otherwise overflow inside the store: a 500)."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise invalid(("query", name), f"{name} needs a time zone (e.g. 2026-01-01T00:00:00Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise invalid(("query", name), f"{name} is out of range once converted to UTC") from None


def visible_incident(store: Store, principal: Principal, incident_id: str) -> Incident:
    """The incident, if the caller may see it; 404 otherwise, whether or not it exists."""
    incident = store.incidents.get(incident_id)
    if incident is None or not principal.sees(incident.grid_code):
        raise HTTPException(404, f"unknown incident {incident_id!r}")
    return incident


@router.get("", response_model=IncidentPage)
def list_incidents(store: StoreDep, query: IncidentQueryDep, now: NowDep) -> dict[str, Any]:
    """Incidents in the caller's grid subtree, newest first, filtered and paginated."""
    items, total = query.run(store)
    return {"items": [incident_view(i, now) for i in items], "total": total, "limit": query.limit,
            "offset": query.offset}  # fmt: skip


@router.get("/geojson", responses={200: {"content": {GEOJSON_MEDIA_TYPE: {}}}})
def incidents_geojson(store: StoreDep, query: IncidentQueryDep, now: NowDep) -> Response:
    """The same incidents as `GET /incidents` (same filters and paging) as a GeoJSON FeatureCollection of points
    at their cameras (null geometry for a camera without coordinates); `total`, `limit`, `offset` ride along."""
    items, total = query.run(store)
    collection = incident_feature_collection(items, now)
    collection.update(total=total, limit=query.limit, offset=query.offset)
    return _json(collection, GEOJSON_MEDIA_TYPE)


@router.get("/lifecycle", response_model=list[LifecycleStepOut])
def lifecycle_steps() -> list[dict[str, Any]]:
    """The closed loop: every step, from which status to which, who may take it, and what it needs."""
    return [
        {
            "action": t.action,
            "label": t.label,
            "source": t.source.value,
            "target": t.target.value,
            "roles": sorted(role.value for role in t.roles),
            "requires": sorted(r.value for r in t.requires),
        }
        for t in lifecycle.TRANSITIONS
    ]


@router.get("/{incident_id}", response_model=IncidentDetailOut, responses=NOT_FOUND)
def get_incident(incident_id: str, store: StoreDep, principal: PrincipalDep, now: NowDep) -> dict[str, Any]:
    incident = visible_incident(store, principal, incident_id)
    view = incident_view(incident, now)
    view["next_statuses"] = lifecycle.next_statuses(incident.status, principal.role)
    return view


@router.get(
    "/{incident_id}/snapshot",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}, **errors(404, described={404: "Unknown incident or no snapshot"})},
)
def get_snapshot(incident_id: str, store: StoreDep, principal: PrincipalDep) -> FileResponse:
    """The evidence JPEG: the frame that best shows the incident, with its detections boxed."""
    incident = visible_incident(store, principal, incident_id)
    if incident.snapshot_path is None or not Path(incident.snapshot_path).is_file():
        raise HTTPException(404, f"incident {incident_id!r} has no snapshot")
    return FileResponse(incident.snapshot_path, media_type="image/jpeg")


@router.get(
    "/{incident_id}/clip.mp4",
    response_class=FileResponse,
    responses={
        200: {"content": {"video/mp4": {}}},
        206: {"description": "The byte range asked for (`Range: bytes=...`)", "content": {"video/mp4": {}}},
        416: {"description": "The range is not satisfiable", "content": {"text/plain": {"schema": {"type": "string"}}}},
        **errors(404, described={404: "Unknown incident or no clip (yet)"}),
    },
)
def get_clip(incident_id: str, store: StoreDep, principal: PrincipalDep) -> FileResponse:
    """The event clip (MP4, H.264 remuxed from the camera's stream): `clips.pre_s` before the opening frame to
    `clips.post_s` after. Honours `Range` (206), so a browser seeks in it."""
    incident = visible_incident(store, principal, incident_id)
    if incident.clip_path is None or not Path(incident.clip_path).is_file():
        raise HTTPException(404, f"incident {incident_id!r} has no clip")
    return FileResponse(incident.clip_path, media_type="video/mp4")


@router.get(
    "/{incident_id}/cap",
    response_class=Response,
    responses={200: {"content": {CAP_MEDIA_TYPE: {}}}, **NOT_FOUND},
)
def get_cap(
    incident_id: str, store: StoreDep, principal: PrincipalDep, config: ConfigDep, tree: GridTreeDep
) -> Response:
    """The incident as an OASIS CAP 1.2 alert (see api/cap.py for how the fields are filled)."""
    incident = visible_incident(store, principal, incident_id)
    category = config.event_categories.get(incident.category_code)
    document = cap_alert(
        incident,
        tree=tree,
        cap_category=category.cap_category if category is not None else "Other",
        sender=config.exports.cap_sender,
        base_url=config.exports.public_base_url,
        radius_km=config.exports.camera_radius_km,
    )
    return Response(document, media_type=CAP_MEDIA_TYPE)


@router.get("/{incident_id}/transitions", response_model=list[TransitionOut], responses=NOT_FOUND)
def list_transitions(incident_id: str, store: StoreDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """The incident's closed-loop history, oldest first: who took each step, when, with what."""
    visible_incident(store, principal, incident_id)
    return [transition_view(t) for t in store.incidents.transitions(incident_id)]


@router.post(
    "/{incident_id}/transitions",
    response_model=TransitionResultOut,
    status_code=201,
    responses=errors(
        403,
        404,
        409,
        described={
            403: "The caller's role may not take this step",
            404: NOT_FOUND[404]["description"],
            409: "No such step from the current status; lists the allowed ones",
            422: "A malformed body, or the step needs a field that was not given (reason, department/staff, note)",
        },
        models={409: ConflictOut},
    )
    | WITH_BODY,
)
def take_step(
    incident_id: str,
    step: TransitionIn,
    store: StoreDep,
    journal: JournalDep,
    principal: WriterDep,
    now: NowDep,
    address: AddressDep,
) -> dict[str, Any]:
    """Move the incident one step along the closed loop (`GET /incidents/lifecycle` lists the steps). The step is
    recorded in the history and pushed on the websocket as `incident.transition`."""
    visible_incident(store, principal, incident_id)
    try:
        result = journal.transition(
            incident_id,
            step.to.value,
            actor=principal.name,
            role=principal.role,
            at=now,
            note=step.note,
            reason=step.reason,
            attachments=step.attachments,
            department=step.department,
            staff=step.staff,
            rating=step.rating,
        )
    except UnknownIncident:
        raise HTTPException(404, f"unknown incident {incident_id!r}") from None
    except lifecycle.IllegalTransition as error:
        raise HTTPException(
            409, {"message": str(error), "status": error.current, "allowed": error.allowed}
        ) from None
    except lifecycle.RoleNotAllowed as error:
        raise HTTPException(403, str(error)) from None
    except lifecycle.MissingFields as error:
        # a step that needs a department or a staff member ("target") names the department field
        field = "department" if error.missing[0] is lifecycle.Requirement.TARGET else error.missing[0].value
        raise invalid(("body", field), str(error)) from None
    step_done = result.transition
    audit.record(
        store,
        AuditAction.INCIDENT_TRANSITION,
        at=now,
        by=principal,
        target=incident_id,
        grid_code=result.incident.grid_code,
        address=address,
        details={"action": step_done.action, "from": step_done.from_status, "to": step_done.to_status},
    )
    return {"incident": incident_view(result.incident, now), "transition": transition_view(result.transition)}


def _json(content: dict[str, Any], media_type: str) -> Response:
    return Response(json.dumps(content, ensure_ascii=False), media_type=media_type)
