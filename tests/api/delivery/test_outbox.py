"""The delivery outbox against real databases (a fresh SQLite file and PostgreSQL, see tests/models/conftest.py): written with
the change it announces, admitted per endpoint, claimed in order per incident, leased, dead-lettered, redelivered."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from api.delivery import outbox
from api.delivery.outbox import DeliveryState, NotDeadError
from models.incident import MessageType
from models.lifecycle import IllegalTransition, Role
from models.store import Store
from models.views import incident_view, transition_message_view
from tests.models.test_store import T0, make_incident

EP = "grid-center"
LEASE = timedelta(seconds=30)
T = TypeVar("T")


def run(store: Store, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """One outbox operation in a transaction of its own, as the delivery worker runs them."""
    with store.database.side_transaction() as connection:
        return operation(connection, *args, **kwargs)


def record(store: Store, incident_id: str, n: int = 1, *, is_test: bool = False) -> list[str]:
    """`n` changes of one incident (opened, then updates) through the store; their outbox event ids."""
    ids = []
    for i in range(n):
        at = T0 + timedelta(minutes=i)
        incident = make_incident(incident_id, updated_at=at, peak_count=i, is_test=is_test)
        kind = MessageType.INCIDENT_OPENED if i == 0 else MessageType.INCIDENT_UPDATED
        message = store.incidents.record(incident, kind.value, incident_view)
        events = run(store, outbox.list_events)
        assert events[-1].incident_id == incident_id and events[-1].data == message.data
        ids.append(events[-1].id)
    return ids


def claim(
    store: Store, now: datetime = T0, limit: int = 100, endpoint: str = EP
) -> list[outbox.ClaimedDelivery]:
    return run(store, outbox.claim, endpoint, now=now, lease_until=now + LEASE, limit=limit)


def admitted(
    store: Store, *, include_tests: bool = False, replay_history: bool = True, endpoint: str = EP
) -> int:
    run(store, outbox.ensure_cursor, endpoint, replay_history=replay_history)
    return run(store, outbox.admit, endpoint, include_tests=include_tests, now=T0)


def ids(claimed: list[outbox.ClaimedDelivery]) -> list[str]:
    return [c.event.id for c in claimed]


# ------------------------------------------------------------------------------------------------ written with


def test_every_incident_change_is_in_the_outbox_with_its_message(store: Store) -> None:
    first = make_incident("inc-1")
    opened = store.incidents.record(first, MessageType.INCIDENT_OPENED.value, incident_view)
    closed_at = T0 + timedelta(minutes=5)
    closed = store.incidents.record(
        first.model_copy(update={"closed_at": closed_at, "updated_at": closed_at}),
        MessageType.INCIDENT_CLOSED.value,
        incident_view,
    )
    step = store.incidents.record_transition(
        "inc-1",
        "filed",
        actor="op-1",
        role=Role.OPERATOR,
        at=T0 + timedelta(minutes=6),
        payload=transition_message_view,
    )
    events = run(store, outbox.list_events)
    assert [(e.type, e.time, e.data) for e in events] == [
        ("incident.opened", T0, opened.data),
        ("incident.closed", closed_at, closed.data),
        ("incident.transition", T0 + timedelta(minutes=6), step.message.data),
    ]
    assert {e.incident_id for e in events} == {"inc-1"} and {e.camera_id for e in events} == {first.camera_id}
    assert len({e.id for e in events}) == 3 and all(len(e.id) == 32 for e in events)
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert events[2].data["status"] == "filed" and events[2].data["transition"]["action"] == "file"


def test_a_change_that_fails_writes_nothing_to_the_outbox(store: Store) -> None:
    store.incidents.record(make_incident("inc-1"), MessageType.INCIDENT_OPENED.value, incident_view)
    with pytest.raises(IllegalTransition):  # reported -> closed is not a step of the loop
        store.incidents.record_transition(
            "inc-1", "closed", actor="op-1", role=Role.ADMIN, at=T0, payload=transition_message_view
        )
    assert [e.type for e in run(store, outbox.list_events)] == ["incident.opened"]


def test_camera_statuses_are_not_delivered(store: Store) -> None:
    from tests.models.test_store import make_camera_status

    store.cameras.record(make_camera_status(), "330106001001", {"state": "online"})
    assert run(store, outbox.list_events) == []


def test_empty_outbox(store: Store) -> None:
    assert admitted(store) == 0
    assert claim(store) == []
    assert run(store, outbox.list_dead_letters) == ([], 0)
    assert run(store, outbox.delivery_counts) == {}
    assert run(store, outbox.get_delivery, 1) is None
    assert run(store, outbox.redeliver, 1, now=T0) is None


# ---------------------------------------------------------------------------------------------------- admission


def test_a_new_endpoint_starts_with_the_next_change_unless_it_replays_history(store: Store) -> None:
    before = record(store, "inc-1", 2)
    assert admitted(store, replay_history=False, endpoint="new") == 0
    assert admitted(store, replay_history=True, endpoint="replaying") == 2
    after = record(store, "inc-1", 1)  # a third write of inc-1: an "opened" again, fine here
    assert admitted(store, endpoint="new") == 1 and admitted(store, endpoint="replaying") == 1
    assert ids(claim(store, endpoint="new")) == after
    assert ids(claim(store, endpoint="replaying")) == before[:1]  # one at a time for one incident
    run(store, outbox.ensure_cursor, "new", replay_history=True)  # an existing cursor is left alone
    assert admitted(store, endpoint="new") == 0


@pytest.mark.parametrize(("include_tests", "expected"), [(False, ["real"]), (True, ["real", "test"])])
def test_test_incidents_are_delivered_only_when_asked(
    store: Store, include_tests: bool, expected: list[str]
) -> None:
    record(store, "test", is_test=True)
    record(store, "real")
    assert admitted(store, include_tests=include_tests) == len(expected)
    assert sorted(c.event.incident_id for c in claim(store)) == expected
    assert admitted(store, include_tests=include_tests) == 0  # the cursor moved past the skipped one too


def test_admit_needs_a_cursor(store: Store) -> None:
    with pytest.raises(LookupError):
        run(store, outbox.admit, "nobody", include_tests=False, now=T0)


def test_admission_in_batches_loses_nothing(store: Store) -> None:
    for n in range(7):
        record(store, f"inc-{n}")
    run(store, outbox.ensure_cursor, EP, replay_history=True)
    batches = [run(store, outbox.admit, EP, include_tests=False, now=T0, limit=3) for _ in range(4)]
    assert batches == [3, 3, 1, 0]
    assert len(claim(store)) == 7


# ------------------------------------------------------------------------------------------ order per incident


def test_one_incident_one_change_at_a_time_others_do_not_wait(store: Store) -> None:
    a = record(store, "a", 3)
    b = record(store, "b", 2)
    admitted(store)
    first = claim(store)
    assert ids(first) == [a[0], b[0]] and [c.attempt for c in first] == [1, 1]
    assert claim(store) == []  # both heads are in flight: the rest wait
    assert run(store, outbox.ack, first[0].delivery_id, now=T0, status=200)
    assert ids(claim(store)) == [a[1]]  # a's next change, only once its first was acknowledged
    assert run(store, outbox.ack, first[1].delivery_id, now=T0, status=204)
    assert ids(claim(store)) == [b[1]]


def test_a_failed_change_holds_back_its_incident_until_it_is_retried(store: Store) -> None:
    a = record(store, "a", 2)
    admitted(store)
    [head] = claim(store)
    retry_at = T0 + timedelta(seconds=10)
    assert run(store, outbox.fail, head.delivery_id, retry_at=retry_at, error="HTTP 503", status=503)
    assert claim(store, T0 + timedelta(seconds=9)) == []  # not due, and a[1] waits behind it
    again = claim(store, retry_at)
    assert ids(again) == [a[0]] and again[0].attempt == 2
    delivery = run(store, outbox.get_delivery, head.delivery_id)
    assert (delivery.state, delivery.attempts, delivery.last_status, delivery.last_error) == (
        "pending",
        2,
        503,
        "HTTP 503",
    )
    assert run(store, outbox.ack, head.delivery_id, now=retry_at, status=200)
    assert ids(claim(store, retry_at)) == [a[1]]


def test_a_claim_is_a_lease(store: Store) -> None:
    a = record(store, "a")
    admitted(store)
    [held] = claim(store)
    assert claim(store, T0 + LEASE - timedelta(seconds=1)) == []
    [taken_again] = claim(store, T0 + LEASE)  # the worker that held it is gone: someone sends it again
    assert taken_again.event.id == a[0] and taken_again.attempt == 2
    run(store, outbox.release, [taken_again.delivery_id])
    assert claim(store, T0 + LEASE)[0].attempt == 3  # released: due at once


def test_dead_letters_hold_back_their_incident_until_redelivered(store: Store) -> None:
    a = record(store, "a", 3)
    b = record(store, "b", 1)
    admitted(store)
    heads = claim(store)
    assert run(store, outbox.dead_letter, heads[0].delivery_id, now=T0, error="HTTP 400", status=400)
    assert run(store, outbox.ack, heads[1].delivery_id, now=T0, status=200)
    assert claim(store, T0 + timedelta(hours=1)) == []  # a[1], a[2] wait behind the dead a[0]

    letters, total = run(store, outbox.list_dead_letters)
    assert total == 1
    [letter] = letters
    assert (letter.event_id, letter.incident_id, letter.endpoint, letter.state) == (a[0], "a", EP, "dead")
    assert (letter.attempts, letter.last_status, letter.last_error, letter.waiting) == (1, 400, "HTTP 400", 2)
    assert letter.event_type == "incident.opened" and letter.dead_at == T0
    assert run(store, outbox.list_dead_letters, endpoint="other") == ([], 0)
    assert run(store, outbox.delivery_counts) == {EP: {"dead": 1, "delivered": 1, "pending": 2}}

    with pytest.raises(NotDeadError):
        run(store, outbox.redeliver, heads[1].delivery_id, now=T0)  # delivered, not dead
    later = T0 + timedelta(hours=2)
    redelivered = run(store, outbox.redeliver, letter.id, now=later)
    assert (redelivered.state, redelivered.attempts, redelivered.next_attempt_at) == ("pending", 0, later)
    assert run(store, outbox.list_dead_letters) == ([], 0)
    for expected in a:
        [next_one] = claim(store, later)
        assert next_one.event.id == expected
        run(store, outbox.ack, next_one.delivery_id, now=later, status=200)
    assert claim(store, later) == [] and b


def test_ack_fail_and_dead_letter_only_touch_pending_deliveries(store: Store) -> None:
    record(store, "a")
    admitted(store)
    [head] = claim(store)
    assert run(store, outbox.ack, head.delivery_id, now=T0, status=200)
    assert not run(store, outbox.ack, head.delivery_id, now=T0, status=200)
    assert not run(store, outbox.fail, head.delivery_id, retry_at=T0, error="late")
    assert not run(store, outbox.dead_letter, head.delivery_id, now=T0, error="late")
    assert run(store, outbox.get_delivery, head.delivery_id).state == DeliveryState.DELIVERED


def test_concurrent_workers_never_claim_the_same_delivery(store: Store) -> None:
    """Four workers (threads, each with its own connections) claim at once until nothing is left: every delivery
    is claimed by exactly one, and no incident ever has two changes out at once."""
    for n in range(40):
        record(store, f"inc-{n % 10}")  # 10 incidents, 4 changes each
    admitted(store)
    claimed: list[int] = []
    out: set[str] = set()  # incidents with a change claimed and not yet acknowledged
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            idle = 0
            while idle < 20:
                got = claim(store, limit=3)
                idle = 0 if got else idle + 1
                with lock:
                    for c in got:
                        assert c.event.incident_id not in out, f"{c.event.incident_id} has two changes out"
                        out.add(c.event.incident_id)
                        claimed.append(c.delivery_id)
                for c in got:
                    # Forgotten before the ack commits: nobody can claim the incident's next change earlier.
                    with lock:
                        out.discard(c.event.incident_id)
                    run(store, outbox.ack, c.delivery_id, now=T0, status=200)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(claimed) == len(set(claimed)) == 40
    assert run(store, outbox.delivery_counts) == {EP: {"delivered": 40}}


# ------------------------------------------------------------------------------------------------ retention


def test_pruning_removes_only_old_changes_every_endpoint_has_received(store: Store) -> None:
    a = record(store, "a", 2)
    b = record(store, "b", 1)
    admitted(store)
    admitted(store, endpoint="other")
    for endpoint in (EP, "other"):
        heads = claim(store, endpoint=endpoint)
        assert ids(heads) == [a[0], b[0]]
        run(store, outbox.ack, heads[0].delivery_id, now=T0, status=200)
        if endpoint == EP:
            run(store, outbox.ack, heads[1].delivery_id, now=T0, status=200)
        else:  # b's change is still owed to "other"
            run(store, outbox.dead_letter, heads[1].delivery_id, now=T0, error="HTTP 400", status=400)
    now = datetime.now(UTC)
    endpoints = [EP, "other"]

    assert run(store, outbox.prune, endpoints=endpoints, before=now - timedelta(days=1)) == 0  # all too recent
    assert run(store, outbox.prune, endpoints=endpoints, before=now + timedelta(days=1)) == 1
    assert [e.id for e in run(store, outbox.list_events)] == [a[1], b[0]]  # a[1] pending, b[0] a dead letter
    assert run(store, outbox.delivery_counts) == {EP: {"pending": 1, "delivered": 1}, "other": {"dead": 1, "pending": 1}}
    assert ids(claim(store)) == [a[1]]  # what is left still goes out in order

    # A change not yet admitted by an endpoint (written after its cursor) is kept even when nothing is pending.
    c = record(store, "c", 1)
    assert run(store, outbox.prune, endpoints=endpoints, before=now + timedelta(days=1)) == 0
    assert c[0] in [e.id for e in run(store, outbox.list_events)]

    # With no endpoint configured, nothing will ever be owed: old changes simply go.
    assert run(store, outbox.prune, endpoints=[], before=now + timedelta(days=1)) == 3
    assert run(store, outbox.list_events) == [] and run(store, outbox.delivery_counts) == {}
