"""An incident's sightings by other cameras (one case per situation, analytics/case_merge.py) and their snapshots.
Scoped like the incident: outside the caller's grid subtree it answers 404 as for an unknown one."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from api.deps import PrincipalDep, StoreDep
from api.errors import errors
from api.routes.incidents import NOT_FOUND, visible_incident
from models import sightings
from models.sightings import sighting_view

router = APIRouter(prefix="/incidents", tags=["incidents"])


class SightingOut(BaseModel):
    id: str
    incident_id: str
    camera_id: str = Field(description="Another camera that saw the same situation.")
    camera_name: str
    rule: str
    grid_code: str = Field(description="Where this camera located it.")
    lat: float | None
    lon: float | None
    opened_at: datetime = Field(description="When this camera began to see it.")
    updated_at: datetime
    closed_at: datetime | None = Field(description="When it ended on this camera; null while it still sees it.")
    peak_count: int | None
    peak_confidence: float | None
    snapshot_url: str | None = Field(description="This camera's evidence snapshot.")


@router.get("/{incident_id}/sightings", response_model=list[SightingOut], responses=NOT_FOUND)
def list_sightings(incident_id: str, store: StoreDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """The other cameras that saw this incident's situation (`event_categories.<code>.merge`), first first; the
    incident's own camera is its `camera_id`."""
    visible_incident(store, principal, incident_id)
    with store.database.engine.connect() as connection:
        return [sighting_view(s) for s in sightings.of_incident(connection, incident_id)]


@router.get(
    "/{incident_id}/sightings/{sighting_id}/snapshot",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/jpeg": {}}},
        **errors(404, described={404: "Unknown incident or sighting, or no snapshot"}),
    },
)
def get_sighting_snapshot(incident_id: str, sighting_id: str, store: StoreDep, principal: PrincipalDep) -> FileResponse:
    """The sighting camera's evidence snapshot, its detections boxed."""
    visible_incident(store, principal, incident_id)
    with store.database.engine.connect() as connection:
        sighting = sightings.get(connection, incident_id, sighting_id)
    if sighting is None or sighting.snapshot_path is None or not Path(sighting.snapshot_path).is_file():
        raise HTTPException(404, f"incident {incident_id!r} has no sighting {sighting_id!r} with a snapshot")
    return FileResponse(sighting.snapshot_path, media_type="image/jpeg")
