"""Delivery administration, for the admin routes (`api/routes/deliveries.py`): how each endpoint stands, the dead
letters, redelivery. Each call is one transaction of its own on the store's database."""

from __future__ import annotations

from datetime import datetime

from api.delivery import outbox
from models.store import Store


def list_dead_letters(
    store: Store, *, endpoint: str | None, limit: int, offset: int
) -> tuple[list[outbox.Delivery], int]:
    with store.database.engine.connect() as connection:
        return outbox.list_dead_letters(connection, endpoint=endpoint, limit=limit, offset=offset)


def redeliver(store: Store, delivery_id: int, now: datetime) -> outbox.Delivery | None:
    """A dead letter made pending again (the worker picks it up at its next poll). None if unknown; NotDeadError."""
    with store.database.side_transaction() as connection:
        return outbox.redeliver(connection, delivery_id, now=now)


def get_delivery(store: Store, delivery_id: int) -> outbox.Delivery | None:
    with store.database.engine.connect() as connection:
        return outbox.get_delivery(connection, delivery_id)


def delivery_counts(store: Store) -> dict[str, dict[str, int]]:
    with store.database.engine.connect() as connection:
        return outbox.delivery_counts(connection)
