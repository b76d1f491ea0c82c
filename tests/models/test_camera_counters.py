"""Camera counters refreshed between health changes: in the store only, never a live message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
