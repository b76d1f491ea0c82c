"""The incident domain: what the store keeps and what live push carries.

All datetimes are timezone-aware and normalised to UTC on construction: a naive datetime is a validation
error (its zone would be a guess), and an aware one in another zone is converted, so two models built from the
same instant compare equal whatever zone the caller used.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""An aware datetime, converted to UTC."""


class Severity(StrEnum):
    A = "A"
    B = "B"
    C = "C"


class IncidentStatus(StrEnum):
    """Where an incident stands in the grid closed loop: the first status. The loop itself (every status, every
    step, who may take it) is `models.lifecycle`.

    Stored as a plain string so that new statuses need no migration.
    """

    REPORTED = "reported"


class MessageType(StrEnum):
    """The `type` of a live push message."""

    INCIDENT_OPENED = "incident.opened"
    INCIDENT_UPDATED = "incident.updated"
    INCIDENT_CLOSED = "incident.closed"
    INCIDENT_TRANSITION = "incident.transition"  # a step of the closed loop (filed, dispatched, ...)
    INCIDENT_OVERDUE = "incident.overdue"  # the handling deadline passed; sent once per incident
    CAMERA_STATUS = "camera.status"


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GridRef(_Value):
    """One node of an incident's grid path."""

    code: str = Field(description="Hierarchical grid code; a descendant's code starts with its ancestor's.")
    name: str = Field(description="Display name of the grid cell.")


class Incident(_Value):
    """One ongoing (or ended) situation seen by one camera, located on the camera's grid cell.

    Frozen: a newer state of the same incident is a new value (`incident.model_copy(update=...)`, or better a
    fresh `Incident(...)` so that validation runs) recorded again under the same `id`.
    """

    id: str = Field(min_length=1, description="uuid4 hex, created by the caller.")
    rule: str = Field(description='The rule that raised it, e.g. "crowd", "fire_smoke", "camera_offline".')
    category_code: str = Field(description="Event category code (second level of the taxonomy).")
    category_name: str = Field(description="Event category name, e.g. 人员聚集.")
    category_group: str = Field(description="First level of the taxonomy, e.g. 社会治安.")
    severity: Severity
    status: str = Field(default=IncidentStatus.REPORTED.value, description="Closed-loop status.")
    grid_code: str = Field(description="The grid cell the incident is located on.")
    grid_path: list[GridRef] = Field(min_length=1, description="Root first, the incident's cell last.")
    camera_id: str
    camera_name: str
    lat: float | None = Field(ge=-90, le=90)
    lon: float | None = Field(ge=-180, le=180)
    opened_at: UtcDatetime
    updated_at: UtcDatetime
    closed_at: UtcDatetime | None = None
    peak_count: int | None = Field(default=None, ge=0)
    peak_confidence: float | None = Field(default=None, ge=0, le=1)
    owner_department: str = Field(description="Department responsible for this category (事件责任清单).")
    deadline: UtcDatetime = Field(description="When handling must be done (category time limit).")
    snapshot_path: str | None = Field(default=None, description="Evidence file on disk; never exposed as-is.")
    clip_path: str | None = Field(
        default=None, description="Event clip (MP4) on disk, set once written; never exposed as-is."
    )
    is_test: bool = Field(default=False, description="Raised by a replay/test run, hidden by default.")
    # The closed loop's fields. The store owns them: a pipeline's write of the incident never changes them
    # (see IncidentRepository.record); only a closed-loop step (IncidentRepository.record_transition) does.
    status_changed_at: UtcDatetime | None = Field(default=None, description="When the status last changed.")
    resolved_at: UtcDatetime | None = Field(
        default=None,
        description="When the incident first reached a resolved status (handled, or rejected as a false alarm); "
        "the deadline clock stops there.",
    )
    assignee_department: str | None = Field(default=None, description="Department it was dispatched to.")
    assignee_staff: str | None = Field(default=None, description="Staff member it was dispatched to.")

    @model_validator(mode="after")
    def verify_consistency(self) -> Incident:
        if self.grid_path[-1].code != self.grid_code:
            raise ValueError(
                f"grid_path must end at the incident's cell {self.grid_code!r}, ends at {self.grid_path[-1].code!r}"
            )
        if self.updated_at < self.opened_at:
            raise ValueError("updated_at is before opened_at")
        if self.closed_at is not None and self.closed_at < self.opened_at:
            raise ValueError("closed_at is before opened_at")
        return self

    @property
    def is_open(self) -> bool:
        """True while the situation lasts (the camera still sees it); the closed loop is tracked by `status`."""
        return self.closed_at is None


class PushMessage(_Value):
    """One live message. `seq` is strictly increasing across the whole store, in commit order."""

    seq: int = Field(ge=1)
    type: str = Field(description="A MessageType value.")
    at: UtcDatetime
    camera_id: str | None
    grid_code: str | None
    category_code: str | None
    data: dict[str, Any] = Field(description="JSON-safe payload.")


class IncidentTransition(_Value):
    """One recorded step of an incident's closed loop."""

    incident_id: str
    seq: int = Field(ge=1, description="The seq of the incident.transition message that announced it.")
    at: UtcDatetime
    action: str = Field(description="The step's name in models.lifecycle, e.g. file, reject, dispatch.")
    from_status: str
    to_status: str
    actor: str = Field(description="The user or API key that took the step.")
    actor_role: str
    note: str | None = None
    reason: str | None = Field(default=None, description="Why it was rejected (a false alarm's reason).")
    attachments: list[str] = Field(default_factory=list, description="References (URLs) to photos, documents.")
    department: str | None = Field(default=None, description="Dispatch target department.")
    staff: str | None = Field(default=None, description="Dispatch target staff member.")
    rating: int | None = Field(default=None, ge=1, le=5, description="Evaluation score, 1 (poor) to 5 (excellent).")


class CameraStatusRecord(_Value):
    """A camera's latest health as the ingest supervisor sees it."""

    camera_id: str
    state: str
    since: UtcDatetime
    last_error: str | None
    updated_at: UtcDatetime
    frames_decoded: int = Field(ge=0)
    frames_dropped: int = Field(ge=0)
    analysed_fps: float | None = Field(ge=0)
