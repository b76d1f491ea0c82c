"""The audit log: who did what, when, from where (0005_accounts_audit, table `audit_events`).

Written for logins (and failed ones), lockouts, logouts, closed-loop steps, user and API key changes, unlocks and
redeliveries. Never a secret: no password, hash, key, token or URL goes into an event (`details` holds names,
roles, grid codes, ids). `grid_code` says whose business an event is (the incident's cell, the user's or key's
subtree), so an admin bound to a subtree sees only the events of that subtree; events with no grid (a failed
login under an unknown name) are for admins of the whole tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    Identity,
    Index,
    String,
    Table,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from models.db import Base, SeqInteger, UTCDateTime

Executor = Session | Connection


class AuditAction(StrEnum):
    LOGIN = "auth.login"
    LOGIN_FAILED = "auth.login_failed"
    LOGIN_REFUSED = "auth.login_refused"  # refused unchecked: the user name or address is locked out
    LOCKOUT = "auth.lockout"
    LOGOUT = "auth.logout"
    UNLOCK = "auth.unlock"
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    PASSWORD_RESET = "user.password_reset"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    INCIDENT_TRANSITION = "incident.transition"
    REDELIVERY = "delivery.redeliver"


audit_events = Table(
    "audit_events",
    Base.metadata,
    Column("id", SeqInteger, Identity(), primary_key=True),
    Column("at", UTCDateTime(), nullable=False, index=True),
    Column("actor", String, nullable=False, index=True),  # who (a user or key name; for failed logins, as typed)
    Column("actor_kind", String, nullable=False),  # user, api_key, or anonymous
    Column("action", String, nullable=False, index=True),
    Column("target", String, nullable=True),  # what: a user, a key, an incident id, a delivery id
    Column("grid_code", String, nullable=True),
    Column("address", String, nullable=True),  # the client address
    Column("details", JSON, nullable=False),
    Index("ix_audit_events_grid_code", "grid_code", postgresql_ops={"grid_code": "varchar_pattern_ops"}),
    sqlite_autoincrement=True,
)


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    actor: str
    actor_kind: str
    action: str
    target: str | None
    grid_code: str | None
    address: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    grid_code: str | None = None  # the subtree's events only; None: all, those without a grid included


def record(
    executor: Executor,
    *,
    at: datetime,
    actor: str,
    actor_kind: str,
    action: AuditAction,
    target: str | None = None,
    grid_code: str | None = None,
    address: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    executor.execute(
        insert(audit_events).values(
            at=at,
            actor=actor[:128],
            actor_kind=actor_kind,
            action=action.value,
            target=target,
            grid_code=grid_code,
            address=address,
            details=details or {},
        )
    )


def _conditions(query: AuditQuery) -> list[ColumnElement[bool]]:
    c = audit_events.c
    conditions: list[ColumnElement[bool]] = []
    if query.actor is not None:
        conditions.append(c.actor == query.actor)
    if query.action is not None:
        conditions.append(c.action == query.action)
    if query.target is not None:
        conditions.append(c.target == query.target)
    if query.since is not None:
        conditions.append(c.at >= query.since)
    if query.until is not None:
        conditions.append(c.at < query.until)
    if query.grid_code is not None:
        conditions.append(c.grid_code.startswith(query.grid_code, autoescape=True))
    return conditions


def prune(executor: Executor, *, before: datetime) -> int:
    """Remove the events dated before `before`; how many went."""
    result = executor.execute(delete(audit_events).where(audit_events.c.at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def search(executor: Executor, query: AuditQuery, *, limit: int, offset: int) -> tuple[list[AuditEvent], int]:
    """One page of matching events, newest first, and how many match in all."""
    conditions = _conditions(query)
    rows = executor.execute(
        select(audit_events)
        .where(*conditions)
        .order_by(audit_events.c.at.desc(), audit_events.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    items = [AuditEvent(**row._mapping) for row in rows]
    total = executor.execute(select(func.count()).select_from(audit_events).where(*conditions)).scalar() or 0
    return items, int(total)
