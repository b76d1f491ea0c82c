"""The durable store: incidents, each camera's latest status, and the live-push message log.

Durable first, then pushed: every state change is written together with the message that announces it, in one
transaction, and the message's `seq` (the log's primary key) is what websocket clients resume from. Camera
pipelines call `record_*` from their own threads; the API reads. Nothing here holds domain state in memory, so
the API and the pipelines (in this process or, later, on other nodes) only meet through the database.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from sqlalchemy import ColumnElement, Connection, Engine, and_, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

import models.accounts  # noqa: F401 - the account tables (0005) are on Base.metadata too
import models.audit  # noqa: F401 - and the audit log's
import models.sightings  # noqa: F401 - and the sightings' (0008)
import models.video_checks  # noqa: F401 - and the video checks' (0007)
from models import lifecycle
from models.db import (
    PG_WRITE_LOCK_KEY,
    CameraStatusRow,
    IncidentRow,
    IncidentTransitionRow,
    PushMessageRow,
    PushRetentionRow,
    make_engine,
    upgrade_to_head,
)
from models.incident import (
    CameraStatusRecord,
    Incident,
    IncidentTransition,
    MessageType,
    PushMessage,
    Severity,
)
from models.outbox import enqueue_incident_change
from models.stats import FalseAlarms, IncidentCounts, StepTime

# The closed loop's columns: written only by `record_transition`. A pipeline's `record_incident` keeps what the
# row has, so peaks and closed_at (the situation ended on camera) never overwrite the loop's status.
LOOP_FIELDS = ("status", "status_changed_at", "resolved_at", "assignee_department", "assignee_staff")

IncidentPayload = dict[str, Any] | Callable[[Incident], dict[str, Any]]
"""A message payload, or how to build it from the incident as stored (its loop fields are the store's)."""


PRUNE_BATCH = 5000  # push messages removed per write transaction (pipelines wait for one batch at most)


class UnknownIncident(LookupError):
    """No incident with this id."""

# Writers to one database from this process share one lock, even across several Store objects (the API and the
# pipelines may each open their own). Holding it from the message insert until after COMMIT makes seq order equal
# commit order, so a reader that has seen seq N can never later discover a committed message with a smaller seq.
# Across processes: SQLite's single write lock already gives that (the seq is allocated under it); on PostgreSQL a
# transaction-scoped advisory lock (PG_WRITE_LOCK_KEY) does the same for every writer using this code. A
# deployment that writes the log from elsewhere would need a sequence allocated at commit time instead.
_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock_for(url: URL) -> threading.Lock:
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        key = "sqlite:" + str(Path(url.database or "").resolve())
    elif url.get_backend_name() == "sqlite":
        return threading.Lock()  # each in-memory database is private to its engine
    else:
        key = url.render_as_string(hide_password=False)
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.Lock())


def _json_safe(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as it will read back (tuples become lists, ...); refuses what JSON cannot carry, NaN included."""
    try:
        safe = json.loads(json.dumps(payload, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"message payload is not JSON-safe: {exc}") from exc
    if not isinstance(safe, dict):
        raise ValueError("message payload must be a JSON object")
    return safe


def _check_page(limit: int, offset: int = 0) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")


def _in_grid_subtree(column: InstrumentedAttribute[Any], grid_code: str) -> ColumnElement[bool]:
    # Codes are hierarchical (a descendant's code starts with its ancestor's), so a subtree is a prefix.
    # autoescape makes `%` and `_` in a code literal characters, not wildcards.
    return column.startswith(grid_code, autoescape=True)


def _incident_from_row(row: IncidentRow) -> Incident:
    return Incident.model_validate({name: getattr(row, name) for name in Incident.model_fields})


def _incident_values(incident: Incident) -> dict[str, Any]:
    values = incident.model_dump()
    values["severity"] = Severity(incident.severity).value  # also when set by model_copy as a str
    return values


def _message_from_row(row: PushMessageRow) -> PushMessage:
    return PushMessage(
        seq=row.seq,
        type=row.type,
        at=row.at,
        camera_id=row.camera_id,
        grid_code=row.grid_code,
        category_code=row.category_code,
        data=row.data,
    )


@dataclass(frozen=True)
class CameraCounters:
    """How much of a camera's stream has been decoded, dropped and analysed, refreshed while its health holds."""

    camera_id: str
    frames_decoded: int
    frames_dropped: int
    analysed_fps: float | None


def _camera_status_from_row(row: CameraStatusRow) -> CameraStatusRecord:
    return CameraStatusRecord.model_validate(
        {name: getattr(row, name) for name in CameraStatusRecord.model_fields}
    )


def _transition_from_row(row: IncidentTransitionRow) -> IncidentTransition:
    return IncidentTransition.model_validate(
        {name: getattr(row, name) for name in IncidentTransition.model_fields}
    )


def _upsert(
    session: Session,
    model: type[IncidentRow] | type[CameraStatusRow],
    key: str,
    values: dict[str, Any],
    keep: Sequence[str] = (),
) -> None:
    """INSERT, or UPDATE every column but `keep` when the row with this `key` exists; one statement, no
    read-then-write race."""
    update = [name for name in values if name != key and name not in keep]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg_stmt = postgresql.insert(model).values(**values)
        session.execute(
            pg_stmt.on_conflict_do_update(
                index_elements=[key], set_={name: pg_stmt.excluded[name] for name in update}
            )
        )
    elif dialect == "sqlite":
        lite_stmt = sqlite.insert(model).values(**values)
        session.execute(
            lite_stmt.on_conflict_do_update(
                index_elements=[key], set_={name: lite_stmt.excluded[name] for name in update}
            )
        )
    else:  # pragma: no cover - other backends: correct under the write lock, racy across processes
        session.merge(model(**values))


@dataclass
class _IncidentChange:
    """What one change did to an incident, and the message that announces it."""

    incident: Incident  # as it is after the change
    message_type: str
    at: datetime
    data: dict[str, Any]
    transition: IncidentTransitionRow | None = None  # the history row, given the message's seq


@dataclass(frozen=True)
class TransitionResult:
    incident: Incident
    transition: IncidentTransition
    message: PushMessage


class Store:
    """Thread-safe access to the store at `url` (`sqlite:///path/to.db` or `postgresql+psycopg://...`).

    Call `migrate()` once at start-up before anything else. Returned objects are detached domain values.
    """

    def __init__(self, url: str) -> None:
        self._url = make_url(url)
        self._engine = make_engine(self._url)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._write_lock = _write_lock_for(self._url)

    @property
    def engine(self) -> Engine:
        return self._engine

    @contextmanager
    def side_transaction(self) -> Iterator[Connection]:
        """A write transaction for tables beside the incidents (the delivery outbox's bookkeeping).

        On SQLite it holds this database's in-process write lock, like every writer here: a commit made between
        another writer's first read and its first write would fail that write at once with "database is locked"
        (WAL mode cannot wait there). PostgreSQL needs no lock: the outbox locks its own rows.
        """
        if self._engine.dialect.name == "sqlite":
            with self._write_lock, self._engine.begin() as connection:
                yield connection
        else:
            with self._engine.begin() as connection:
                yield connection

    def migrate(self) -> None:
        """Bring the schema to the newest revision (`alembic upgrade head`); safe to call on every start."""
        upgrade_to_head(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------------- writes

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """One write transaction, serialized with every other writer (see `_WRITE_LOCKS`)."""
        with self._write_lock, self._sessions.begin() as session:
            if self._engine.dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_WRITE_LOCK_KEY})
            yield session

    @staticmethod
    def _append_message(
        session: Session,
        message_type: str,
        at: datetime,
        camera_id: str | None,
        grid_code: str | None,
        category_code: str | None,
        data: dict[str, Any],
    ) -> PushMessage:
        row = PushMessageRow(
            type=message_type,
            at=at,
            camera_id=camera_id,
            grid_code=grid_code,
            category_code=category_code,
            data=data,
        )
        session.add(row)
        session.flush()  # allocates seq
        return _message_from_row(row)

    def _change_incident(
        self, incident_id: str, change: Callable[[Session, IncidentRow | None], _IncidentChange]
    ) -> tuple[_IncidentChange, PushMessage]:
        """Every change of an incident passes here: the pipeline's writes, closed-loop steps, overdue notices.

        One transaction: `change` gets the incident's current row (None for a new incident), writes what it
        changes and says what happened; its message is appended to the log in the same transaction. Whatever must
        commit or fail together with every incident change (an outbox for delivery, say) belongs here.
        """
        with self._writing() as session:
            row = session.get(IncidentRow, incident_id)
            result = change(session, row)
            message = self._append_message(
                session,
                result.message_type,
                at=result.at,
                camera_id=result.incident.camera_id,
                grid_code=result.incident.grid_code,
                category_code=result.incident.category_code,
                data=result.data,
            )
            if result.transition is not None:
                result.transition.seq = message.seq
                session.add(result.transition)
            enqueue_incident_change(session, result.incident, result.message_type, at=result.at, data=result.data)
            return result, message

    def record_incident(self, incident: Incident, message_type: str, payload: IncidentPayload) -> PushMessage:
        """Insert or update the incident (by id) and append its `incident.*` message, atomically.

        What the pipeline knows (peaks, severity, closed_at, snapshot, ...) replaces the stored values; the closed
        loop's fields (`LOOP_FIELDS`: status, assignee, ...) are the store's and keep their stored values, so a
        pipeline's update never undoes a step of the loop. A new incident is inserted as given (usually
        `reported`). `payload` may be a function of the incident as stored, so the message shows the current
        status, not the pipeline's copy.

        The message is stamped with the incident's `updated_at` (the pipeline's clock, so replays are
        deterministic) and carries its camera, grid cell and category for subscription filters.
        """
        if not message_type.startswith("incident."):
            raise ValueError(f"not an incident message type: {message_type!r}")
        build: Callable[[Incident], dict[str, Any]]
        if callable(payload):
            build = payload
        else:
            fixed = _json_safe(payload)  # refused before anything is written
            build = lambda _stored: fixed  # noqa: E731

        def change(session: Session, row: IncidentRow | None) -> _IncidentChange:
            stored = incident
            if row is not None:
                stored = incident.model_copy(update={name: getattr(row, name) for name in LOOP_FIELDS})
            data = _json_safe(build(stored))
            _upsert(session, IncidentRow, "id", _incident_values(stored), keep=LOOP_FIELDS)
            return _IncidentChange(stored, message_type, stored.updated_at, data)

        return self._change_incident(incident.id, change)[1]

    def record_transition(
        self,
        incident_id: str,
        target: str,
        *,
        actor: str,
        role: lifecycle.Role,
        at: datetime,
        payload: Callable[[Incident, IncidentTransition], dict[str, Any]],
        note: str | None = None,
        reason: str | None = None,
        attachments: Sequence[str] = (),
        department: str | None = None,
        staff: str | None = None,
        rating: int | None = None,
    ) -> TransitionResult:
        """Take one step of the closed loop (`models.lifecycle`), record it in the history and append its
        `incident.transition` message, atomically. The step is checked against the status read inside the
        transaction, so two operators acting at once cannot both move the incident from the same status.

        Raises UnknownIncident, lifecycle.IllegalTransition, lifecycle.RoleNotAllowed, lifecycle.MissingFields.
        """

        def change(session: Session, row: IncidentRow | None) -> _IncidentChange:
            if row is None:
                raise UnknownIncident(incident_id)
            step = lifecycle.plan(
                row.status, target, role, reason=reason, department=department, staff=staff, note=note
            )
            history = IncidentTransitionRow(
                incident_id=incident_id,
                at=at,
                action=step.action,
                from_status=row.status,
                to_status=step.target.value,
                actor=actor,
                actor_role=role.value,
                note=note,
                reason=reason,
                attachments=list(attachments),
                department=department,
                staff=staff,
                rating=rating,
            )
            row.status = step.target.value
            row.status_changed_at = at
            if step.target in lifecycle.RESOLVED and row.resolved_at is None:
                row.resolved_at = at
            if department is not None or staff is not None:
                row.assignee_department, row.assignee_staff = department, staff
            session.flush()
            incident = _incident_from_row(row)
            history.seq = 1  # a placeholder for validation; the real seq is set once the message is appended
            data = _json_safe(payload(incident, _transition_from_row(history)))
            return _IncidentChange(incident, MessageType.INCIDENT_TRANSITION.value, at, data, history)

        result, message = self._change_incident(incident_id, change)
        assert result.transition is not None
        return TransitionResult(result.incident, _transition_from_row(result.transition), message)

    def overdue_incident_ids(self, now: datetime) -> list[str]:
        """Incidents past their deadline, unresolved, whose overdue notice has not gone out (tests left out)."""
        query = (
            select(IncidentRow.id)
            .where(
                IncidentRow.deadline <= now,
                IncidentRow.resolved_at.is_(None),
                IncidentRow.overdue_notified_at.is_(None),
                IncidentRow.is_test.is_(False),
            )
            .order_by(IncidentRow.deadline, IncidentRow.id)
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    def record_overdue(
        self, incident_id: str, now: datetime, payload: Callable[[Incident], dict[str, Any]]
    ) -> PushMessage | None:
        """Mark the incident's overdue notice as sent and append its `incident.overdue` message, atomically;
        None (and nothing written) when it is not, or no longer, due one."""

        class NotDue(Exception):
            pass

        def change(session: Session, row: IncidentRow | None) -> _IncidentChange:
            if (
                row is None
                or row.overdue_notified_at is not None
                or row.resolved_at is not None
                or row.deadline > now
            ):
                raise NotDue
            row.overdue_notified_at = now
            incident = _incident_from_row(row)
            return _IncidentChange(incident, MessageType.INCIDENT_OVERDUE.value, now, _json_safe(payload(incident)))

        try:
            return self._change_incident(incident_id, change)[1]
        except NotDue:
            return None

    def record_camera_status(
        self, status: CameraStatusRecord, grid_code: str | None, payload: dict[str, Any]
    ) -> PushMessage:
        """Replace the camera's latest status and append a `camera.status` message, atomically."""
        data = _json_safe(payload)
        with self._writing() as session:
            message = self._append_message(
                session,
                MessageType.CAMERA_STATUS.value,
                at=status.updated_at,
                camera_id=status.camera_id,
                grid_code=grid_code,
                category_code=None,
                data=data,
            )
            values = status.model_dump()
            values.update(grid_code=grid_code, last_message_seq=message.seq)
            _upsert(session, CameraStatusRow, "camera_id", values)
            return message

    def refresh_camera_counters(self, counters: Sequence[CameraCounters], at: datetime) -> None:
        """Refresh the frame counters and analysed fps of cameras that have a status, in one transaction, without
        a live message: health changes are news (`record_camera_status`), counters ticking over are not.
        A camera without a status row yet is left alone (its first health report creates it)."""
        if not counters:
            return
        with self._writing() as session:
            for item in counters:
                session.execute(
                    update(CameraStatusRow)
                    .where(CameraStatusRow.camera_id == item.camera_id)
                    .values(
                        frames_decoded=item.frames_decoded,
                        frames_dropped=item.frames_dropped,
                        analysed_fps=item.analysed_fps,
                        updated_at=at,
                    )
                )

    def prune_messages(self, before: datetime, *, batch: int = PRUNE_BATCH) -> int:
        """Remove the live-push messages dated before `before`; returns how many were removed.

        What goes is the log's oldest stretch, up to its first message dated `before` or later (a message dated out
        of order waits for the ones before it). Kept however old: the newest message (so `last_seq()` stays what it
        was) and each camera's latest camera.status (a fresh websocket client's first view). `pruned_through_seq()`
        rises to the highest seq removed, in the transaction that removes it. In batches of `batch`, each its own
        write transaction, so writers wait for one batch at most. Running it twice (several API replicas) is
        harmless.
        """
        with self._sessions() as session:
            newest = session.scalar(select(func.max(PushMessageRow.seq)))
            first_recent = session.scalar(
                select(PushMessageRow.seq).where(PushMessageRow.at >= before).order_by(PushMessageRow.seq).limit(1)
            )
        if newest is None:
            return 0
        bound = newest if first_recent is None else min(first_recent, newest)  # remove seqs below it only
        latest_statuses = select(CameraStatusRow.last_message_seq)
        removed = 0
        while True:
            with self._writing() as session:
                seqs = session.scalars(
                    select(PushMessageRow.seq)
                    .where(PushMessageRow.seq < bound, PushMessageRow.seq.not_in(latest_statuses))
                    .order_by(PushMessageRow.seq)
                    .limit(batch)
                ).all()
                if not seqs:
                    return removed
                session.execute(
                    delete(PushMessageRow)
                    .where(
                        PushMessageRow.seq >= seqs[0],
                        PushMessageRow.seq <= seqs[-1],
                        PushMessageRow.seq.not_in(latest_statuses),
                    )
                    .execution_options(synchronize_session=False)
                )
                session.execute(
                    update(PushRetentionRow)
                    .where(PushRetentionRow.id == 1, PushRetentionRow.pruned_through_seq < seqs[-1])
                    .values(pruned_through_seq=seqs[-1])
                    .execution_options(synchronize_session=False)
                )
            removed += len(seqs)
            if len(seqs) < batch:
                return removed

    # ------------------------------------------------------------------------------------------------ reads

    def get_incident(self, incident_id: str) -> Incident | None:
        with self._sessions() as session:
            row = session.get(IncidentRow, incident_id)
            return _incident_from_row(row) if row is not None else None

    def list_incidents(
        self,
        *,
        grid_code: str | None = None,
        category_code: str | None = None,
        status: str | None = None,
        opened_from: datetime | None = None,
        opened_to: datetime | None = None,
        camera_id: str | None = None,
        include_tests: bool = False,
        statuses: Collection[str] | None = None,
        ids: Collection[str] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Incident], int]:
        """One page of incidents, newest opened first, and how many match in all.

        `grid_code` selects the cell's whole subtree; `opened_from` is inclusive, `opened_to` exclusive; test
        incidents are left out unless `include_tests`; `statuses` and `ids` keep those listed.
        """
        _check_page(limit, offset)
        conditions: list[ColumnElement[bool]] = []
        if statuses is not None:
            conditions.append(IncidentRow.status.in_(list(statuses)))
        if ids is not None:
            conditions.append(IncidentRow.id.in_(list(ids)))
        if grid_code is not None:
            conditions.append(_in_grid_subtree(IncidentRow.grid_code, grid_code))
        if category_code is not None:
            conditions.append(IncidentRow.category_code == category_code)
        if status is not None:
            conditions.append(IncidentRow.status == status)
        if opened_from is not None:
            conditions.append(IncidentRow.opened_at >= opened_from)
        if opened_to is not None:
            conditions.append(IncidentRow.opened_at < opened_to)
        if camera_id is not None:
            conditions.append(IncidentRow.camera_id == camera_id)
        if not include_tests:
            conditions.append(IncidentRow.is_test.is_(False))

        page_query = (
            select(IncidentRow)
            .where(*conditions)
            .order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc())  # id: a stable order for paging
            .limit(limit)
            .offset(offset)
        )
        count_query = select(func.count()).select_from(IncidentRow).where(*conditions)
        # One transaction: on SQLite the page and the count share a snapshot.
        with self._sessions() as session:
            rows = session.scalars(page_query).all()
            total = session.scalar(count_query) or 0
            return [_incident_from_row(row) for row in rows], total

    def open_incidents(self, camera_id: str | None = None) -> list[Incident]:
        """Incidents not yet closed (test ones included), oldest opened first: what a restarted pipeline resumes."""
        query = select(IncidentRow).where(IncidentRow.closed_at.is_(None))
        if camera_id is not None:
            query = query.where(IncidentRow.camera_id == camera_id)
        query = query.order_by(IncidentRow.opened_at, IncidentRow.id)
        with self._sessions() as session:
            return [_incident_from_row(row) for row in session.scalars(query)]

    def camera_statuses(self) -> list[CameraStatusRecord]:
        """Every camera's latest status, by camera id."""
        with self._sessions() as session:
            rows = session.scalars(select(CameraStatusRow).order_by(CameraStatusRow.camera_id))
            return [_camera_status_from_row(row) for row in rows]

    def messages_since(
        self,
        seq: int,
        limit: int = 1000,
        *,
        grid_code: str | None = None,
        category_code: str | None = None,
    ) -> list[PushMessage]:
        """Messages with a seq above `seq`, oldest first, at most `limit`. Gapless only from
        `pruned_through_seq()` on: below it, pruned messages are missing.

        `grid_code` keeps the messages located in that cell's subtree; `category_code` keeps the messages of that
        category (so it leaves out camera.status messages, which have none).
        """
        _check_page(limit)
        query = select(PushMessageRow).where(PushMessageRow.seq > seq)
        if grid_code is not None:
            query = query.where(_in_grid_subtree(PushMessageRow.grid_code, grid_code))
        if category_code is not None:
            query = query.where(PushMessageRow.category_code == category_code)
        query = query.order_by(PushMessageRow.seq).limit(limit)
        with self._sessions() as session:
            return [_message_from_row(row) for row in session.scalars(query)]

    def latest_camera_messages(self) -> list[PushMessage]:
        """The newest camera.status message of each camera, by seq ascending (a new subscriber's first view)."""
        query = (
            select(PushMessageRow)
            .join(CameraStatusRow, CameraStatusRow.last_message_seq == PushMessageRow.seq)
            .order_by(PushMessageRow.seq)
        )
        with self._sessions() as session:
            return [_message_from_row(row) for row in session.scalars(query)]

    def last_seq(self) -> int:
        """The highest seq committed so far; 0 for an empty log (pruning never removes the newest message)."""
        with self._sessions() as session:
            return session.scalar(select(func.max(PushMessageRow.seq))) or 0

    def pruned_through_seq(self) -> int:
        """The highest seq `prune_messages` has removed (0: none): `messages_since(seq)` is complete from here on."""
        with self._sessions() as session:
            return session.scalar(select(PushRetentionRow.pruned_through_seq).where(PushRetentionRow.id == 1)) or 0

    def transitions(self, incident_id: str) -> list[IncidentTransition]:
        """The incident's closed-loop history, oldest first."""
        query = (
            select(IncidentTransitionRow)
            .where(IncidentTransitionRow.incident_id == incident_id)
            .order_by(IncidentTransitionRow.seq)
        )
        with self._sessions() as session:
            return [_transition_from_row(row) for row in session.scalars(query)]

    def incident_counts(
        self,
        now: datetime,
        *,
        grid_code: str | None = None,
        opened_from: datetime | None = None,
        opened_to: datetime | None = None,
    ) -> IncidentCounts:
        """The numbers behind `/stats` over the incidents opened in [opened_from, opened_to) in the grid subtree,
        test incidents left out. Counting is done by the database; `models.stats` rolls them up."""
        conditions: list[ColumnElement[bool]] = [IncidentRow.is_test.is_(False)]
        if grid_code is not None:
            conditions.append(_in_grid_subtree(IncidentRow.grid_code, grid_code))
        if opened_from is not None:
            conditions.append(IncidentRow.opened_at >= opened_from)
        if opened_to is not None:
            conditions.append(IncidentRow.opened_at < opened_to)
        overdue = or_(
            and_(IncidentRow.resolved_at.is_(None), IncidentRow.deadline <= now),
            IncidentRow.resolved_at > IncidentRow.deadline,
        )
        rejected = IncidentRow.status == lifecycle.LoopStatus.REJECTED.value
        decided = IncidentRow.status != lifecycle.LoopStatus.REPORTED.value

        def grouped(*columns: Any) -> Any:
            return select(*columns, func.count()).where(*conditions).group_by(*columns)

        first_steps = (
            select(
                IncidentTransitionRow.to_status,
                IncidentRow.opened_at,
                func.min(IncidentTransitionRow.at),
            )
            .join(IncidentRow, IncidentRow.id == IncidentTransitionRow.incident_id)
            .where(*conditions)
            .group_by(IncidentTransitionRow.incident_id, IncidentTransitionRow.to_status, IncidentRow.opened_at)
        )
        false_alarms = (
            select(
                IncidentRow.camera_id,
                IncidentRow.rule,
                func.count().filter(rejected),
                func.count().filter(decided),
            )
            .where(*conditions)
            .group_by(IncidentRow.camera_id, IncidentRow.rule)
            .order_by(IncidentRow.camera_id, IncidentRow.rule)
        )
        with self._sessions() as session:  # one transaction: every number from one snapshot
            by_grid = {code: n for code, n in session.execute(grouped(IncidentRow.grid_code))}
            by_category = {code: n for code, n in session.execute(grouped(IncidentRow.category_code))}
            by_status = {status: n for status, n in session.execute(grouped(IncidentRow.status))}
            overdue_count = session.scalar(select(func.count()).where(*conditions, overdue)) or 0
            per_camera_rule = [
                FalseAlarms(camera_id=camera, rule=rule, rejected=int(r or 0), decided=int(d or 0))
                for camera, rule, r, d in session.execute(false_alarms)
            ]
            steps = [StepTime(status, opened, first) for status, opened, first in session.execute(first_steps)]
        return IncidentCounts(
            by_grid=by_grid,
            by_category=by_category,
            by_status=by_status,
            overdue=overdue_count,
            false_alarms=per_camera_rule,
            steps=steps,
        )
