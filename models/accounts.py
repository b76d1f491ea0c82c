"""Users, API keys, revoked login sessions and login throttling, kept in the store (0005_accounts_audit).

The config's `auth.users` and `auth.api_keys` are the bootstrap: they always work and cannot be changed through
the API. Everything an admin creates at run time lives here, so every API replica sees the same accounts:

- `users`: login name, argon2 password hash, role, grid subtree, disabled. `tokens_valid_after`: tokens issued
  before it are refused (a password reset or a disabling ends every session at once).
- `api_keys`: a service key by name, stored as its sha256 only (the key itself is shown once, at creation);
  `revoked_at` set = refused.
- `revoked_sessions`: login sessions ended by logout. A token names its session (`sid`); refreshing keeps the
  session, so revoking it refuses every token of that login. Rows go once the session could not live anyway.
- `login_throttle`: failed-login counters per user name and per client address (see `admit_login`).

Every function takes an open Session or Connection inside a transaction and commits nothing (like
`delivery.outbox`); `Database.side_transaction()` is the write transaction to use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    Row,
    String,
    Table,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models.db import Base, UTCDateTime

Executor = Session | Connection

THROTTLE_KEY_MAX = 128  # a throttle key's name part is cut here (real user names are at most 64 characters)

users = Table(
    "users",
    Base.metadata,
    Column("name", String, primary_key=True),
    Column("password_hash", String, nullable=False),
    Column("role", String, nullable=False),
    Column("grid", String, nullable=True),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("tokens_valid_after", UTCDateTime(), nullable=False),
)

api_keys = Table(
    "api_keys",
    Base.metadata,
    Column("name", String, primary_key=True),
    Column("key_sha256", String, nullable=False, unique=True),
    Column("role", String, nullable=False),
    Column("grid", String, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String, nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("revoked_by", String, nullable=True),
)

revoked_sessions = Table(
    "revoked_sessions",
    Base.metadata,
    Column("sid", String, primary_key=True),
    Column("revoked_at", UTCDateTime(), nullable=False),
    Column("forget_after", UTCDateTime(), nullable=False, index=True),
)

login_throttle = Table(
    "login_throttle",
    Base.metadata,
    Column("kind", String, primary_key=True),  # "user" or "address"
    Column("name", String, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UTCDateTime(), nullable=True),
    Column("locked_until", UTCDateTime(), nullable=True),
)


class ThrottleKind(StrEnum):
    USER = "user"
    ADDRESS = "address"


@dataclass(frozen=True)
class ThrottleKey:
    """What failed logins are counted against: a user name (known or not) or a client address."""

    kind: ThrottleKind
    name: str


@dataclass(frozen=True)
class StoredUser:
    name: str
    password_hash: str
    role: str
    grid: str | None
    disabled: bool
    created_at: datetime
    created_by: str
    updated_at: datetime
    tokens_valid_after: datetime


@dataclass(frozen=True)
class StoredApiKey:
    name: str
    key_sha256: str
    role: str
    grid: str | None
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None


@dataclass(frozen=True)
class ThrottleEntry:
    kind: ThrottleKind
    name: str
    failures: int
    last_failure_at: datetime | None
    locked_until: datetime | None


@dataclass(frozen=True)
class ThrottlePolicy:
    """When failed logins lock a user name or a client address out, and for how long.

    `max_failures` consecutive failures (forgotten once `window` has passed without one) lock the key for
    `lockout`; every further failure after a lockout doubles it, up to `max_lockout`.
    """

    max_failures: int
    lockout: timedelta
    max_lockout: timedelta
    window: timedelta

    def lock_for(self, failures: int) -> timedelta | None:
        if failures < self.max_failures:
            return None
        doublings = min(failures - self.max_failures, 32)
        return min(self.lockout * (2**doublings), self.max_lockout)


@dataclass(frozen=True)
class Admission:
    """Whether a login attempt may check its password now."""

    admitted: bool
    retry_after: timedelta | None  # refused: how long the lockout still lasts
    locked: list[ThrottleEntry]  # keys this attempt locked (if its password proves wrong they stay locked)


class AlreadyExists(Exception):
    """A user or API key with this name exists."""


# ------------------------------------------------------------------------------------------------- users


def _user(row: Row[Any]) -> StoredUser:
    return StoredUser(**row._mapping)


def _api_key(row: Row[Any]) -> StoredApiKey:
    return StoredApiKey(**row._mapping)


def _insert_new(executor: Executor, table: Table, values: dict[str, Any]) -> bool:
    """INSERT unless a row with this primary key (or unique value) exists; whether it was inserted. (RETURNING
    tells, where rowcount does not: PostgreSQL's driver gives -1 for an INSERT.)"""
    dialect = executor.get_bind().dialect.name if isinstance(executor, Session) else executor.dialect.name
    key = list(table.primary_key.columns)[0]
    statement: Any
    if dialect == "postgresql":
        statement = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - other backends
        statement = insert(table).values(**values)
    return executor.execute(statement.returning(key)).first() is not None


def create_user(
    executor: Executor, name: str, *, password_hash: str, role: str, grid: str | None, by: str, now: datetime
) -> StoredUser:
    values: dict[str, Any] = {
        "name": name,
        "password_hash": password_hash,
        "role": role,
        "grid": grid,
        "disabled": False,
        "created_at": now,
        "created_by": by,
        "updated_at": now,
        "tokens_valid_after": now,
    }
    if not _insert_new(executor, users, values):
        raise AlreadyExists(name)
    stored = get_user(executor, name)
    assert stored is not None
    return stored


def get_user(executor: Executor, name: str) -> StoredUser | None:
    row = executor.execute(select(users).where(users.c.name == name)).first()
    return _user(row) if row is not None else None


def list_users(executor: Executor) -> list[StoredUser]:
    return [_user(row) for row in executor.execute(select(users).order_by(users.c.name))]


def update_user(executor: Executor, name: str, *, now: datetime, **values: Any) -> StoredUser | None:
    """Change a user's role, grid, disabled flag or password hash; None when there is no such user.

    Disabling a user or changing its password ends its sessions (`tokens_valid_after` = now)."""
    allowed = {"role", "grid", "disabled", "password_hash"}
    if unknown := set(values) - allowed:
        raise ValueError(f"cannot change {sorted(unknown)}")
    changes = dict(values, updated_at=now)
    if values.get("disabled") or "password_hash" in values:
        changes["tokens_valid_after"] = now
    result = executor.execute(update(users).where(users.c.name == name).values(**changes))
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return get_user(executor, name)


# ----------------------------------------------------------------------------------------------- API keys


def create_api_key(
    executor: Executor, name: str, *, key_sha256: str, role: str, grid: str | None, by: str, now: datetime
) -> StoredApiKey:
    values: dict[str, Any] = {
        "name": name,
        "key_sha256": key_sha256,
        "role": role,
        "grid": grid,
        "created_at": now,
        "created_by": by,
        "revoked_at": None,
        "revoked_by": None,
    }
    if not _insert_new(executor, api_keys, values):
        raise AlreadyExists(name)
    stored = get_api_key(executor, name)
    assert stored is not None
    return stored


def api_key_by_digest(executor: Executor, key_sha256: str) -> StoredApiKey | None:
    """The key with this sha256 that has not been revoked."""
    row = executor.execute(
        select(api_keys).where(api_keys.c.key_sha256 == key_sha256, api_keys.c.revoked_at.is_(None))
    ).first()
    return _api_key(row) if row is not None else None


def get_api_key(executor: Executor, name: str) -> StoredApiKey | None:
    row = executor.execute(select(api_keys).where(api_keys.c.name == name)).first()
    return _api_key(row) if row is not None else None


def list_api_keys(executor: Executor) -> list[StoredApiKey]:
    return [_api_key(row) for row in executor.execute(select(api_keys).order_by(api_keys.c.name))]


def revoke_api_key(executor: Executor, name: str, *, by: str, now: datetime) -> StoredApiKey | None:
    """Revoke the key (once: revoking again keeps the first revocation); None when there is no such key."""
    executor.execute(
        update(api_keys)
        .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=by)
    )
    return get_api_key(executor, name)


# ------------------------------------------------------------------------------------------------ sessions


def revoke_session(executor: Executor, sid: str, *, now: datetime, forget_after: datetime) -> None:
    """End a login session: every token naming `sid` is refused from now on. `forget_after` is when the session
    would have ended anyway (its last token expired), after which the row may go."""
    _insert_new(executor, revoked_sessions, {"sid": sid, "revoked_at": now, "forget_after": forget_after})


def session_revoked(executor: Executor, sid: str) -> bool:
    return executor.execute(select(revoked_sessions.c.sid).where(revoked_sessions.c.sid == sid)).first() is not None


def prune(executor: Executor, *, now: datetime, throttle_window: timedelta) -> int:
    """Drop revoked sessions that could not be used anyway and throttle counters whose window and lockout passed."""
    removed = executor.execute(delete(revoked_sessions).where(revoked_sessions.c.forget_after < now)).rowcount  # type: ignore[attr-defined]
    stale = now - throttle_window
    removed += executor.execute(  # type: ignore[attr-defined]
        delete(login_throttle).where(
            or_(login_throttle.c.last_failure_at.is_(None), login_throttle.c.last_failure_at < stale),
            or_(login_throttle.c.locked_until.is_(None), login_throttle.c.locked_until < now),
        )
    ).rowcount
    return int(removed)


# -------------------------------------------------------------------------------------------- throttling


def _throttle_entry(row: Row[Any]) -> ThrottleEntry:
    return ThrottleEntry(
        kind=ThrottleKind(row.kind),
        name=row.name,
        failures=row.failures,
        last_failure_at=row.last_failure_at,
        locked_until=row.locked_until,
    )


def _locked_row(executor: Executor, kind: ThrottleKind, name: str) -> Row[Any]:
    """The counter row, created when missing, locked for this transaction (PostgreSQL: FOR UPDATE; SQLite: the
    insert already took the database's write lock)."""
    _insert_new(executor, login_throttle, {"kind": kind.value, "name": name, "failures": 0})
    query = select(login_throttle).where(login_throttle.c.kind == kind.value, login_throttle.c.name == name)
    row = executor.execute(query.with_for_update()).first()
    assert row is not None
    return row


def throttle_keys(user: str, address: str | None) -> list[ThrottleKey]:
    keys = [ThrottleKey(ThrottleKind.USER, user[:THROTTLE_KEY_MAX])]
    if address:
        keys.append(ThrottleKey(ThrottleKind.ADDRESS, address[:THROTTLE_KEY_MAX]))
    return keys


def admit_login(
    executor: Executor,
    keys: Sequence[ThrottleKey],
    policies: Mapping[ThrottleKind, ThrottlePolicy],
    *,
    now: datetime,
) -> Admission:
    """Decide whether a login attempt may check its password, counting it as a failure until it proves right.

    Refused (nothing counted) while any key is locked out. Admitted otherwise, and already counted as a failure
    of every key, so concurrent guesses (on any API replica) cannot all slip in before the first failure is
    written: the attempt that reaches a key's `max_failures` locks it. A right password then calls
    `login_succeeded`, which takes the attempt back.
    """
    rows = [(key, _locked_row(executor, key.kind, key.name)) for key in keys]
    waits = [row.locked_until - now for _, row in rows if row.locked_until is not None and row.locked_until > now]
    if waits:
        return Admission(False, max(waits), [])
    locked = []
    for key, row in rows:
        kind, name, policy = key.kind, key.name, policies[key.kind]
        failures = row.failures
        last_seen = max((t for t in (row.last_failure_at, row.locked_until) if t is not None), default=None)
        if last_seen is not None and now - last_seen > policy.window:
            failures = 0  # quiet for a whole window: start over
        failures += 1
        lock = policy.lock_for(failures)
        locked_until = now + lock if lock is not None else None
        executor.execute(
            update(login_throttle)
            .where(login_throttle.c.kind == kind.value, login_throttle.c.name == name)
            .values(failures=failures, last_failure_at=now, locked_until=locked_until)
        )
        if locked_until is not None:
            locked.append(ThrottleEntry(kind, name, failures, now, locked_until))
    return Admission(True, None, locked)


def login_succeeded(
    executor: Executor, user: str, address: str | None, address_policy: ThrottlePolicy
) -> None:
    """Take back the failure `admit_login` counted: the user's counter starts over; the address's loses this one
    attempt (one good login from an address must not clear the guesses at other accounts made from it)."""
    executor.execute(
        delete(login_throttle).where(
            login_throttle.c.kind == ThrottleKind.USER.value, login_throttle.c.name == user[:THROTTLE_KEY_MAX]
        )
    )
    if not address:
        return
    where = (login_throttle.c.kind == ThrottleKind.ADDRESS.value) & (
        login_throttle.c.name == address[:THROTTLE_KEY_MAX]
    )
    row = executor.execute(select(login_throttle).where(where)).first()
    if row is None:
        return
    failures = max(row.failures - 1, 0)
    values: dict[str, Any] = {"failures": failures}
    if address_policy.lock_for(failures) is None:
        # Below the limit without this attempt: the lock (if any) came from this very attempt, which proved right
        # (while a key is locked no attempt is counted, so no other one can have raised it).
        values["locked_until"] = None
    executor.execute(update(login_throttle).where(where).values(**values))


def list_throttled(
    executor: Executor, *, now: datetime, locked_only: bool = False, limit: int = 1000
) -> list[ThrottleEntry]:
    """Keys with failures counted, the longest locked first, then those not locked, at most `limit`."""
    query = select(login_throttle).where(login_throttle.c.failures > 0)
    if locked_only:
        query = query.where(login_throttle.c.locked_until > now)
    query = query.order_by(
        login_throttle.c.locked_until.desc().nulls_last(), login_throttle.c.kind, login_throttle.c.name
    ).limit(limit)
    return [_throttle_entry(row) for row in executor.execute(query)]


def clear_throttle(executor: Executor, kind: ThrottleKind, name: str) -> bool:
    """Lift a lockout and forget the failures (an admin unlocking a user or an address); whether there was one."""
    result = executor.execute(
        delete(login_throttle).where(login_throttle.c.kind == kind.value, login_throttle.c.name == name)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
