"""The durable store: one database and its repositories (incidents, the live-push log, camera status, stats).

Durable first, then pushed: every state change is written together with the message that announces it, in one
transaction, and the message's `seq` (the log's primary key) is what websocket clients resume from. Camera
pipelines write from their own threads; the API reads. Nothing here holds domain state in memory, so the API and
the pipelines (in this process or, later, on other nodes) only meet through the database.

`Store` only composes: it opens the `Database`, builds a repository per aggregate over it, and wires the hooks that
give every incident change its push message and delivery-outbox row (`models.push.announce_incident_changes`).
However a store is opened, that wiring comes with it.
"""

from __future__ import annotations

from typing import Self

from models.database import Database
from models.push import announce_incident_changes
from models.repositories.camera_status import CameraStatusRepository
from models.repositories.cluster import ClusterRepository
from models.repositories.incident_stats import IncidentStats
from models.repositories.incidents import IncidentRepository
from models.repositories.push_log import PushLog


class Store:
    """The store at `url` (`sqlite:///path/to.db` or `postgresql+psycopg://...`); thread-safe.

    Call `migrate()` once at start-up before anything else. `pool_size`/`max_overflow`: PostgreSQL connections
    of this process (`store.pool_size`, `store.max_overflow`).
    """

    def __init__(self, url: str, *, pool_size: int = 5, max_overflow: int = 10) -> None:
        self.database = Database(url, pool_size=pool_size, max_overflow=max_overflow)
        self.push_log = PushLog(self.database)
        self.incidents = IncidentRepository(self.database)
        self.cameras = CameraStatusRepository(self.database, self.push_log)
        self.stats = IncidentStats(self.database)
        self.cluster = ClusterRepository(self.database)
        announce_incident_changes(self.database, self.push_log)

    def migrate(self) -> None:
        """Bring the schema to the newest revision (`alembic upgrade head`); safe to call on every start."""
        self.database.migrate()

    def close(self) -> None:
        self.database.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
