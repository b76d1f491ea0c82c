"""Incidents and their closed-loop history: the pipeline's writes, closed-loop steps, overdue notices, and reads.

Every change of an incident is one write transaction in which the change is handed to the hooks registered for
`IncidentChange` (`Database.announce`): they append its push message and its delivery-outbox row (`models.push`
wires them whenever a `models.store.Store` is opened). A change that comes back without both is rolled back, so
no incident change can commit unannounced, whichever process writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from models import lifecycle
from models.database import Database, UnannouncedChange
from models.db import IncidentRow, IncidentTransitionRow
from models.incident import Incident, IncidentTransition, MessageType, PushMessage, Severity
from models.repositories.push_log import json_safe
from models.repositories.statements import check_page, in_grid_subtree, upsert

# The closed loop's columns: written only by `record_transition`. A pipeline's `record` keeps what the row has, so
# peaks and closed_at (the situation ended on camera) never overwrite the loop's status.
LOOP_FIELDS = ("status", "status_changed_at", "resolved_at", "assignee_department", "assignee_staff")

IncidentPayload = dict[str, Any] | Callable[[Incident], dict[str, Any]]
"""A message payload, or how to build it from the incident as stored (its loop fields are the store's)."""


class UnknownIncident(LookupError):
    """No incident with this id."""


@dataclass
class IncidentChange:
    """One change of an incident, handed to the announcing hooks inside the transaction that writes it."""

    incident: Incident  # as it is after the change
    message_type: str
    at: datetime
    message_data: Callable[[], dict[str, Any]]  # the caller's view of the change: its push message's data
    message: PushMessage | None = None  # set by the hook that appends the push message
    outbox_event_id: str | None = None  # set by the hook that writes the delivery-outbox row


@dataclass(frozen=True)
class TransitionResult:
    incident: Incident
    transition: IncidentTransition
    message: PushMessage


def _incident_from_row(row: IncidentRow) -> Incident:
    return Incident.model_validate({name: getattr(row, name) for name in Incident.model_fields})


def _incident_values(incident: Incident) -> dict[str, Any]:
    values = incident.model_dump()
    values["severity"] = Severity(incident.severity).value  # also when set by model_copy as a str
    return values


def _transition_from_row(row: IncidentTransitionRow) -> IncidentTransition:
    return IncidentTransition.model_validate(
        {name: getattr(row, name) for name in IncidentTransition.model_fields}
    )


_Step = tuple[IncidentChange, IncidentTransitionRow | None]


class IncidentRepository:
    """Returned objects are detached domain values."""

    def __init__(self, database: Database) -> None:
        self._database = database

    # ------------------------------------------------------------------------------------------------- writes

    def _change(self, incident_id: str, step: Callable[[Session, IncidentRow | None], _Step]) -> IncidentChange:
        """Every change of an incident passes here: the pipeline's writes, closed-loop steps, overdue notices.

        One transaction: `step` gets the incident's current row (None for a new incident), writes what it changes
        and says what happened (with the history row of a closed-loop step); the hooks announce it; the history
        row takes its message's seq.
        """
        with self._database.writing() as session:
            change, transition = step(session, session.get(IncidentRow, incident_id))
            self._database.announce(session, change)
            if change.message is None or change.outbox_event_id is None:
                raise UnannouncedChange(
                    f"{change.message_type} of incident {incident_id} got no "
                    + ("push message" if change.message is None else "outbox row")
                )
            if transition is not None:
                transition.seq = change.message.seq
                session.add(transition)
            return change

    def record(self, incident: Incident, message_type: str, payload: IncidentPayload) -> PushMessage:
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
            fixed = json_safe(payload)  # refused before anything is written
            build = lambda _stored: fixed  # noqa: E731

        def step(session: Session, row: IncidentRow | None) -> _Step:
            stored = incident
            if row is not None:
                stored = incident.model_copy(update={name: getattr(row, name) for name in LOOP_FIELDS})
            upsert(session, IncidentRow, "id", _incident_values(stored), keep=LOOP_FIELDS)
            return IncidentChange(stored, message_type, stored.updated_at, lambda: build(stored)), None

        message = self._change(incident.id, step).message
        assert message is not None
        return message

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
        history: IncidentTransitionRow | None = None

        def step(session: Session, row: IncidentRow | None) -> _Step:
            nonlocal history
            if row is None:
                raise UnknownIncident(incident_id)
            plan = lifecycle.plan(
                row.status, target, role, reason=reason, department=department, staff=staff, note=note
            )
            history = IncidentTransitionRow(
                incident_id=incident_id,
                at=at,
                action=plan.action,
                from_status=row.status,
                to_status=plan.target.value,
                actor=actor,
                actor_role=role.value,
                note=note,
                reason=reason,
                attachments=list(attachments),
                department=department,
                staff=staff,
                rating=rating,
            )
            row.status = plan.target.value
            row.status_changed_at = at
            if plan.target in lifecycle.RESOLVED and row.resolved_at is None:
                row.resolved_at = at
            if department is not None or staff is not None:
                row.assignee_department, row.assignee_staff = department, staff
            session.flush()
            incident = _incident_from_row(row)
            history.seq = 1  # a placeholder for validation; the real seq is set once the message is appended
            transition = _transition_from_row(history)
            change = IncidentChange(
                incident, MessageType.INCIDENT_TRANSITION.value, at, lambda: payload(incident, transition)
            )
            return change, history

        change = self._change(incident_id, step)
        assert history is not None and change.message is not None
        return TransitionResult(change.incident, _transition_from_row(history), change.message)

    def overdue_ids(self, now: datetime) -> list[str]:
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
        with self._database.reading() as session:
            return list(session.scalars(query))

    def record_overdue(
        self, incident_id: str, now: datetime, payload: Callable[[Incident], dict[str, Any]]
    ) -> PushMessage | None:
        """Mark the incident's overdue notice as sent and append its `incident.overdue` message, atomically;
        None (and nothing written) when it is not, or no longer, due one."""

        class NotDue(Exception):
            pass

        def step(session: Session, row: IncidentRow | None) -> _Step:
            if (
                row is None
                or row.overdue_notified_at is not None
                or row.resolved_at is not None
                or row.deadline > now
            ):
                raise NotDue
            row.overdue_notified_at = now
            incident = _incident_from_row(row)
            return IncidentChange(incident, MessageType.INCIDENT_OVERDUE.value, now, lambda: payload(incident)), None

        try:
            return self._change(incident_id, step).message
        except NotDue:
            return None

    # -------------------------------------------------------------------------------------------------- reads

    def get(self, incident_id: str) -> Incident | None:
        with self._database.reading() as session:
            row = session.get(IncidentRow, incident_id)
            return _incident_from_row(row) if row is not None else None

    def search(
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
        check_page(limit, offset)
        conditions: list[ColumnElement[bool]] = []
        if statuses is not None:
            conditions.append(IncidentRow.status.in_(list(statuses)))
        if ids is not None:
            conditions.append(IncidentRow.id.in_(list(ids)))
        if grid_code is not None:
            conditions.append(in_grid_subtree(IncidentRow.grid_code, grid_code))
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
        with self._database.reading() as session:
            rows = session.scalars(page_query).all()
            total = session.scalar(count_query) or 0
            return [_incident_from_row(row) for row in rows], total

    def unclosed(self, camera_id: str | None = None) -> list[Incident]:
        """Incidents not yet closed (test ones included), oldest opened first: what a restarted pipeline resumes."""
        query = select(IncidentRow).where(IncidentRow.closed_at.is_(None))
        if camera_id is not None:
            query = query.where(IncidentRow.camera_id == camera_id)
        query = query.order_by(IncidentRow.opened_at, IncidentRow.id)
        with self._database.reading() as session:
            return [_incident_from_row(row) for row in session.scalars(query)]

    def transitions(self, incident_id: str) -> list[IncidentTransition]:
        """The incident's closed-loop history, oldest first."""
        query = (
            select(IncidentTransitionRow)
            .where(IncidentTransitionRow.incident_id == incident_id)
            .order_by(IncidentTransitionRow.seq)
        )
        with self._database.reading() as session:
            return [_transition_from_row(row) for row in session.scalars(query)]
