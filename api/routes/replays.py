"""Replays through the running service: submit a clip on the server as a virtual test camera based on a configured
camera, watch its progress, read its incidents (also pushed on the websocket, marked `is_test`). See
analytics/replay_service.py. Admins and operators submit and cancel, within their grid subtree; every
authenticated caller reads the replays of cameras it can see."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from analytics.replay import ReplayInputError, parse_speed
from analytics.replay_service import ReplayJob, ReplayQueueFullError, ReplayService
from api.auth import Principal
from api.deps import ConfigDep, PrincipalDep, ReplaysDep, StoreDep
from api.errors import WITH_BODY, errors, invalid
from api.schemas import IncidentOut, InputModel
from models.lifecycle import Role
from models.store import Store
from models.views import incident_view

router = APIRouter(prefix="/replays", tags=["replays"])

SUBMITTING_ROLES = frozenset({Role.ADMIN, Role.OPERATOR})
UNKNOWN_REPLAY = errors(404, described={404: "Unknown replay, or one of a camera outside the caller's grid subtree"})


def require_submitter(principal: PrincipalDep) -> Principal:
    if principal.role not in SUBMITTING_ROLES:
        raise HTTPException(403, f"a {principal.role.value} may not run replays")
    return principal


SubmitterDep = Annotated[Principal, Depends(require_submitter)]


class ReplayIn(InputModel):
    clip: str = Field(min_length=1, max_length=4096, description="The clip's absolute path on the server, inside one of the configured replay folders (replays.folders).")
    camera: str = Field(
        min_length=1, max_length=64, description="The configured camera whose zones, rules and fps the replay uses."
    )
    speed: str = Field(
        default="realtime",
        max_length=16,
        description="realtime (costs the live cameras no more than one more camera), a factor like 2x, or max. "
        "The frames analysed, and so the incidents, are the same at every speed.",
    )


class ReplayIncidentOut(IncidentOut):
    opened_s: float = Field(description="When it opened, in seconds from the clip's start.")
    closed_s: float | None = Field(description="When it closed, in seconds from the clip's start.")


class ReplayOut(BaseModel):
    id: str
    state: str = Field(description="queued, running, done, failed or cancelled.")
    clip: str = Field(description="The clip's file name.")
    camera: str = Field(description="The configured camera the replay is based on.")
    replay_camera: str = Field(description="The virtual test camera its incidents carry (GET /incidents?camera=).")
    grid_code: str
    speed: str
    submitted_at: datetime
    submitted_by: str | None
    started_at: datetime | None
    finished_at: datetime | None
    epoch: datetime | None = Field(description="The time the clip's first frame is stamped with.")
    frames_analysed: int
    frames_total: int = Field(description="Frames the replay will analyse at the camera's analysis fps.")
    progress: float = Field(ge=0, le=1)
    error: str | None
    incidents: list[ReplayIncidentOut] = Field(description="Its incidents so far (all is_test), oldest first.")


def _speed_text(speed: float | None) -> str:
    return "max" if speed is None else "realtime" if speed == 1.0 else f"{speed:g}x"


def replay_out(job: ReplayJob, store: Store, *, with_incidents: bool = True) -> ReplayOut:
    incidents: list[ReplayIncidentOut] = []
    if with_incidents:
        found, _ = store.incidents.search(camera_id=job.replay_camera_id, include_tests=True, limit=500)
        for incident in sorted(found, key=lambda i: (i.opened_at, i.id)):
            epoch = job.epoch or incident.opened_at.timestamp()
            closed = incident.closed_at.timestamp() - epoch if incident.closed_at else None
            incidents.append(
                ReplayIncidentOut(
                    **incident_view(incident),
                    opened_s=round(incident.opened_at.timestamp() - epoch, 3),
                    closed_s=round(closed, 3) if closed is not None else None,
                )
            )
    return ReplayOut(
        id=job.id,
        state=job.state.value,
        clip=job.clip.name,
        camera=job.camera_id,
        replay_camera=job.replay_camera_id,
        grid_code=job.grid_code,
        speed=_speed_text(job.speed),
        submitted_at=job.submitted_at,
        submitted_by=job.submitted_by,
        started_at=job.started_at,
        finished_at=job.finished_at,
        epoch=datetime.fromtimestamp(job.epoch, UTC) if job.epoch is not None else None,
        frames_analysed=job.frames_analysed,
        frames_total=job.frames_total,
        progress=round(job.progress, 4),
        error=job.error,
        incidents=incidents,
    )


def _visible_job(replays: ReplayService, job_id: str, principal: Principal) -> ReplayJob:
    job = replays.get(job_id)
    if job is None or not principal.sees(job.grid_code):
        raise HTTPException(404, f"unknown replay {job_id!r}")
    return job


@router.post(
    "",
    response_model=ReplayOut,
    status_code=202,
    responses=errors(
        403,
        429,
        described={
            403: "The caller's role may not run replays",
            422: "Missing or unreadable clip, one outside the replay folders, unknown camera, bad speed",
        },
    )
    | WITH_BODY,
)
def submit_replay(
    body: ReplayIn, replays: ReplaysDep, store: StoreDep, config: ConfigDep, principal: SubmitterDep
) -> ReplayOut:
    """Queue a replay of a clip on the server as a virtual test camera based on `camera`. Watch it with
    GET /replays/{id} and on the websocket (its incidents are `is_test`)."""
    camera = config.cameras.get(body.camera)
    if camera is None or not principal.sees(config.camera_grid_cell(body.camera)):
        raise invalid(("body", "camera"), f"unknown camera {body.camera!r}")
    try:
        speed = parse_speed(body.speed)
    except ReplayInputError as error:
        raise invalid(("body", "speed"), str(error)) from None
    try:
        job = replays.submit(Path(body.clip), body.camera, speed=speed, submitted_by=principal.name)
    except ReplayInputError as error:
        raise invalid(("body", "clip"), str(error)) from None
    except ReplayQueueFullError as error:
        raise HTTPException(429, str(error)) from None
    return replay_out(job, store, with_incidents=False)


@router.get("", response_model=list[ReplayOut])
def list_replays(replays: ReplaysDep, store: StoreDep, principal: PrincipalDep) -> list[ReplayOut]:
    """The replays this process remembers (the last 100 finished, and every waiting or running one) of cameras in
    the caller's grid subtree, newest first; without their incidents (GET /replays/{id} has them)."""
    return [replay_out(job, store, with_incidents=False) for job in replays.jobs() if principal.sees(job.grid_code)]


@router.get("/{replay_id}", response_model=ReplayOut, responses=UNKNOWN_REPLAY)
def get_replay(replay_id: str, replays: ReplaysDep, store: StoreDep, principal: PrincipalDep) -> ReplayOut:
    """A replay's progress and its incidents so far."""
    return replay_out(_visible_job(replays, replay_id, principal), store)


@router.delete("/{replay_id}", response_model=ReplayOut, responses=UNKNOWN_REPLAY)
def cancel_replay(replay_id: str, replays: ReplaysDep, store: StoreDep, principal: SubmitterDep) -> ReplayOut:
    """Stop a waiting or running replay; the incidents it opened are closed. A finished one is left as it is."""
    _visible_job(replays, replay_id, principal)
    job = replays.cancel(replay_id)
    assert job is not None
    return replay_out(job, store)
