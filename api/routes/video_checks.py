"""An incident's video checks of closures (视频核查, analytics/video_check.py): the outcomes, after snapshots and
after clips. Scoped like the incident: outside the caller's grid subtree it answers 404 as for an unknown one."""

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
from models import video_checks
from models.video_checks import VideoCheck, check_view

router = APIRouter(prefix="/incidents", tags=["incidents"])

CHECK_NOT_FOUND = errors(404, described={404: "Unknown incident or check, or no such file (yet)"})


class VideoCheckOut(BaseModel):
    id: str
    incident_id: str
    camera_id: str = Field(description="The camera that re-examined the scene (the one that raised the incident).")
    rule: str = Field(description="The rule it watched.")
    started_at: datetime = Field(description="When it began watching, after the handled step.")
    decided_at: datetime = Field(description="The end of its window (`cameras.<id>.video_check.duration_s`).")
    outcome: str = Field(description="passed, failed (the situation was still seen) or no_video (camera down).")
    step: str | None = Field(
        description="The status it moved the incident to: checked (passed), dispatched (failed: sent back); "
        "null when no step was taken (no video, or someone took a step first)."
    )
    note: str = Field(description="What the check says, as recorded on the step.")
    snapshot_url: str | None = Field(description="The after snapshot (JPEG): the last frame it analysed.")
    clip_url: str | None = Field(description="The after clip (MP4): the end of its window.")


def _check(store: StoreDep, principal: PrincipalDep, incident_id: str, check_id: str) -> VideoCheck:
    visible_incident(store, principal, incident_id)
    with store.database.engine.connect() as connection:
        check = video_checks.get(connection, incident_id, check_id)
    if check is None:
        raise HTTPException(404, f"incident {incident_id!r} has no video check {check_id!r}")
    return check


@router.get("/{incident_id}/video-checks", response_model=list[VideoCheckOut], responses=NOT_FOUND)
def list_video_checks(incident_id: str, store: StoreDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """The incident's video checks, oldest first: each time it was reported handled on a camera with
    `video_check` enabled, what the camera saw afterwards."""
    visible_incident(store, principal, incident_id)
    with store.database.engine.connect() as connection:
        return [check_view(check) for check in video_checks.of_incident(connection, incident_id)]


@router.get(
    "/{incident_id}/video-checks/{check_id}/snapshot",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}, **CHECK_NOT_FOUND},
)
def get_video_check_snapshot(incident_id: str, check_id: str, store: StoreDep, principal: PrincipalDep) -> FileResponse:
    """The after snapshot: the last frame the check analysed, the rule's zone and detections drawn."""
    check = _check(store, principal, incident_id, check_id)
    if check.snapshot_path is None or not Path(check.snapshot_path).is_file():
        raise HTTPException(404, f"video check {check_id!r} has no snapshot")
    return FileResponse(check.snapshot_path, media_type="image/jpeg")


@router.get(
    "/{incident_id}/video-checks/{check_id}/clip.mp4",
    response_class=FileResponse,
    responses={
        200: {"content": {"video/mp4": {}}},
        206: {"description": "The byte range asked for (`Range: bytes=...`)", "content": {"video/mp4": {}}},
        416: {"description": "The range is not satisfiable", "content": {"text/plain": {"schema": {"type": "string"}}}},
        **CHECK_NOT_FOUND,
    },
)
def get_video_check_clip(incident_id: str, check_id: str, store: StoreDep, principal: PrincipalDep) -> FileResponse:
    """The after clip: the last `clips.pre_s + clips.post_s` seconds of the check's window. Honours `Range`."""
    check = _check(store, principal, incident_id, check_id)
    if check.clip_path is None or not Path(check.clip_path).is_file():
        raise HTTPException(404, f"video check {check_id!r} has no clip")
    return FileResponse(check.clip_path, media_type="video/mp4")
