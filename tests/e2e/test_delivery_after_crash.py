"""Kill -9 the real service while incidents are being raised and delivered; restart it: every incident is still
there, the outbox delivers every change to a real (flaky, slow) HTTP endpoint, in order per incident, and a
websocket client that resumes with `after=<its last seq>` sees one gapless sequence across the crash.

Incidents come without cameras or models, honestly: two dozen cameras point at a port where nothing listens, so
each goes offline at once and its camera_offline rule opens a device-fault incident after its own delay (0.5 s to
~8 s, so the service is still raising them when it is killed). After the restart each camera is still down: the
incidents it left open are adopted and updated, the ones it had not raised yet are opened. On a SQLite file and on
PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from api.delivery import outbox
from models.store import Store
from tests.api.incident_receiver import IncidentReceiver
from tests.e2e.service import LiveFeed, Service, free_port, service_config
from tests.models.conftest import db_url, postgres_admin  # noqa: F401 - the both-backends fixtures

pytestmark = pytest.mark.slow

SECRET_ENV = "XL_E2E_DELIVERY_SECRET"
SECRET = "e2e-delivery-secret-0123456789"
API_KEY = "xl-demo-incident-system-key"  # the demo config's incident-system key (role incident-system)
CELL = "330106001001001"
CAMERAS = 24
FAST_RECONNECT = {"open_timeout_s": 2, "read_timeout_s": 2, "stall_timeout_s": 2, "backoff_initial_s": 0.2,
                  "backoff_max_s": 1.0}  # fmt: skip


def dead_cameras(port: int) -> dict[str, Any]:
    return {
        f"dead-{n:02d}": {
            "name": f"断线摄像机 {n}",
            "url": f"rtsp://127.0.0.1:{port}/cam{n}",
            "grid_cell": CELL,
            "analysis_fps": 2,
            "stream": FAST_RECONNECT,
            "rules": {"camera_offline": {"open_after_s": 0.5 + 0.3 * n}},
        }
        for n in range(CAMERAS)
    }


@pytest.fixture
def world(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:  # noqa: F811
    monkeypatch.setenv(SECRET_ENV, SECRET)  # the service inherits the environment
    receiver = IncidentReceiver(SECRET).start()
    receiver.fail_every, receiver.delay_s = (
        2,
        0.15,
    )  # flaky and slow: deliveries are still in flight at the kill
    port = free_port()
    path = service_config(tmp_path, dead_cameras(free_port()), port)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["store"]["url"] = db_url  # a SQLite file, or a PostgreSQL schema of its own
    raw["delivery"] = {
        "deployment": "e2e",
        "poll_interval_s": 0.2,
        "endpoints": {
            "grid-center": {
                "url": receiver.url(),
                "secret": "${" + SECRET_ENV + "}",
                "backoff_initial_s": 0.3,
                "backoff_max_s": 1.0,
                "timeout_s": 2,
                "max_attempts": 1000,
            }
        },
    }
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    service = Service(path, port, tmp_path / "service.log")
    store = Store(raw["store"]["url"])  # the test reads the service's SQLite file alongside it
    try:
        yield {"service": service, "receiver": receiver, "store": store, "tmp": tmp_path}
    finally:
        service.stop()
        receiver.stop()
        store.close()


def ws_url(service: Service, after: int) -> str:
    return f"ws://127.0.0.1:{service.port}/ws?after={after}&api_key={API_KEY}"


def opened_ids(feed: LiveFeed) -> set[str]:
    return {r.data["id"] for r in list(feed.received) if r.type == "incident.opened"}


def outbox_state(store: Store) -> tuple[set[str], dict[str, dict[str, int]]]:
    with store.database.engine.connect() as connection:
        events = outbox.list_events(connection, limit=100_000)
        return {e.id for e in events}, outbox.delivery_counts(connection)


def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def test_kill_9_while_raising_and_delivering_then_restart_loses_nothing(world: dict[str, Any]) -> None:
    service, receiver, store = world["service"], world["receiver"], world["store"]
    started = time.monotonic()
    service.start()
    feed = LiveFeed(ws_url(service, after=0))

    # Kill while incidents are being raised (some cameras have not opened theirs yet) and while a delivery is
    # waiting for its retry (the endpoint refused it and has not accepted it since).
    def mid_flight() -> bool:
        requests = receiver.snapshot()
        accepted = {r.event["id"] for r in requests if r.accepted}
        refused = {r.event["id"] for r in requests if not r.accepted}
        return len(opened_ids(feed)) >= 6 and bool(refused - accepted)

    wait(mid_flight, 30, "incidents raised and a delivery refused")
    receiver.status = (
        503  # from here on the endpoint accepts nothing until the restart: the refused one waits
    )
    service.kill()
    killed_at = time.monotonic()
    feed.close()  # the server is gone: the connection has ended
    before = list(feed.received)
    opened_before = opened_ids(feed)
    accepted_before = receiver.accepted_ids()
    events_at_kill, counts_at_kill = outbox_state(store)
    undelivered_at_kill = events_at_kill - accepted_before
    assert 6 <= len(opened_before) < CAMERAS, "killed while incidents were still being raised"
    assert undelivered_at_kill, "killed while deliveries were outstanding"

    service.start()
    receiver.status = 200  # still flaky (every 2nd request) and slow
    last_seq = before[-1].message["seq"]
    resumed = LiveFeed(ws_url(service, after=last_seq))
    try:
        headers = {"X-API-Key": API_KEY}

        def all_incidents() -> list[dict[str, Any]]:
            page = httpx.get(f"{service.base}/incidents", params={"limit": 500}, headers=headers, timeout=10)
            assert page.status_code == 200, page.text
            return list(page.json()["items"])

        wait(lambda: len(all_incidents()) == CAMERAS, 30, "every camera's incident")
        # Every change in the outbox reaches the endpoint; then nothing is pending or dead.
        wait(lambda: outbox_state(store)[0] <= receiver.accepted_ids(), 30, "every change delivered")
        wait(
            lambda: all(c.get("pending", 0) == 0 for c in outbox_state(store)[1].values()),
            10,
            "acks recorded",
        )
        events, counts = outbox_state(store)
        # The resumed websocket catches up with the store's log.
        wait(
            lambda: resumed.received and resumed.received[-1].message["seq"] == store.push_log.last_seq(),
            10,
            "ws caught up",
        )
        incidents = all_incidents()
        log_text = service.log_path.read_text()
    finally:
        resumed.close()
    elapsed = time.monotonic() - started

    # Every incident raised before the crash is still there, and every camera's is.
    assert opened_before <= {i["id"] for i in incidents}
    assert {i["camera_id"] for i in incidents} == set(dead_cameras(1))
    # Every change went out at least once, one incident's changes in order, and none was dead-lettered.
    assert counts == {"grid-center": {"delivered": len(events)}}
    assert receiver.order_violations() == []
    assert all(r.signature_ok for r in receiver.requests)
    delivered = receiver.accepted_events()
    assert {e["subject"] for e in delivered} == {i["id"] for i in incidents}
    by_incident: dict[str, list[str]] = {}
    for event in delivered:
        by_incident.setdefault(event["subject"], []).append(event["type"])
    for incident_id in opened_before:  # opened before the crash, adopted and updated after it
        assert by_incident[incident_id][0] == "cn.xueliang.incident.opened"
        assert "cn.xueliang.incident.updated" in by_incident[incident_id]
    # One gapless, duplicate-free sequence across the crash: what the client saw before + after resuming.
    seqs = [r.message["seq"] for r in before + list(resumed.received) if r.type != "heartbeat"]
    assert seqs == list(range(1, store.push_log.last_seq() + 1))
    assert SECRET not in log_text and receiver.url() not in log_text

    duplicates = sum(1 for r in receiver.requests if r.accepted) - len(receiver.accepted_ids())
    print(
        f"\nkill -9 at {killed_at - started:.1f} s with {len(opened_before)}/{CAMERAS} incidents raised and "
        f"{len(undelivered_at_kill)} changes undelivered ({counts_at_kill}); after restart {len(events)} changes "
        f"delivered ({duplicates} accepted twice), {len(seqs)} websocket messages gapless; {elapsed:.1f} s in all"
    )
