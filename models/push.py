"""Live push behind publish/subscribe, durable first.

`PushJournal` is what camera pipelines write through: it commits the change and its push message in one
transaction, then publishes the message. The API learns of new incidents only through a `Publisher`'s
subscribers and the store, never by sharing memory with a pipeline, so a broker (Redis, NATS, MQTT) can take
`LocalBroker`'s place when pipelines run on other nodes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from models.database import Database
from models.incident import CameraStatusRecord, Incident, PushMessage
from models.lifecycle import Role
from models.outbox_tables import enqueue_incident_change
from models.repositories.incidents import IncidentChange, IncidentPayload, TransitionResult
from models.repositories.push_log import PushLog, json_safe
from models.views import incident_view, transition_message_view

if TYPE_CHECKING:
    from models.store import Store

log = logging.getLogger(__name__)

Subscriber = Callable[[PushMessage], None]


class Publisher(Protocol):
    def publish(self, message: PushMessage) -> None: ...


class LocalBroker:
    """In-process fan-out. One failing subscriber never stops the others."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, message: PushMessage) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(message)
            except Exception:
                log.exception("push subscriber failed on message %s; others continue", message.seq)


def announce_incident_changes(database: Database, push_log: PushLog) -> None:
    """Give every incident change written through `database` its push message and its delivery-outbox row, in
    the change's own transaction (`models.store.Store` calls this whenever a store is opened).

    The message's data is the caller's view of the change (`incident_view`, ...), built here, not by the
    repository; the outbox row carries the same data, so the incident system sees what websocket clients see.
    """

    def announce(session: Session, change: IncidentChange) -> None:
        data = json_safe(change.message_data())
        incident = change.incident
        change.message = push_log.append(
            session,
            change.message_type,
            at=change.at,
            camera_id=incident.camera_id,
            grid_code=incident.grid_code,
            category_code=incident.category_code,
            data=data,
        )
        change.outbox_event_id = enqueue_incident_change(
            session, incident, change.message_type, at=change.at, data=data
        )

    database.on_change(IncidentChange, announce)


class PushJournal:
    """Record, then publish, under one lock so subscribers see messages in sequence order."""

    def __init__(self, store: Store, publisher: Publisher) -> None:
        self.store = store
        self.publisher = publisher
        self._lock = threading.Lock()

    def incident(self, incident: Incident, message_type: str, payload: IncidentPayload) -> PushMessage:
        with self._lock:
            message = self.store.incidents.record(incident, message_type, payload)
            self.publisher.publish(message)
        return message

    def transition(
        self,
        incident_id: str,
        target: str,
        *,
        actor: str,
        role: Role,
        at: datetime,
        note: str | None = None,
        reason: str | None = None,
        attachments: Sequence[str] = (),
        department: str | None = None,
        staff: str | None = None,
        rating: int | None = None,
    ) -> TransitionResult:
        """One closed-loop step (see IncidentRepository.record_transition), then its `incident.transition` message pushed."""
        with self._lock:
            result = self.store.incidents.record_transition(
                incident_id,
                target,
                actor=actor,
                role=role,
                at=at,
                payload=transition_message_view,
                note=note,
                reason=reason,
                attachments=attachments,
                department=department,
                staff=staff,
                rating=rating,
            )
            self.publisher.publish(result.message)
        return result

    def overdue(self, now: datetime) -> list[PushMessage]:
        """Flag every incident that passed its deadline unresolved and push `incident.overdue`, once per incident."""
        sent = []
        for incident_id in self.store.incidents.overdue_ids(now):
            with self._lock:
                message = self.store.incidents.record_overdue(incident_id, now, lambda incident: incident_view(incident, now))
                if message is not None:
                    self.publisher.publish(message)
                    sent.append(message)
        return sent

    def camera_status(self, status: CameraStatusRecord, grid_code: str | None, payload: dict[str, Any]) -> PushMessage:
        with self._lock:
            message = self.store.cameras.record(status, grid_code, payload)
            self.publisher.publish(message)
        return message
