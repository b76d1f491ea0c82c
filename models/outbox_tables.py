"""The delivery outbox's tables, and the one write an incident change makes to them.

Declared here, with the schema (`models.db`), because the incident's own transaction writes the outbox row
(`models.push.announce_incident_changes`) and models/ imports nothing above it. Everything else about the outbox
(admission, claims, retries, dead letters, pruning) is delivery's: `delivery/outbox.py`.

- `outbox_events`: one row per change (an incident opened, updated or closed, a closed-loop step, ...) in commit
  order (`seq`). `id` is the CloudEvents id, fixed when the change is written, so every retry carries the same one.
- `outbox_cursors`: per endpoint, the seq of the last event it has admitted (turned into a delivery).
- `outbox_deliveries`: per (endpoint, event), its state: pending → delivered, or pending → dead (a dead letter) →
  pending again when an admin redelivers it.

Writing a change needs no configuration (`enqueue_incident_change`); each endpoint's worker admits new events
itself, so a pipeline on another node that writes the store needs to know nothing about delivery.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
)
from sqlalchemy.orm import Session

from models.db import Base, SeqInteger, UTCDateTime
from models.incident import Incident

Executor = Session | Connection


outbox_events = Table(
    "outbox_events",
    Base.metadata,
    Column("seq", SeqInteger, Identity(), primary_key=True),
    Column("id", String, nullable=False, unique=True),
    Column("type", String, nullable=False),
    Column("incident_id", String, nullable=False, index=True),
    Column("camera_id", String, nullable=True),
    Column("time", UTCDateTime(), nullable=False),
    Column("is_test", Boolean, nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    sqlite_autoincrement=True,
)

outbox_cursors = Table(
    "outbox_cursors",
    Base.metadata,
    Column("endpoint", String, primary_key=True),
    Column("last_event_seq", SeqInteger, nullable=False),
)

outbox_deliveries = Table(
    "outbox_deliveries",
    Base.metadata,
    Column("id", SeqInteger, Identity(), primary_key=True),
    Column("endpoint", String, nullable=False),
    Column("event_seq", SeqInteger, ForeignKey("outbox_events.seq", ondelete="CASCADE"), nullable=False),
    Column("incident_id", String, nullable=False),
    Column("state", String, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime(), nullable=True),
    Column("dead_at", UTCDateTime(), nullable=True),
    UniqueConstraint("endpoint", "event_seq"),
    # The order check: earlier deliveries of the same incident to the same endpoint.
    Index("ix_outbox_deliveries_endpoint_incident_id_event_seq", "endpoint", "incident_id", "event_seq"),
    # The claim and the dead-letter list: pending (or dead) deliveries of an endpoint in commit order.
    Index("ix_outbox_deliveries_endpoint_state_event_seq", "endpoint", "state", "event_seq"),
    sqlite_autoincrement=True,
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------------------------------------- writing


def enqueue_incident_change(
    executor: Executor, incident: Incident, change_type: str, *, at: datetime, data: dict[str, Any]
) -> str:
    """Write one incident change to the outbox; call it in the transaction that writes the change.

    `change_type` is the live message type (incident.opened, incident.transition, ...), `at` when the change
    happened, `data` the JSON-safe payload of its live message: the incident's public view after the change
    (`models.views.incident_view`), with the closed-loop step for a transition. Returns the event's id (the
    CloudEvents id).
    """
    event_id = uuid.uuid4().hex
    executor.execute(
        insert(outbox_events).values(
            id=event_id,
            type=change_type,
            incident_id=incident.id,
            camera_id=incident.camera_id,
            time=at,
            is_test=incident.is_test,
            data=data,
            created_at=_utcnow(),
        )
    )
    return event_id
