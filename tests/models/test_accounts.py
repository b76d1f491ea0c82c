"""Accounts, login throttling and the audit log in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from models import accounts, audit
from models.accounts import ThrottleKind, ThrottlePolicy
from models.audit import AuditAction, AuditQuery
from models.store import Store

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
POLICY = ThrottlePolicy(
    max_failures=3, lockout=timedelta(seconds=60), max_lockout=timedelta(seconds=200), window=timedelta(minutes=15)
)
POLICIES = {ThrottleKind.USER: POLICY, ThrottleKind.ADDRESS: POLICY}


def attempt(store: Store, at: datetime, user: str = "admin", address: str = "10.0.0.1") -> accounts.Admission:
    keys = accounts.throttle_keys(user, address)
    with store.database.side_transaction() as connection:
        return accounts.admit_login(connection, keys, POLICIES, now=at)


def test_failures_lock_out_with_growing_lockouts_and_a_quiet_window_forgets(store: Store) -> None:
    assert [attempt(store, T0).admitted for _ in range(3)] == [True, True, True]  # the 3rd locks (if wrong)
    refused = attempt(store, T0 + timedelta(seconds=59))
    assert (refused.admitted, refused.retry_after) == (False, timedelta(seconds=1))
    assert attempt(store, T0 + timedelta(seconds=60)).admitted  # 4th failure: 120 s
    assert not attempt(store, T0 + timedelta(seconds=179)).admitted
    assert attempt(store, T0 + timedelta(seconds=180)).admitted  # 5th failure: 240 s, capped at 200
    assert not attempt(store, T0 + timedelta(seconds=379)).admitted
    fifth_lock = T0 + timedelta(seconds=380)
    with store.database.engine.connect() as connection:
        entries = accounts.list_throttled(connection, now=T0 + timedelta(seconds=379), locked_only=True)
    assert {(e.kind, e.name, e.failures, e.locked_until) for e in entries} == {
        (ThrottleKind.USER, "admin", 5, fifth_lock),
        (ThrottleKind.ADDRESS, "10.0.0.1", 5, fifth_lock),
    }
    # quiet for a whole window after the lockout: counting starts over
    later = fifth_lock + timedelta(minutes=16)
    assert attempt(store, later).locked == []


def test_a_right_password_takes_its_attempt_back(store: Store) -> None:
    attempt(store, T0)
    attempt(store, T0)
    admitted = attempt(store, T0)  # would lock both keys if it were wrong
    assert {e.kind for e in admitted.locked} == {ThrottleKind.USER, ThrottleKind.ADDRESS}
    with store.database.side_transaction() as connection:
        accounts.login_succeeded(connection, "admin", "10.0.0.1", POLICY)
    assert attempt(store, T0).admitted  # neither is locked
    with store.database.engine.connect() as connection:
        left = {(e.kind, e.failures) for e in accounts.list_throttled(connection, now=T0)}
    # the user starts over (then this last attempt); the address keeps the other failures
    assert left == {(ThrottleKind.USER, 1), (ThrottleKind.ADDRESS, 3)}


def test_concurrent_guesses_cannot_overtake_the_count(db_url: str) -> None:
    """Each attempt is counted before its password is checked, in a transaction holding the counter's row: of
    20 guesses at once (several API replicas: a Store each) only max_failures get to check a password."""
    stores = [Store(db_url) for _ in range(4)]
    stores[0].migrate()
    try:
        results: list[bool] = []
        lock = threading.Lock()

        def guess(store: Store) -> None:
            for _ in range(5):
                outcome = attempt(store, T0).admitted
                with lock:
                    results.append(outcome)

        threads = [threading.Thread(target=guess, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert (results.count(True), len(results)) == (POLICY.max_failures, 20)
    finally:
        for s in stores:
            s.close()


def test_users_and_api_keys(store: Store) -> None:
    with store.database.side_transaction() as connection:
        accounts.create_user(
            connection, "zhang", password_hash="$argon2id$x", role="operator", grid="330106001", by="admin", now=T0
        )
        with pytest.raises(accounts.AlreadyExists):
            accounts.create_user(connection, "zhang", password_hash="h", role="viewer", grid=None, by="a", now=T0)
    later = T0 + timedelta(minutes=5)
    with store.database.side_transaction() as connection:
        changed = accounts.update_user(connection, "zhang", now=later, grid=None, disabled=True)
        assert accounts.update_user(connection, "nobody", now=later, disabled=True) is None
    assert changed is not None
    assert (changed.grid, changed.disabled, changed.tokens_valid_after, changed.created_at) == (None, True, later, T0)

    with store.database.side_transaction() as connection:
        accounts.create_api_key(
            connection, "gis", key_sha256="a" * 64, role="viewer", grid=None, by="admin", now=T0
        )
    with store.database.engine.connect() as connection:
        assert accounts.api_key_by_digest(connection, "a" * 64) is not None
    with store.database.side_transaction() as connection:
        first = accounts.revoke_api_key(connection, "gis", by="admin", now=later)
        again = accounts.revoke_api_key(connection, "gis", by="other", now=later + timedelta(hours=1))
    assert first == again and again is not None and again.revoked_by == "admin"
    with store.database.engine.connect() as connection:
        assert accounts.api_key_by_digest(connection, "a" * 64) is None


def test_revoked_sessions_and_stale_counters_are_pruned(store: Store) -> None:
    with store.database.side_transaction() as connection:
        accounts.revoke_session(connection, "s1", now=T0, forget_after=T0 + timedelta(hours=16))
        accounts.revoke_session(connection, "s1", now=T0, forget_after=T0 + timedelta(hours=16))  # harmless twice
    attempt(store, T0)
    with store.database.side_transaction() as connection:
        assert accounts.prune(connection, now=T0 + timedelta(minutes=1), throttle_window=POLICY.window) == 0
        assert accounts.session_revoked(connection, "s1")
        assert accounts.prune(connection, now=T0 + timedelta(hours=17), throttle_window=POLICY.window) == 3
        assert not accounts.session_revoked(connection, "s1")


def test_audit_search_filters_pages_and_scopes(store: Store) -> None:
    with store.database.side_transaction() as connection:
        for n, (action, grid) in enumerate(
            [
                (AuditAction.LOGIN_FAILED, None),
                (AuditAction.LOGIN, "330106001"),
                (AuditAction.INCIDENT_TRANSITION, "330106001001001"),
                (AuditAction.INCIDENT_TRANSITION, "330106002001001"),
            ]
        ):
            audit.record(
                connection, at=T0 + timedelta(minutes=n), actor="beishan", actor_kind="user", action=action,
                grid_code=grid, details={"n": n},
            )  # fmt: skip
    with store.database.engine.connect() as connection:
        items, total = audit.search(connection, AuditQuery(), limit=2, offset=0)
        assert (total, [i.details["n"] for i in items]) == (4, [3, 2])
        items, total = audit.search(connection, AuditQuery(grid_code="330106001"), limit=10, offset=0)
        assert [i.details["n"] for i in items] == [2, 1]  # the subtree only, no grid-less events
        items, _ = audit.search(
            connection,
            AuditQuery(action=AuditAction.INCIDENT_TRANSITION, since=T0 + timedelta(minutes=3)),
            limit=10,
            offset=0,
        )
        assert [i.details["n"] for i in items] == [3]


def test_audit_events_past_their_retention_are_pruned(store: Store) -> None:
    with store.database.side_transaction() as connection:
        for days in (0, 10, 400):
            audit.record(connection, at=T0 - timedelta(days=days), actor="a", actor_kind="user",
                         action=AuditAction.LOGIN, details={"days": days})  # fmt: skip
        assert audit.prune(connection, before=T0 - timedelta(days=100)) == 1
    with store.database.engine.connect() as connection:
        items, total = audit.search(connection, AuditQuery(), limit=10, offset=0)
    assert [i.details["days"] for i in items] == [0, 10]
