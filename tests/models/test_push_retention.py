"""Pruning the live-push log: old messages go, the newest and each camera's latest status stay, seqs go on growing,
and the watermark (`pruned_through_seq`) says from where a resume is still gapless. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from models.store import Store
from tests.models.test_store import T0, make_camera_status, make_incident

DAY = timedelta(days=1)


def seqs(store: Store, after: int = 0) -> list[int]:
    return [m.seq for m in store.push_log.since(after)]


def test_prune_removes_old_messages_but_keeps_the_newest_and_each_cameras_latest_status(store: Store) -> None:
    minute = timedelta(minutes=1)
    store.cameras.record(make_camera_status("cam-a", "connecting", T0), "330106001", {})  # 1
    incident = make_incident("inc-1", opened_at=T0 + minute)
    store.incidents.record(incident, "incident.opened", {})  # 2
    store.cameras.record(make_camera_status("cam-b", "offline", T0 + 2 * minute), "330106001", {})  # 3
    store.cameras.record(make_camera_status("cam-a", "online", T0 + 3 * minute), "330106001", {})  # 4
    updated = incident.model_copy(update={"updated_at": T0 + 4 * minute, "peak_count": 9})
    store.incidents.record(updated, "incident.updated", {})  # 5
    store.incidents.record(make_incident("inc-2", opened_at=T0 + 2 * DAY), "incident.opened", {})  # 6
    store.incidents.record(make_incident("inc-3", opened_at=T0 + 3 * DAY), "incident.opened", {})  # 7
    statuses_before = store.push_log.latest_camera_messages()
    resumed_before = store.push_log.since(5)

    assert store.push_log.prune(T0 + DAY) == 3

    assert seqs(store) == [3, 4, 6, 7]  # each camera's latest status (old as they are) and the recent ones
    assert store.push_log.pruned_through_seq() == 5  # not min(seq) - 1: a kept status sits below it
    assert [m.seq for m in statuses_before] == [3, 4]
    assert store.push_log.latest_camera_messages() == statuses_before
    assert store.push_log.last_seq() == 7
    assert store.push_log.since(5) == resumed_before  # from the watermark on, nothing is missing
    assert store.incidents.get("inc-1") == updated  # the incidents themselves are not the log's to remove
    assert store.incidents.record(make_incident(), "incident.opened", {}).seq == 8


def test_pruning_everything_old_keeps_last_seq_and_seqs_keep_growing(db_url: str) -> None:
    with Store(db_url) as store:
        store.migrate()
        assert store.push_log.prune(T0) == 0  # an empty log
        assert store.push_log.pruned_through_seq() == 0
        for n in range(3):
            store.incidents.record(make_incident(opened_at=T0 + n * timedelta(minutes=1)), "incident.opened", {})

        assert store.push_log.prune(T0 + 30 * DAY) == 2

        assert seqs(store) == [3]  # the newest message stays, however old
        assert store.push_log.last_seq() == 3
        assert store.push_log.pruned_through_seq() == 2
        assert store.push_log.prune(T0 + 30 * DAY) == 0  # a second run (another replica) changes nothing
        assert store.push_log.pruned_through_seq() == 2
        assert store.incidents.record(make_incident(), "incident.opened", {}).seq == 4

    with Store(db_url) as reopened:  # the watermark is stored, not remembered
        reopened.migrate()
        assert reopened.push_log.pruned_through_seq() == 2
        assert reopened.push_log.last_seq() == 4


def test_prune_in_batches_removes_the_same_and_ends_at_the_highest_removed(store: Store) -> None:
    for n in range(12):
        store.incidents.record(make_incident(opened_at=T0 + n * timedelta(minutes=1)), "incident.opened", {})
    store.incidents.record(make_incident(opened_at=T0 + 2 * DAY), "incident.opened", {})  # 13: recent

    assert store.push_log.prune(T0 + DAY, batch=5) == 12

    assert seqs(store) == [13]
    assert store.push_log.pruned_through_seq() == 12


def test_a_message_dated_out_of_order_waits_for_the_ones_before_it(store: Store) -> None:
    """What goes is the log's oldest stretch: a resume from after a kept message never misses an older-dated one."""
    store.incidents.record(make_incident(opened_at=T0), "incident.opened", {})  # 1: old
    store.incidents.record(make_incident(opened_at=T0 + 2 * DAY), "incident.opened", {})  # 2: recent
    store.incidents.record(make_incident(opened_at=T0 + timedelta(hours=1)), "incident.opened", {})  # 3: old
    store.incidents.record(make_incident(opened_at=T0 + 3 * DAY), "incident.opened", {})  # 4: recent

    assert store.push_log.prune(T0 + DAY) == 1

    assert seqs(store) == [2, 3, 4]
    assert store.push_log.pruned_through_seq() == 1
