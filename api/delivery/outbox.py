"""The delivery outbox's bookkeeping: admitting each endpoint's new changes, claiming them (leases), settling
each attempt (ack, retry, dead letter), redelivery, the admin's reads, and pruning what is done with.

The tables and the write that puts a change in them are `models/outbox_tables.py` (written in the incident's own
transaction). Each endpoint's worker (`api/delivery/worker.py`) admits new events itself.

Order: a delivery can be claimed only while no earlier delivery of the same incident to the same endpoint is pending
(in flight or waiting to be retried) or dead. One incident's changes therefore go out one after another, each only
once the one before was acknowledged; different incidents never wait for each other. A dead letter holds back the
later changes of its incident until it is redelivered: the receiver never sees a gap it cannot notice.

Claims are leases: a claimed delivery stays pending with `lease_until` set; when the worker dies the lease runs out
and another (or the restarted) worker sends it again. Delivery is at least once; `id` makes duplicates recognisable.

Every function takes an open Session or Connection inside a transaction and commits nothing. A writing function's
first statement is a write, so on SQLite the transaction holds the database's write lock (waiting up to the busy
timeout for it) before it reads anything: its reads can never go stale under it. On PostgreSQL a claim locks its
rows with FOR UPDATE SKIP LOCKED, so several workers (API replicas) share the work without sending a row twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Insert,
    Row,
    Table,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models.outbox_tables import Executor, outbox_cursors, outbox_deliveries, outbox_events


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its first attempt, in flight (leased), or waiting to be retried
    DELIVERED = "delivered"  # the endpoint answered 2xx
    DEAD = "dead"  # gave up after the endpoint's max attempts; an admin may redeliver it


@dataclass(frozen=True)
class OutboxEvent:
    """One incident change as written: what a delivery sends."""

    seq: int
    id: str
    type: str
    incident_id: str
    camera_id: str | None
    time: datetime
    is_test: bool
    data: dict[str, Any]


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery a worker now holds (until its lease runs out): send `event`, then ack, fail or dead-letter."""

    delivery_id: int
    endpoint: str
    attempt: int  # 1 for the first attempt
    event: OutboxEvent


@dataclass(frozen=True)
class Delivery:
    """A delivery's state, for the admin routes."""

    id: int
    endpoint: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None
    event_id: str
    event_type: str
    event_time: datetime
    incident_id: str
    waiting: int  # later changes of the same incident held back behind this one


class NotDeadError(Exception):
    """Only a dead letter can be redelivered."""


def _dialect_insert(executor: Executor, table: Table) -> Insert:
    bind = executor.get_bind() if isinstance(executor, Session) else executor
    name = bind.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"the outbox supports SQLite and PostgreSQL, not {name}")


# ------------------------------------------------------------------------------------------------------ admission


def ensure_cursor(executor: Executor, endpoint: str, *, replay_history: bool) -> None:
    """Give `endpoint` its admission cursor the first time it is seen: at the newest event (it starts with the next
    change) or, with `replay_history`, before the oldest. An existing cursor is left alone."""
    start = (
        literal(0)
        if replay_history
        else select(func.coalesce(func.max(outbox_events.c.seq), 0)).scalar_subquery()
    )
    statement = _dialect_insert(executor, outbox_cursors).values(endpoint=endpoint, last_event_seq=start)
    executor.execute(statement.on_conflict_do_nothing(index_elements=["endpoint"]))  # type: ignore[attr-defined]


def admit(executor: Executor, endpoint: str, *, include_tests: bool, now: datetime, limit: int = 1000) -> int:
    """Turn the events after `endpoint`'s cursor (at most `limit`) into pending deliveries; returns how many.

    Test incidents' events are passed over unless `include_tests`. The cursor row is locked first (a no-op update),
    so concurrent admitters of one endpoint take turns.
    """
    locked = executor.execute(
        update(outbox_cursors)
        .where(outbox_cursors.c.endpoint == endpoint)
        .values(last_event_seq=outbox_cursors.c.last_event_seq)
        .returning(outbox_cursors.c.last_event_seq)
    ).first()
    if locked is None:
        raise LookupError(f"endpoint {endpoint!r} has no cursor: call ensure_cursor first")
    events = executor.execute(
        select(outbox_events.c.seq, outbox_events.c.incident_id, outbox_events.c.is_test)
        .where(outbox_events.c.seq > locked[0])
        .order_by(outbox_events.c.seq)
        .limit(limit)
    ).all()
    if not events:
        return 0
    deliveries = [
        {
            "endpoint": endpoint,
            "event_seq": seq,
            "incident_id": incident_id,
            "state": DeliveryState.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for seq, incident_id, is_test in events
        if include_tests or not is_test
    ]
    if deliveries:
        executor.execute(insert(outbox_deliveries), deliveries)
    executor.execute(
        update(outbox_cursors)
        .where(outbox_cursors.c.endpoint == endpoint)
        .values(last_event_seq=events[-1].seq)
    )
    return len(deliveries)


# ------------------------------------------------------------------------------------------------------- delivery


def claim(
    executor: Executor, endpoint: str, *, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedDelivery]:
    """Lease up to `limit` due deliveries of `endpoint`, each the oldest unacknowledged change of its incident,
    oldest first. Each claim counts as an attempt."""
    if limit < 1:
        return []
    target = outbox_deliveries
    candidate, held_back = _CANDIDATE, _HELD_BACK
    candidates = (
        select(candidate.c.id)
        .where(candidate.c.endpoint == endpoint, *_due(candidate.c, now), ~held_back)
        .order_by(candidate.c.event_seq)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite's write lock already serializes
    )
    claimed = executor.execute(
        update(target)
        # The due conditions again on the target row: PostgreSQL re-checks them if it had to wait for the row.
        .where(target.c.id.in_(candidates.scalar_subquery()), *_due(target.c, now))
        .values(attempts=target.c.attempts + 1, lease_until=lease_until)
        .returning(target.c.id, target.c.attempts)
    ).all()
    if not claimed:
        return []
    attempts = {row.id: row.attempts for row in claimed}
    rows = executor.execute(
        select(outbox_deliveries.c.id.label("delivery_id"), *outbox_events.c)
        .join(outbox_events, outbox_events.c.seq == outbox_deliveries.c.event_seq)
        .where(outbox_deliveries.c.id.in_(attempts))
        .order_by(outbox_events.c.seq)
    ).all()
    return [
        ClaimedDelivery(
            delivery_id=row.delivery_id,
            endpoint=endpoint,
            attempt=attempts[row.delivery_id],
            event=_event(row),
        )
        for row in rows
    ]


# Built once: aliases are costly to make, and a claim runs after every answer.
_CANDIDATE = outbox_deliveries.alias("candidate")
_EARLIER = outbox_deliveries.alias("earlier")
_HELD_BACK = (
    select(literal(1))
    .where(
        _EARLIER.c.endpoint == _CANDIDATE.c.endpoint,
        _EARLIER.c.incident_id == _CANDIDATE.c.incident_id,
        _EARLIER.c.event_seq < _CANDIDATE.c.event_seq,
        _EARLIER.c.state.in_([DeliveryState.PENDING.value, DeliveryState.DEAD.value]),
    )
    .exists()
)  # an earlier change of the same incident to the same endpoint is not yet acknowledged


def _due(columns: Any, now: datetime) -> list[ColumnElement[bool]]:
    return [
        columns.state == DeliveryState.PENDING.value,
        columns.next_attempt_at <= now,
        or_(columns.lease_until.is_(None), columns.lease_until <= now),
    ]


def _settle_pending(executor: Executor, delivery_id: int, **values: Any) -> bool:
    """Set `values` on the delivery if it is still pending; whether it was."""
    result = executor.execute(
        update(outbox_deliveries)
        .where(outbox_deliveries.c.id == delivery_id, outbox_deliveries.c.state == DeliveryState.PENDING.value)
        .values(lease_until=None, **values)
    )
    return bool(cast(CursorResult[Any], result).rowcount)


def ack(executor: Executor, delivery_id: int, *, now: datetime, status: int) -> bool:
    """The endpoint acknowledged the delivery (2xx). False if it was no longer pending."""
    return _settle_pending(
        executor,
        delivery_id,
        state=DeliveryState.DELIVERED.value,
        delivered_at=now,
        last_status=status,
        last_error=None,
    )


def fail(
    executor: Executor, delivery_id: int, *, retry_at: datetime, error: str, status: int | None = None
) -> bool:
    """The attempt failed; try again at `retry_at`. False if the delivery was no longer pending."""
    return _settle_pending(
        executor, delivery_id, next_attempt_at=retry_at, last_status=status, last_error=error[:500]
    )


def dead_letter(
    executor: Executor, delivery_id: int, *, now: datetime, error: str, status: int | None = None
) -> bool:
    """Give up on the delivery; the later changes of its incident wait until it is redelivered."""
    return _settle_pending(
        executor,
        delivery_id,
        state=DeliveryState.DEAD.value,
        dead_at=now,
        last_status=status,
        last_error=error[:500],
    )


def release(executor: Executor, delivery_ids: list[int]) -> None:
    """Give claimed deliveries back without an answer (the worker is stopping): they are due again at once."""
    if delivery_ids:
        executor.execute(
            update(outbox_deliveries)
            .where(
                outbox_deliveries.c.id.in_(delivery_ids),
                outbox_deliveries.c.state == DeliveryState.PENDING.value,
            )
            .values(lease_until=None)
        )


def redeliver(executor: Executor, delivery_id: int, *, now: datetime) -> Delivery | None:
    """Make a dead letter pending again, with a fresh count of attempts, due now. None if there is no such
    delivery; NotDeadError if it is not dead."""
    result = executor.execute(
        update(outbox_deliveries)
        .where(outbox_deliveries.c.id == delivery_id, outbox_deliveries.c.state == DeliveryState.DEAD.value)
        .values(
            state=DeliveryState.PENDING.value, attempts=0, next_attempt_at=now, lease_until=None, dead_at=None
        )
    )
    delivery = get_delivery(executor, delivery_id)
    if delivery is not None and not result.rowcount:  # type: ignore[attr-defined]
        raise NotDeadError(f"delivery {delivery_id} is {delivery.state}, not dead")
    return delivery


# ------------------------------------------------------------------------------------------------------- reading


def get_delivery(executor: Executor, delivery_id: int) -> Delivery | None:
    row = executor.execute(_delivery_query().where(outbox_deliveries.c.id == delivery_id)).first()
    return _delivery(row) if row is not None else None


def list_dead_letters(
    executor: Executor, *, endpoint: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Delivery], int]:
    """Dead letters, oldest change first, and how many there are in all."""
    conditions = [outbox_deliveries.c.state == DeliveryState.DEAD.value]
    if endpoint is not None:
        conditions.append(outbox_deliveries.c.endpoint == endpoint)
    rows = executor.execute(
        _delivery_query()
        .where(*conditions)
        .order_by(outbox_deliveries.c.event_seq)
        .limit(limit)
        .offset(offset)
    ).all()
    total = executor.execute(
        select(func.count()).select_from(outbox_deliveries).where(*conditions)
    ).scalar_one()
    return [_delivery(row) for row in rows], int(total)


def delivery_counts(executor: Executor) -> dict[str, dict[str, int]]:
    """Deliveries per endpoint and state."""
    rows = executor.execute(
        select(outbox_deliveries.c.endpoint, outbox_deliveries.c.state, func.count()).group_by(
            outbox_deliveries.c.endpoint, outbox_deliveries.c.state
        )
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for endpoint, state, count in rows:
        counts.setdefault(endpoint, {})[state] = int(count)
    return counts


def prune(executor: Executor, *, endpoints: list[str], before: datetime) -> int:
    """Remove the changes written before `before` that are done with: admitted by every endpoint in `endpoints`
    (the configured ones) and delivered to each, or, with no endpoints, simply old. Pending deliveries and dead
    letters keep their change. Returns how many changes were removed."""
    old_enough = [outbox_events.c.created_at < before]
    if endpoints:
        admitted_by_all = select(func.min(outbox_cursors.c.last_event_seq)).where(
            outbox_cursors.c.endpoint.in_(endpoints)
        )
        unfinished = select(outbox_deliveries.c.event_seq).where(
            outbox_deliveries.c.state != DeliveryState.DELIVERED.value
        )
        old_enough += [
            outbox_events.c.seq <= admitted_by_all.scalar_subquery(),
            outbox_events.c.seq.not_in(unfinished),
        ]
    done = select(outbox_events.c.seq).where(*old_enough)
    executor.execute(outbox_deliveries.delete().where(outbox_deliveries.c.event_seq.in_(done)))
    result = executor.execute(outbox_events.delete().where(outbox_events.c.seq.in_(done)))
    return int(cast(CursorResult[Any], result).rowcount or 0)


def list_events(executor: Executor, *, after_seq: int = 0, limit: int = 1000) -> list[OutboxEvent]:
    """Outbox events after `after_seq`, in commit order."""
    rows = executor.execute(
        select(outbox_events)
        .where(outbox_events.c.seq > after_seq)
        .order_by(outbox_events.c.seq)
        .limit(limit)
    ).all()
    return [_event(row) for row in rows]


def _delivery_query() -> Any:
    later = outbox_deliveries.alias("later")
    waiting = (
        select(func.count())
        .where(
            later.c.endpoint == outbox_deliveries.c.endpoint,
            later.c.incident_id == outbox_deliveries.c.incident_id,
            later.c.event_seq > outbox_deliveries.c.event_seq,
            later.c.state == DeliveryState.PENDING.value,
        )
        .scalar_subquery()
    )
    return select(
        outbox_deliveries,
        outbox_events.c.id.label("event_id"),
        outbox_events.c.type.label("event_type"),
        outbox_events.c.time.label("event_time"),
        waiting.label("waiting"),
    ).join(outbox_events, outbox_events.c.seq == outbox_deliveries.c.event_seq)


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        id=row.id,
        endpoint=row.endpoint,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        dead_at=row.dead_at,
        event_id=row.event_id,
        event_type=row.event_type,
        event_time=row.event_time,
        incident_id=row.incident_id,
        waiting=int(row.waiting),
    )


def _event(row: Row[Any]) -> OutboxEvent:
    return OutboxEvent(
        seq=row.seq,
        id=row.id,
        type=row.type,
        incident_id=row.incident_id,
        camera_id=row.camera_id,
        time=row.time,
        is_test=row.is_test,
        data=row.data,
    )
