"""Database plumbing: the ORM tables, engine creation (SQLite tuning) and Alembic configured in code.

The tables here are the current shape; the migrations under `models/migrations/versions` are how a database gets
there. A test (`test_migrations_match_orm`) checks the two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

SQLITE_BUSY_TIMEOUT_MS = 10_000

# Constraint/index names are fixed by convention so that migrations can name them without guessing.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A 64-bit key for pg_advisory_xact_lock; any constant works as long as every writer uses the same one.
PG_WRITE_LOCK_KEY = 0x58_75_65_4C_69_61_6E_67  # "XueLiang"
PG_MIGRATE_LOCK_KEY = PG_WRITE_LOCK_KEY + 1


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, always UTC on the way out.

    PostgreSQL stores `timestamptz`. SQLite has no zone support, so the value is stored as naive UTC text
    (fixed-width, so text order is time order) and made aware again when read. Naive input is refused: its zone
    would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the store only takes timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite only gives AUTOINCREMENT (never reused keys) to a column declared exactly INTEGER PRIMARY KEY,
# so the 64-bit type is PostgreSQL's alone.
SeqInteger = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class IncidentRow(Base):
    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    rule: Mapped[str] = mapped_column(String)
    category_code: Mapped[str] = mapped_column(String, index=True)
    category_name: Mapped[str] = mapped_column(String)
    category_group: Mapped[str] = mapped_column(String)
    severity: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String, index=True)
    grid_code: Mapped[str] = mapped_column(String)
    grid_path: Mapped[list[Any]] = mapped_column(JSON)
    camera_id: Mapped[str] = mapped_column(String, index=True)
    camera_name: Mapped[str] = mapped_column(String)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    opened_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None] = mapped_column(index=True)
    peak_count: Mapped[int | None] = mapped_column(Integer)
    peak_confidence: Mapped[float | None] = mapped_column(Float)
    owner_department: Mapped[str] = mapped_column(String)
    deadline: Mapped[datetime]
    snapshot_path: Mapped[str | None] = mapped_column(Text)
    clip_path: Mapped[str | None] = mapped_column(Text)  # 0006_event_clips
    is_test: Mapped[bool] = mapped_column(Boolean)
    # The closed loop's columns (0002_closed_loop). Owned by the loop: a camera pipeline's writes never change them.
    status_changed_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    assignee_department: Mapped[str | None] = mapped_column(String)
    assignee_staff: Mapped[str | None] = mapped_column(String)
    overdue_notified_at: Mapped[datetime | None]

    __table_args__ = (
        # Subtree filters are prefix LIKEs. PostgreSQL can only use a b-tree for `LIKE 'prefix%'` under the C
        # collation or with the pattern operator class; the pattern class also serves equality.
        Index(
            "ix_incidents_grid_code",
            "grid_code",
            postgresql_ops={"grid_code": "varchar_pattern_ops"},
        ),
        # The overdue sweep: unresolved incidents past their deadline, not yet announced.
        Index("ix_incidents_deadline", "deadline"),
    )


class IncidentTransitionRow(Base):
    """One step of an incident's closed loop: who took it, when, why, with what, and the message that announced it."""

    __tablename__ = "incident_transitions"

    id: Mapped[int] = mapped_column(SeqInteger, Identity(), primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(SeqInteger)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String)
    from_status: Mapped[str] = mapped_column(String)
    to_status: Mapped[str] = mapped_column(String, index=True)
    actor: Mapped[str] = mapped_column(String)
    actor_role: Mapped[str] = mapped_column(String)
    note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[Any]] = mapped_column(JSON)
    department: Mapped[str | None] = mapped_column(String)
    staff: Mapped[str | None] = mapped_column(String)
    rating: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = {"sqlite_autoincrement": True}


class PushMessageRow(Base):
    """The live-push log. `seq` is the websocket sequence number: it only grows and is never reused."""

    __tablename__ = "push_messages"

    seq: Mapped[int] = mapped_column(SeqInteger, Identity(), primary_key=True)
    type: Mapped[str] = mapped_column(String)
    at: Mapped[datetime]
    camera_id: Mapped[str | None] = mapped_column(String)
    grid_code: Mapped[str | None] = mapped_column(String)
    category_code: Mapped[str | None] = mapped_column(String)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = {"sqlite_autoincrement": True}


class PushRetentionRow(Base):
    """How far the live-push log has been pruned (0004_push_retention): one row, `id` 1.

    `pruned_through_seq` is the highest seq ever removed (0: none). A websocket client resuming from a lower seq
    may have missed a removed message, so it is refused; from this seq on, the log is complete. It is recorded
    rather than read off min(seq): seqs have gaps (a rolled-back insert still uses up its seq on PostgreSQL), and
    each camera's latest status is kept however old.
    """

    __tablename__ = "push_retention"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    pruned_through_seq: Mapped[int] = mapped_column(SeqInteger)


class CameraStatusRow(Base):
    """Each camera's latest status, with the seq of the camera.status message that announced it."""

    __tablename__ = "camera_statuses"

    camera_id: Mapped[str] = mapped_column(String, primary_key=True)
    state: Mapped[str] = mapped_column(String)
    since: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]
    frames_decoded: Mapped[int] = mapped_column(BigInteger)
    frames_dropped: Mapped[int] = mapped_column(BigInteger)
    analysed_fps: Mapped[float | None] = mapped_column(Float)
    grid_code: Mapped[str | None] = mapped_column(String)
    last_message_seq: Mapped[int] = mapped_column(SeqInteger)


class ClusterNodeRow(Base):
    """A Ray node that hosts camera pipelines (cluster deployment), as its host last reported it (0009_cluster)."""

    __tablename__ = "cluster_nodes"

    node_id: Mapped[str] = mapped_column(String, primary_key=True)  # Ray's node id (hex)
    address: Mapped[str] = mapped_column(String)
    alive: Mapped[bool] = mapped_column(Boolean)
    cpus: Mapped[float] = mapped_column(Float)
    cpu_percent: Mapped[float | None] = mapped_column(Float)  # of the node's host process, over its last interval
    rss_mb: Mapped[float | None] = mapped_column(Float)
    models: Mapped[list[Any]] = mapped_column(JSON)  # the model names loaded (once) in the node's host
    camera_ids: Mapped[list[Any]] = mapped_column(JSON)
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    lost_at: Mapped[datetime | None]


class CameraPlacementRow(Base):
    """Which node serves each camera (cluster deployment), and why it went there (0009_cluster)."""

    __tablename__ = "camera_placements"

    camera_id: Mapped[str] = mapped_column(String, primary_key=True)
    node_id: Mapped[str | None] = mapped_column(String)  # None: not placed (no node can take it now)
    reason: Mapped[str] = mapped_column(String)  # placed | node lost | rebalanced | unplaced
    assigned_at: Mapped[datetime]


def _is_sqlite_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in str(url)


def make_engine(url: str | URL, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """An engine for `url`, tuned for this service.

    SQLite: parent directories of the file are created; every connection gets WAL journaling,
    `synchronous=NORMAL` (durable at checkpoints, safe with WAL), a busy timeout and case-sensitive LIKE (grid
    prefixes); SQLAlchemy emits BEGIN itself so reads inside a session see one snapshot (pysqlite's legacy
    mode would leave SELECTs outside any transaction). An in-memory SQLite URL gets one shared connection; it
    is for single-threaded tests only.
    PostgreSQL: pre-ping so a restarted server does not surface as errors on stale pooled connections; a pool of
    `pool_size` kept connections plus `max_overflow` at peaks (per process: `store.pool_size`, `store.max_overflow`).
    """
    url = make_url(url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)

    kwargs: dict[str, Any] = {}
    if _is_sqlite_memory(url):
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    else:
        database = url.database or ""
        path = Path(database.removeprefix("file:").split("?", 1)[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (see `_begin` below)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA case_sensitive_like=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


def alembic_config(*, connection: Connection | None = None, url: str | None = None) -> Config:
    """Alembic's configuration, built in code (there is no alembic.ini).

    Pass an open `connection` to migrate through it (what `Store.migrate()` does), or a `url` for offline SQL
    generation and for developer commands such as
    `command.revision(alembic_config(url=...), autogenerate=True, message="...")`.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_to_head(engine: Engine) -> None:
    """`alembic upgrade head` in one transaction.

    On PostgreSQL an advisory lock makes concurrent starters (several API replicas) migrate one at a time; the
    later ones then find the database at head and do nothing. SQLite's write lock does the same job.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATE_LOCK_KEY})
        command.upgrade(alembic_config(connection=connection), "head")
