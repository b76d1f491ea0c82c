"""Sightings: the other cameras' view of an incident that several cameras see (one case per situation,
analytics/case_merge.py). One row per camera opening that joined an incident instead of opening its own
(`incident_sightings`, migration 0008): which camera and rule, when it saw the situation, where, its peaks and its
evidence snapshot. The incident's own camera is the incident's `camera_id`; its sightings are the others'.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import (
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from models.db import Base, UTCDateTime

Executor = Session | Connection

incident_sightings = Table(
    "incident_sightings",
    Base.metadata,
    Column("id", String, primary_key=True),
    Column("incident_id", String, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("camera_id", String, nullable=False),
    Column("camera_name", String, nullable=False),
    Column("rule", String, nullable=False),
    Column("grid_code", String, nullable=False),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("closed_at", UTCDateTime(), nullable=True),
    Column("peak_count", Integer, nullable=True),
    Column("peak_confidence", Float, nullable=True),
    Column("snapshot_path", Text, nullable=True),
    Index("ix_incident_sightings_incident_id", "incident_id"),
)


@dataclass(frozen=True, kw_only=True)
class Sighting:
    id: str  # uuid4 hex
    incident_id: str  # the incident it joined
    camera_id: str
    camera_name: str
    rule: str
    grid_code: str  # where this camera located it (its cell, or where the objects stand when calibrated)
    lat: float | None
    lon: float | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None  # when the situation ended on this camera
    peak_count: int | None = None
    peak_confidence: float | None = None
    snapshot_path: str | None = None  # never exposed as-is

    def with_update(self, **changes: Any) -> Sighting:
        return replace(self, **changes)


_NAMES = [f.name for f in fields(Sighting)]
_JSON_TIME = TypeAdapter(datetime | None)  # as the incidents' JSON writes times (…Z)


def _from_row(row: Any) -> Sighting:
    return Sighting(**dict(row._mapping))


def record(executor: Executor, sighting: Sighting) -> None:
    executor.execute(insert(incident_sightings).values(**{name: getattr(sighting, name) for name in _NAMES}))


def save(executor: Executor, sighting: Sighting) -> None:
    """Write what changed of a recorded sighting (its peaks, updated_at, closed_at, snapshot)."""
    values = {name: getattr(sighting, name) for name in _NAMES if name not in ("id", "incident_id")}
    executor.execute(
        update(incident_sightings).where(incident_sightings.c.id == sighting.id).values(**values)
    )


def of_incident(executor: Executor, incident_id: str) -> list[Sighting]:
    """The incident's sightings by other cameras, first opened first."""
    query = (
        select(incident_sightings)
        .where(incident_sightings.c.incident_id == incident_id)
        .order_by(incident_sightings.c.opened_at, incident_sightings.c.id)
    )
    return [_from_row(row) for row in executor.execute(query)]


def get(executor: Executor, incident_id: str, sighting_id: str) -> Sighting | None:
    query = select(incident_sightings).where(
        incident_sightings.c.incident_id == incident_id, incident_sightings.c.id == sighting_id
    )
    row = executor.execute(query).first()
    return _from_row(row) if row is not None else None


def sighting_view(sighting: Sighting) -> dict[str, Any]:
    """A sighting's public JSON: no path on disk (the snapshot is an API URL)."""
    data: dict[str, Any] = {name: getattr(sighting, name) for name in _NAMES if name != "snapshot_path"}
    for name in ("opened_at", "updated_at", "closed_at"):
        data[name] = _JSON_TIME.dump_python(data[name], mode="json")
    data["snapshot_url"] = (
        f"/incidents/{sighting.incident_id}/sightings/{sighting.id}/snapshot"
        if sighting.snapshot_path
        else None
    )
    return data
