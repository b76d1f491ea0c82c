"""The video checks of closures (视频核查): what a camera saw when it re-examined an incident reported handled.

One row per check (`incident_video_checks`, migration 0007): when the camera watched, the outcome, the after
snapshot and clip on disk, and the closed-loop step it led to (`checked` when passed, `dispatched` when failed and
sent back; None when no step was taken: the camera gave no video, or someone took a step first). The step itself is
an ordinary closed-loop transition (history row, `incident.transition` message, outbox delivery); see
analytics/video_check.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Column, Connection, ForeignKey, Index, String, Table, Text, insert, select, update
from sqlalchemy.orm import Session

from models.db import Base, UTCDateTime

Executor = Session | Connection


class CheckOutcome(StrEnum):
    PASSED = "passed"  # the rule saw nothing in the last clear_s of the window: the incident is checked
    FAILED = "failed"  # the rule still saw the situation: the incident is sent back to its handler
    NO_VIDEO = "no_video"  # no frame was analysed at the end of the window: no step, the checker decides


video_checks = Table(
    "incident_video_checks",
    Base.metadata,
    Column("id", String, primary_key=True),
    Column("incident_id", String, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("camera_id", String, nullable=False),
    Column("rule", String, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("decided_at", UTCDateTime(), nullable=False),
    Column("outcome", String, nullable=False),
    Column("step", String, nullable=True),
    Column("note", Text, nullable=False),
    Column("snapshot_path", Text, nullable=True),
    Column("clip_path", Text, nullable=True),
    Index("ix_incident_video_checks_incident_id", "incident_id"),
)


@dataclass(frozen=True, kw_only=True)
class VideoCheck:
    id: str  # uuid4 hex
    incident_id: str
    camera_id: str
    rule: str
    started_at: datetime  # when the camera began watching (its stream time)
    decided_at: datetime  # the end of the window
    outcome: CheckOutcome
    step: str | None  # the status the check moved the incident to; None: no step taken
    note: str  # what the check says, e.g. "video check passed: ..."
    snapshot_path: str | None = None  # the after snapshot on disk; never exposed as-is
    clip_path: str | None = None  # the after clip on disk; never exposed as-is


def _from_row(row: Any) -> VideoCheck:
    values = dict(row._mapping)
    values["outcome"] = CheckOutcome(values["outcome"])
    return VideoCheck(**values)


def record(executor: Executor, check: VideoCheck) -> None:
    values = {name: getattr(check, name) for name in VideoCheck.__dataclass_fields__}
    values["outcome"] = check.outcome.value
    executor.execute(insert(video_checks).values(**values))


def set_step(executor: Executor, check_id: str, step: str | None) -> None:
    """Record which step the check led to (None: it could not be taken)."""
    executor.execute(update(video_checks).where(video_checks.c.id == check_id).values(step=step))


def of_incident(executor: Executor, incident_id: str) -> list[VideoCheck]:
    """The incident's video checks, oldest first."""
    query = (
        select(video_checks)
        .where(video_checks.c.incident_id == incident_id)
        .order_by(video_checks.c.decided_at, video_checks.c.id)
    )
    return [_from_row(row) for row in executor.execute(query)]


def get(executor: Executor, incident_id: str, check_id: str) -> VideoCheck | None:
    query = select(video_checks).where(
        video_checks.c.incident_id == incident_id, video_checks.c.id == check_id
    )
    row = executor.execute(query).first()
    return _from_row(row) if row is not None else None


def decided_since(executor: Executor, incident_id: str, since: datetime) -> bool:
    """Whether a check of the incident was decided at or after `since` (a restarted camera does not check twice)."""
    query = select(video_checks.c.id).where(
        video_checks.c.incident_id == incident_id, video_checks.c.decided_at >= since
    )
    return executor.execute(query.limit(1)).first() is not None


_JSON_TIME = TypeAdapter(datetime)  # as the incidents' JSON writes times (…Z)


def check_urls(check: VideoCheck) -> dict[str, str | None]:
    """The API URLs of a check's after snapshot and clip (None when it has none)."""
    base = f"/incidents/{check.incident_id}/video-checks/{check.id}"
    return {
        "snapshot_url": f"{base}/snapshot" if check.snapshot_path else None,
        "clip_url": f"{base}/clip.mp4" if check.clip_path else None,
    }


def check_view(check: VideoCheck) -> dict[str, Any]:
    """A check's public JSON: everything but the paths on disk, which become API URLs."""
    return {
        "id": check.id,
        "incident_id": check.incident_id,
        "camera_id": check.camera_id,
        "rule": check.rule,
        "started_at": _JSON_TIME.dump_python(check.started_at, mode="json"),
        "decided_at": _JSON_TIME.dump_python(check.decided_at, mode="json"),
        "outcome": check.outcome.value,
        "step": check.step,
        "note": check.note,
        **check_urls(check),
    }
