"""One database: its engine, its sessions, the write transaction every writer shares, and the hooks that run in it.

The repositories (`models.repositories`) each own one aggregate and all go through one `Database`: reads open a
session of their own, writes go through `writing()`. A change that must commit together with something another
part owns (an incident change and the push message and outbox row that announce it) is handed to `announce()` inside
the write transaction, and the hooks registered for its kind write their part there; with no hook registered the
change cannot commit at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

import models.accounts  # noqa: F401 - the account tables (0005) are on Base.metadata too
import models.audit  # noqa: F401 - and the audit log's
import models.outbox_tables  # noqa: F401 - and the delivery outbox's
import models.sightings  # noqa: F401 - and the sightings' (0008)
import models.video_checks  # noqa: F401 - and the video checks' (0007)
from models.db import PG_WRITE_LOCK_KEY, make_engine, upgrade_to_head

Change = TypeVar("Change")
Hook = Callable[[Session, Any], None]

# Writers to one database from this process share one lock, even across several Database objects (the API and the
# pipelines may each open their own). Holding it from the message insert until after COMMIT makes seq order equal
# commit order, so a reader that has seen seq N can never later discover a committed message with a smaller seq.
# Across processes: SQLite's single write lock already gives that (the seq is allocated under it); on PostgreSQL a
# transaction-scoped advisory lock (PG_WRITE_LOCK_KEY) does the same for every writer using this code. A
# deployment that writes the log from elsewhere would need a sequence allocated at commit time instead.
_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock_for(url: URL) -> threading.Lock:
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        key = "sqlite:" + str(Path(url.database or "").resolve())
    elif url.get_backend_name() == "sqlite":
        return threading.Lock()  # each in-memory database is private to its engine
    else:
        key = url.render_as_string(hide_password=False)
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.Lock())


class UnannouncedChange(RuntimeError):
    """A change was written with no hook registered to announce it: it is rolled back."""


class Database:
    """Thread-safe access to the database at `url` (`sqlite:///path/to.db` or `postgresql+psycopg://...`)."""

    def __init__(self, url: str, *, pool_size: int = 5, max_overflow: int = 10) -> None:
        self._url = make_url(url)
        self._engine = make_engine(self._url, pool_size=pool_size, max_overflow=max_overflow)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._write_lock = _write_lock_for(self._url)
        self._hooks: dict[type, list[Hook]] = {}

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def migrate(self) -> None:
        """Bring the schema to the newest revision (`alembic upgrade head`); safe to call on every start."""
        upgrade_to_head(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    # ------------------------------------------------------------------------------------------- transactions

    def reading(self) -> AbstractContextManager[Session]:
        """A session for reads (one transaction: its queries share a snapshot on SQLite)."""
        return self._sessions()

    @contextmanager
    def writing(self, *, seq_lock: bool = True) -> Iterator[Session]:
        """One write transaction, serialized with every other writer (see `_WRITE_LOCKS`).

        `seq_lock=False` for a transaction that appends no push message (camera counters): on PostgreSQL it
        takes neither lock, as it cannot affect seq order; on SQLite it still takes the one write lock.
        """
        if not seq_lock and self.dialect == "postgresql":
            with self._sessions.begin() as session:
                yield session
            return
        with self._write_lock, self._sessions.begin() as session:
            if self.dialect == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_WRITE_LOCK_KEY})
            yield session

    @contextmanager
    def side_transaction(self) -> Iterator[Connection]:
        """A write transaction for tables beside the incidents (the delivery outbox's bookkeeping, accounts, ...).

        On SQLite it holds this database's in-process write lock, like every writer here: a commit made between
        another writer's first read and its first write would fail that write at once with "database is locked"
        (WAL mode cannot wait there). PostgreSQL needs no lock: the outbox locks its own rows.
        """
        if self.dialect == "sqlite":
            with self._write_lock, self._engine.begin() as connection:
                yield connection
        else:
            with self._engine.begin() as connection:
                yield connection

    @contextmanager
    def once_per_cluster(self, job: str) -> Iterator[bool]:
        """Claim the cluster-wide job `job` (the overdue check, a pruning) for as long as the block runs: yields
        True when this process holds it, False when another process (another API replica) is running it now, in
        which case the caller skips this round. The claim goes when the block ends (or its process dies).

        On PostgreSQL it is a session advisory lock (`pg_try_advisory_lock`) on a connection of its own, keyed by
        the job's name and the store's schema (two stores in one database never block each other), so the job's
        own transactions are free to be as many and as short as they like. SQLite is one process's store: always
        True (the jobs of that one process never overlap anyway).
        """
        if self.dialect != "postgresql":
            yield True
            return
        key = text("SELECT hashtextextended(current_schema() || '/' || :job, 0)")
        with self._engine.connect() as connection:
            lock_key = connection.execute(key, {"job": job}).scalar_one()
            claimed = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key}).scalar_one()
            connection.commit()
            try:
                yield claimed
            finally:
                if claimed:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key})
                    connection.commit()

    # -------------------------------------------------------------------------------------------------- hooks

    def on_change(self, kind: type[Change], hook: Callable[[Session, Change], None]) -> None:
        """Run `hook(session, change)` inside the write transaction of every change of type `kind`, in the order
        registered; a hook that raises rolls the change back."""
        self._hooks.setdefault(kind, []).append(hook)

    def announce(self, session: Session, change: object) -> None:
        """Run the hooks registered for `change`'s type in `session` (a `writing()` transaction).

        Raises UnannouncedChange when none is registered, so the change fails rather than commits silently.
        """
        hooks = self._hooks.get(type(change))
        if not hooks:
            raise UnannouncedChange(
                f"no hook announces {type(change).__name__}: open the store with models.store.Store, which wires them"
            )
        for hook in hooks:
            hook(session, change)
