"""Camera counters refreshed between health changes: in the store only, never a live message."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from models.db import PG_WRITE_LOCK_KEY
from models.incident import CameraStatusRecord
from models.repositories.camera_status import CameraCounters
from models.store import Store

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def online(camera_id: str) -> CameraStatusRecord:
    return CameraStatusRecord(camera_id=camera_id, state="online", since=T0, last_error=None, updated_at=T0,
                              frames_decoded=10, frames_dropped=0, analysed_fps=None)  # fmt: skip


def test_refresh_moves_the_counters_and_keeps_the_health(store: Store) -> None:
    store.cameras.record(online("gate"), "330106001001001", {"camera_id": "gate"})
    last_seq = store.push_log.last_seq()

    store.cameras.refresh_counters([CameraCounters("gate", 250, 4, 1.96)], T0 + timedelta(seconds=5))

    (status,) = store.cameras.statuses()
    assert (status.state, status.since, status.last_error) == ("online", T0, None)
    assert (status.frames_decoded, status.frames_dropped, status.analysed_fps) == (250, 4, 1.96)
    assert status.updated_at == T0 + timedelta(seconds=5)
    assert store.push_log.last_seq() == last_seq  # no message: counters ticking over are not news


def test_refresh_leaves_cameras_without_a_status_alone(store: Store) -> None:
    store.cameras.refresh_counters([CameraCounters("never-reported", 1, 0, None)], T0)

    assert store.cameras.statuses() == []
    assert store.push_log.last_seq() == 0


def test_refresh_with_nothing_changes_nothing(store: Store) -> None:
    store.cameras.record(online("gate"), None, {"camera_id": "gate"})

    store.cameras.refresh_counters([], T0 + timedelta(seconds=5))

    assert store.cameras.statuses() == [online("gate")]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_counters_refresh_while_another_transaction_holds_the_seq_lock(store: Store) -> None:
    """Counters append no message, so they do not wait for the cluster-wide seq lock (PostgreSQL's advisory lock
    that orders push messages): a pipeline's counters are not held up by another node writing an incident."""
    store.cameras.record(online("gate"), None, {"camera_id": "gate"})
    refreshed = threading.Event()
    with store.database.engine.connect() as holder, holder.begin():
        holder.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_WRITE_LOCK_KEY})
        message_writer = threading.Thread(
            target=lambda: store.cameras.record(online("gate"), None, {"camera_id": "gate"}), daemon=True
        )
        message_writer.start()
        counters = threading.Thread(
            target=lambda: (
                store.cameras.refresh_counters([CameraCounters("gate", 99, 1, 2.0)], T0 + timedelta(seconds=5)),
                refreshed.set(),
            ),
            daemon=True,
        )
        counters.start()
        assert refreshed.wait(10), "the counters waited for the seq lock"
        (status,) = store.cameras.statuses()
        assert (status.frames_decoded, status.frames_dropped, status.analysed_fps) == (99, 1, 2.0)
        message_writer.join(0.5)
        assert message_writer.is_alive()  # a message still waits for the lock: seq order is kept
    message_writer.join(10)
    assert not message_writer.is_alive()
