"""API response schemas, apart from the domain types (the OpenAPI document is generated from these)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from models.lifecycle import LoopStatus


class GridRefOut(BaseModel):
    code: str
    name: str


class IncidentOut(BaseModel):
    id: str
    rule: str
    category_code: str
    category_name: str
    category_group: str
    severity: str = Field(description="A (most severe), B or C, from the category's severity bands.")
    status: str
    grid_code: str
    grid_path: list[GridRefOut] = Field(description="Root first, the incident's cell last.")
    camera_id: str
    camera_name: str
    lat: float | None
    lon: float | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    peak_count: int | None
    peak_confidence: float | None
    owner_department: str
    deadline: datetime
    is_test: bool
    snapshot_url: str | None = Field(description="Evidence JPEG with boxes drawn; null when none was taken.")
    clip_url: str | None = Field(
        default=None,
        description="Event clip (MP4, pre_s before the opening frame to post_s after); null until it is written "
        "(post_s after the opening) or when none could be.",
    )
    status_changed_at: datetime | None = Field(description="When the closed-loop status last changed.")
    resolved_at: datetime | None = Field(
        description="When it was first resolved (handled, or rejected as a false alarm): the deadline clock stops."
    )
    assignee_department: str | None = Field(description="Department it was dispatched to.")
    assignee_staff: str | None = Field(description="Staff member it was dispatched to.")
    light: Literal["green", "yellow", "red"] = Field(
        description="Traffic light (三灯): green while more than half of the time limit is left, yellow with half "
        "or less, red once overdue; frozen when resolved."
    )
    overdue: bool = Field(description="The deadline passed before the incident was resolved.")
    seconds_left: float = Field(description="Until the deadline (negative once past), as of now or of resolution.")


class IncidentDetailOut(IncidentOut):
    next_statuses: list[str] = Field(description="Statuses the caller may move the incident to now.")


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    total: int = Field(description="Incidents matching the filters, over all pages.")
    limit: int
    offset: int


class CameraStatusOut(BaseModel):
    state: str = Field(
        description="connecting, online, stalled (its server holds the connection or still accepts one, but no "
        "frame comes: a hung camera) or offline (refused, unreachable, an error, or the stream closed); unknown "
        "before the first report."
    )
    since: datetime | None = None
    last_error: str | None = Field(default=None, description="Why the camera is down; never holds credentials.")
    frames_decoded: int = 0
    frames_dropped: int = 0
    analysed_fps: float | None = Field(
        default=None, description="Frames analysed per second lately; null unless the camera is online."
    )


class CameraOut(BaseModel):
    id: str
    name: str
    grid_code: str
    grid_path: list[GridRefOut]
    lat: float | None
    lon: float | None
    enabled: bool
    analysis_fps: float = Field(
        description="Frames analysed per second: the configured fps, raised to `tracking.min_fps` while a "
        "track-based rule runs."
    )
    rules: list[str]
    zones: dict[str, list[tuple[float, float]]] = Field(description="Zone polygons in image pixels.")
    lines: dict[str, list[tuple[float, float]]] = Field(
        default_factory=dict, description="Lines (polylines) in image pixels; `in` crosses from right to left."
    )
    status: CameraStatusOut


class LineCountOut(BaseModel):
    line: str = Field(description="The camera line's name (its `lines` key in the config).")
    points: list[tuple[float, float]] = Field(description="The line in image pixels.")
    counted: bool = Field(description="Whether an enabled rule of the camera (line_crossing) counts this line.")
    crossed_in: int = Field(description="Crossings `in` counted since counting began.")
    crossed_out: int = Field(description="Crossings `out` counted since counting began.")
    since: datetime | None = Field(description="The first crossing counted; null before any.")
    updated_at: datetime | None = Field(description="The latest crossing counted; null before any.")


class CameraLinesOut(BaseModel):
    camera_id: str
    lines: list[LineCountOut] = Field(description="Every configured line of the camera, counted or not.")


class GridNodeOut(BaseModel):
    code: str
    name: str
    level: str
    staff: list[dict[str, Any]]
    children: list[GridNodeOut]


class HealthOut(BaseModel):
    status: str = Field(description="ok when the store answers.")
    cameras: dict[str, int] = Field(description="Cameras per state.")
    last_seq: int = Field(description="Sequence number of the newest live message.")


# ------------------------------------------------------------------------------------------ input


UNUSABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


class InputModel(BaseModel):
    """A request body: unknown fields are refused, and so is text that cannot be stored or sent back (a NUL, or
    a lone surrogate like JSON "\\ud800": it cannot be encoded as UTF-8, and once made a 500)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def verify_text_is_unicode(cls, data: Any) -> Any:
        def walk(value: Any) -> None:
            if isinstance(value, str):
                if UNUSABLE_TEXT.search(value):
                    raise ValueError("text must be valid Unicode without NUL characters")
            elif isinstance(value, dict):
                for key, item in value.items():
                    walk(key)
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        walk(data)
        return data


# Text a step needs must say something: empty or blank is refused by the schema, not only by the service.
StepText = Annotated[str, StringConstraints(pattern=r"\S")]

# ------------------------------------------------------------------------------------------ closed loop

Reference = Annotated[
    str, StringConstraints(max_length=2048, pattern=r"^(https?://[^\s]+|/[^\s]*)$")
]


class TransitionIn(InputModel):
    """One step of the closed loop. Which fields a step needs: reject → reason; dispatch, redispatch → department
    or staff; handle, send back → note (a missing one is a 422 naming it). Text fields, when given, are not
    blank."""

    to: LoopStatus = Field(description="The status to move the incident to.")
    note: StepText | None = Field(default=None, max_length=4000, description="Free text: feedback, findings.")
    reason: StepText | None = Field(default=None, max_length=2000, description="Why it is a false alarm (reject).")
    attachments: list[Reference] = Field(
        default_factory=list, max_length=20, description="References to photos or documents: URLs or API paths."
    )
    department: StepText | None = Field(default=None, max_length=128, description="Dispatch target department.")
    staff: StepText | None = Field(default=None, max_length=128, description="Dispatch target staff member.")
    rating: int | None = Field(default=None, ge=1, le=5, description="Evaluation score, 1 to 5 (evaluate).")


class TransitionOut(BaseModel):
    seq: int = Field(description="Seq of the incident.transition message that announced the step.")
    at: datetime
    action: str
    from_status: str
    to_status: str
    actor: str
    actor_role: str
    note: str | None
    reason: str | None
    attachments: list[str]
    department: str | None
    staff: str | None
    rating: int | None


class TransitionResultOut(BaseModel):
    incident: IncidentOut
    transition: TransitionOut


class ConflictDetail(BaseModel):
    message: str
    status: str = Field(description="The incident's current status.")
    allowed: list[str] = Field(description="Statuses reachable from the current one.")


class ConflictOut(BaseModel):
    detail: ConflictDetail


class LifecycleStepOut(BaseModel):
    action: str
    label: str
    source: str
    target: str
    roles: list[str]
    requires: list[str]


# ------------------------------------------------------------------------------------------------ auth


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong, in words.")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = Field(description="Always bearer.")
    expires_in: int = Field(description="Seconds until the token expires; renew it before with POST /auth/refresh.")
    session_expires_at: datetime = Field(
        description="Until when POST /auth/refresh can renew this login (auth.session_max_hours after the password "
        "was checked); after it, log in again."
    )
    role: str
    grid: str | None = Field(description="Root of the grid subtree the user may see; null for the whole tree.")


class PrincipalOut(BaseModel):
    name: str
    role: str
    grid: str | None
    kind: str = Field(description="user or api_key")


# ----------------------------------------------------------------------------------------------- stats


class GridCountOut(BaseModel):
    code: str
    name: str
    level: str
    incidents: int = Field(description="Incidents in this cell's whole subtree.")


class FalseAlarmsOut(BaseModel):
    rejected: int = Field(description="Rejected as false alarms.")
    decided: int = Field(description="Filed or rejected (no longer reported).")
    rate: float | None = Field(description="rejected / decided; null when nothing was decided.")


class CameraRuleFalseAlarmsOut(FalseAlarmsOut):
    camera_id: str
    rule: str


class StatsOut(BaseModel):
    grid: str = Field(description="Root of the subtree counted.")
    opened_from: datetime | None
    opened_to: datetime | None
    now: datetime = Field(description="The time overdue is judged at.")
    total: int
    by_grid: list[GridCountOut] = Field(description="Every cell of the subtree, root first (tree order).")
    by_category: dict[str, int]
    by_status: dict[str, int]
    overdue: int = Field(description="Deadline passed before (or still without) resolution.")
    false_alarms: FalseAlarmsOut
    false_alarms_by_camera_rule: list[CameraRuleFalseAlarmsOut]
    mean_seconds_to: dict[str, float | None] = Field(
        description="Per status: mean seconds from opening to first reaching it; null when no incident did."
    )


# --------------------------------------------------------------------------------------------- Open311


class Open311ServiceOut(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class Open311RequestOut(BaseModel):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: str
    agency_responsible: str
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str
    address: str
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


# ------------------------------------------------------------------------------------------ cluster


class ClusterNodeOut(BaseModel):
    node_id: str = Field(description="The Ray node id (`local` for the single process).")
    address: str = Field(description="The node's address (its host name for the single process).")
    alive: bool = Field(description="False once the node was lost; kept for the record.")
    cpus: float = Field(description="CPUs the node offers.")
    cpu_percent: float | None = Field(description="CPU use of the node's camera host over its last interval.")
    rss_mb: float | None = Field(description="Resident memory of the node's camera host, MiB.")
    models: list[str] = Field(description="The detection models loaded on the node.")
    cameras: list[str] = Field(description="The cameras the node serves now.")
    started_at: datetime = Field(description="When the node (this time) started serving.")
    updated_at: datetime = Field(description="Its last report.")
    lost_at: datetime | None = Field(description="When it was lost; null while alive.")


class CameraPlacementOut(BaseModel):
    camera_id: str
    node_id: str | None = Field(description="The node serving the camera; null: no node serves it now.")
    reason: str = Field(description="Why it was placed there (e.g. `start`, `node lost`, `single process`).")
    assigned_at: datetime


class ClusterOut(BaseModel):
    mode: Literal["single", "ray"] = Field(
        description="single: this one process serves every camera (no `cluster.ray_address`); ray: camera "
        "pipelines are placed on the nodes of a Ray cluster."
    )
    nodes: list[ClusterNodeOut] = Field(description="Every node seen, alive first, then by address.")
    placements: list[CameraPlacementOut] = Field(description="Each placed camera's node, by camera id.")
