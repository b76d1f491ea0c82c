"""Two API replicas (separate apps on one store) behind the Redis stream broker: pipelines publishing from
several connections reach a websocket client on either replica with the same messages and seqs, in seq order;
`after=` resumes the same on both. The broker is a redis-server this test owns; the store a SQLite file, and a
PostgreSQL schema of the test's own (what a cluster uses: `cluster:` requires it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from ingest.health import CameraState
from models.brokers import RedisStreamBroker
from models.clock import ManualClock
from models.push import PushJournal
from models.store import Store
from tests.api.access import bearer
from tests.api.camera_feed import CAM_FIRE_LANE, CAM_WALKWAY, CAM_YUQUAN, T0, CameraFeed, demo_config, minutes
from tests.api.live_client import assert_quiet, messages, seqs
from tests.api.postgres_support import postgres_schema_url_fixture  # noqa: F401 - the fixture postgres_schema_url
from tests.models.broker_support import RedisProcess


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield demo_config(tmp_path).store.url.get_secret_value()
    else:
        yield request.getfixturevalue("postgres_schema_url")


def test_two_replicas_deliver_the_same_seqs_from_several_publishers(
    tmp_path: Path, redis_server: RedisProcess, store_url: str
) -> None:
    config = demo_config(tmp_path)
    config = config.model_copy(update={"store": config.store.model_copy(update={"url": SecretStr(store_url)})})
    url = store_url
    with ExitStack() as stack:
        store = stack.enter_context(Store(url))
        store.migrate()
        clients = []
        for _ in range(2):  # each replica: its own app, store reader and broker connection
            broker = stack.enter_context(RedisStreamBroker(redis_server.url, message_log=stack.enter_context(
                Store(url)).push_log))
            app = create_app(config, run_cameras=False, broker=broker, clock=ManualClock(T0))
            clients.append(stack.enter_context(TestClient(app, headers=bearer(config, "admin", T0))))
            assert broker.wait_connected(10)
        sockets = [stack.enter_context(client.websocket_connect("/ws")) for client in clients]

        def pipeline_node(camera_id: str, rule: str) -> None:
            with RedisStreamBroker(redis_server.url) as publisher:
                feed = CameraFeed(config, PushJournal(store, publisher))
                for minute in range(10):
                    state = CameraState.ONLINE if minute % 2 else CameraState.CONNECTING
                    feed.camera_status(camera_id, state, minutes(minute))
                    feed.open_incident(camera_id, rule, minutes(minute), magnitude=7 + minute, count=7 + minute)

        nodes = [threading.Thread(target=pipeline_node, args=camera_rule)
                 for camera_rule in ((CAM_WALKWAY, "crowd"), (CAM_FIRE_LANE, "fire_smoke"), (CAM_YUQUAN, "crowd"))]
        for node in nodes:
            node.start()
        for node in nodes:
            node.join(60)

        received = [messages(ws, 60) for ws in sockets]
        for ws in sockets:
            assert_quiet(ws)
        committed = [message.seq for message in store.push_log.since(0)]
        assert seqs(received[0]) == seqs(received[1]) == committed  # every seq once, in order, on both
        assert received[0] == received[1]

        resumed = []
        for client in clients:
            with client.websocket_connect(f"/ws?after={committed[39]}") as ws:
                resumed.append(messages(ws, 20))
                assert_quiet(ws)
        assert resumed[0] == resumed[1] == received[0][40:]


def test_losing_the_broker_loses_no_message_for_a_websocket_client(
    tmp_path: Path,
    redis_server: RedisProcess,
    postgres_schema_url: str,  # noqa: F811
) -> None:
    """The redis-server goes away mid-stream and comes back empty: the pipeline keeps committing to the store
    (quickly: publishing only queues), and a websocket client of an API replica gets every committed message once,
    in seq order, the outage's from the store as the broker returns."""
    config = demo_config(tmp_path)
    config = config.model_copy(
        update={"store": config.store.model_copy(update={"url": SecretStr(postgres_schema_url)})}
    )
    with ExitStack() as stack:
        store = stack.enter_context(Store(postgres_schema_url))
        store.migrate()
        replica_broker = stack.enter_context(
            RedisStreamBroker(redis_server.url, message_log=stack.enter_context(Store(postgres_schema_url)).push_log)
        )
        app = create_app(config, run_cameras=False, broker=replica_broker, clock=ManualClock(T0))
        client = stack.enter_context(TestClient(app, headers=bearer(config, "admin", T0)))
        assert replica_broker.wait_connected(10)
        ws = stack.enter_context(client.websocket_connect("/ws"))
        feed = CameraFeed(config, PushJournal(store, stack.enter_context(RedisStreamBroker(redis_server.url))))

        def pipeline(first_minute: int) -> float:
            """Five minutes of one camera (status and incident each minute); the slowest commit, seconds."""
            slowest = 0.0
            for minute in range(first_minute, first_minute + 5):
                started = time.perf_counter()
                feed.camera_status(CAM_WALKWAY, CameraState.ONLINE, minutes(minute))
                feed.open_incident(CAM_WALKWAY, "crowd", minutes(minute), magnitude=7, count=7)
                slowest = max(slowest, time.perf_counter() - started)
            return slowest

        pipeline(0)
        before = len(store.push_log.since(0))
        live = messages(ws, before)
        redis_server.kill()
        slowest_without_broker = pipeline(5)
        committed_without_broker = len(store.push_log.since(0)) - before
        assert_quiet(ws)  # nothing can arrive live meanwhile
        redis_server.start()  # an empty broker on the same port
        assert replica_broker.wait_connected(15)
        pipeline(10)

        committed = [message.seq for message in store.push_log.since(0)]
        received = live + messages(ws, len(committed) - before)
        assert_quiet(ws)
    assert committed_without_broker == 10 and slowest_without_broker < 0.5
    assert seqs(received) == committed  # every seq once, in order, none lost to the outage
