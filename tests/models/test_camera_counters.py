"""Camera counters refreshed between health changes: in the store only, never a live message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.incident import CameraStatusRecord
from models.store import CameraCounters, Store

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def online(camera_id: str) -> CameraStatusRecord:
    return CameraStatusRecord(camera_id=camera_id, state="online", since=T0, last_error=None, updated_at=T0,
                              frames_decoded=10, frames_dropped=0, analysed_fps=None)  # fmt: skip


def test_refresh_moves_the_counters_and_keeps_the_health(store: Store) -> None:
    store.record_camera_status(online("gate"), "330106001001001", {"camera_id": "gate"})
    last_seq = store.last_seq()

    store.refresh_camera_counters([CameraCounters("gate", 250, 4, 1.96)], T0 + timedelta(seconds=5))

    (status,) = store.camera_statuses()
    assert (status.state, status.since, status.last_error) == ("online", T0, None)
    assert (status.frames_decoded, status.frames_dropped, status.analysed_fps) == (250, 4, 1.96)
    assert status.updated_at == T0 + timedelta(seconds=5)
    assert store.last_seq() == last_seq  # no message: counters ticking over are not news


def test_refresh_leaves_cameras_without_a_status_alone(store: Store) -> None:
    store.refresh_camera_counters([CameraCounters("never-reported", 1, 0, None)], T0)

    assert store.camera_statuses() == []
    assert store.last_seq() == 0


def test_refresh_with_nothing_changes_nothing(store: Store) -> None:
    store.record_camera_status(online("gate"), None, {"camera_id": "gate"})

    store.refresh_camera_counters([], T0 + timedelta(seconds=5))

    assert store.camera_statuses() == [online("gate")]
