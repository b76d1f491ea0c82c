"""Work done once per cluster while several API replicas share one PostgreSQL store: a periodic job (the overdue
check, the prunings) runs in one replica at a time (`Database.once_per_cluster`, used by `api.app.run_every`), and
two replicas running the overdue check at the same moment announce each overdue incident once: one live message and
one outbox change per incident."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.delivery import outbox
from models.clock import ManualClock
from models.config import ServiceConfig
from models.database import Database
from models.incident import MessageType
from models.push import LocalBroker, PushJournal, PushMessage
from models.store import Store
from tests.api.access import bearer
from tests.api.camera_feed import CAM_FIRE_LANE, T0, CameraFeed, demo_config, minutes
from tests.api.postgres_support import postgres_schema_url_fixture  # noqa: F401 - the fixture, used by name

CHECK_S = 0.02  # the overdue check's interval on the service's clock
OVERDUE = MessageType.INCIDENT_OVERDUE.value


def test_a_cluster_job_runs_in_one_replica_at_a_time(postgres_schema_url: str) -> None:  # noqa: F811
    replica_a, replica_b = Database(postgres_schema_url), Database(postgres_schema_url)
    try:
        with replica_a.once_per_cluster("overdue check") as a_runs:
            with replica_b.once_per_cluster("overdue check") as b_runs_meanwhile:
                pass
            with replica_b.once_per_cluster("push log pruning") as other_job_runs:
                pass
        with replica_b.once_per_cluster("overdue check") as b_runs_after:
            pass
    finally:
        replica_a.close()
        replica_b.close()
    assert (a_runs, b_runs_meanwhile, other_job_runs, b_runs_after) == (True, False, True, True)


def test_sqlite_runs_every_job(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'xueliang.db'}")
    try:
        with database.once_per_cluster("overdue check") as first, database.once_per_cluster("overdue check") as again:
            assert (first, again) == (True, True)  # one process: its jobs never overlap, nothing to claim
    finally:
        database.close()


def test_two_replicas_checking_at_the_same_moment_announce_each_overdue_incident_once(
    tmp_path: Path,
    postgres_schema_url: str,  # noqa: F811
) -> None:
    """Two API replicas on one PostgreSQL store, their overdue checks woken by the same tick of one clock: every
    overdue incident gets one `incident.overdue` message (in the store and on the broker) and one outbox change."""
    config = quick_overdue_check(demo_config(tmp_path), postgres_schema_url)
    broker, clock = LocalBroker(), ManualClock(T0)
    published: list[PushMessage] = []
    lock = threading.Lock()

    def record(message: PushMessage) -> None:
        if message.type == OVERDUE:
            with lock:
                published.append(message)

    broker.subscribe(record)
    with ExitStack() as stack:
        store = stack.enter_context(Store(postgres_schema_url))
        store.migrate()
        for _replica in range(2):
            app = create_app(config, run_cameras=False, broker=broker, clock=clock)
            stack.enter_context(TestClient(app, headers=bearer(config, "admin", T0)))
        feed = CameraFeed(config, PushJournal(store, broker))
        fires = [feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(n / 100), magnitude=2) for n in range(12)]
        clock.advance(minutes(62) - clock.now())  # every fire (limit 1 h) is overdue; both checks wake now
        deadline = time.monotonic() + 20
        while store.incidents.overdue_ids(clock.now()) or len(published) < len(fires):
            assert time.monotonic() < deadline, f"{len(published)} of {len(fires)} announced"
            time.sleep(0.02)
        for _turn in range(5):  # and the checks keep running, in both replicas
            clock.advance(CHECK_S)
            time.sleep(0.05)
        logged = [m for m in store.push_log.since(0, 10_000) if m.type == OVERDUE]
        with store.database.engine.connect() as connection:
            changes = [e for e in outbox.list_events(connection, limit=10_000) if e.type == OVERDUE]

    expected = sorted(f.id for f in fires)
    assert sorted(m.data["id"] for m in logged) == expected  # one message per incident in the store
    assert sorted(m.data["id"] for m in published) == expected  # and on the broker
    assert sorted(e.incident_id for e in changes) == expected  # one outbox change per incident


def quick_overdue_check(config: ServiceConfig, store_url: str) -> ServiceConfig:
    """`config` on `store_url` with its overdue check every CHECK_S."""
    return config.model_copy(
        update={
            "store": config.store.model_copy(update={"url": SecretStr(store_url)}),
            "closed_loop": config.closed_loop.model_copy(update={"overdue_check_s": CHECK_S}),
        }
    )
