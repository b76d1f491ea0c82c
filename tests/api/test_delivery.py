"""Delivery to the incident system, through the whole app: incident changes written by the (stand-in) pipelines
reach a real HTTP endpoint (tests/api/incident_receiver.py) as signed CloudEvents, survive the endpoint failing
and going away, keep their order per incident, dead-letter after the configured attempts and come back through
the admin route. On a SQLite file and on PostgreSQL (the store fixtures of tests/models/conftest.py).

The worker's backoffs and polls are on the service's clock, a ManualClock: the tests move it whenever the worker
waits on it (tests/manual_time.py), so no test sleeps through a retry delay or a poll interval.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import DEMO_CONFIG
from api.delivery import outbox
from api.delivery.wire_format import (
    EVENT_CONTENT_TYPE,
    SIGNATURE_HEADER,
    cloud_event,
    encode_event,
    sign,
    verify_signature,
)
from api.delivery.worker import retry_delay
from models.clock import ManualClock
from models.config import ServiceConfig, parse_config
from models.incident import Incident, MessageType
from models.push import LocalBroker, PushJournal
from models.store import Store
from models.views import incident_view
from tests.api.access import TEST_JWT_SECRET, bearer
from tests.api.camera_feed import CAM_FIRE_LANE, CAM_WALKWAY, RTSP_BASE, T0, CameraFeed, minutes
from tests.api.incident_receiver import IncidentReceiver
from tests.api.postgres_support import postgres_schema_url_fixture  # noqa: F401 - the fixture, used by name
from tests.manual_time import run_until, turns
from tests.models.conftest import db_url, postgres_admin  # noqa: F401 - the both-backends fixtures

SECRET = "whsec_test_0123456789abcdef"
DEPLOYMENT = "xihu-test"
FAST = {"backoff_initial_s": 0.05, "backoff_max_s": 0.3, "timeout_s": 2}
POLL_S = 0.1  # the worker's poll interval (delivery_config), on the service's clock


# ------------------------------------------------------------------------------------------------- signatures


def test_a_signature_verifies_with_the_documented_procedure() -> None:
    body = b'{"specversion":"1.0","id":"e1","data":{"name":"\xe7\x81\xab"}}'
    header = sign(SECRET, body, 1_767_225_600)
    assert header.startswith("t=1767225600,v1=") and len(header.split("v1=")[1]) == 64
    assert verify_signature(SECRET, body, header, now=1_767_225_600 + 299)
    # The procedure by hand, as an incident system would write it.
    import hashlib
    import hmac

    fields = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(SECRET.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, fields["v1"])


@pytest.mark.parametrize(
    ("case", "secret", "body", "header", "now"),
    [
        ("tampered body", SECRET, b'{"id":"e2"}', sign(SECRET, b'{"id":"e1"}', 1000), 1000),
        ("tampered timestamp", SECRET, b"{}", sign(SECRET, b"{}", 1000).replace("t=1000", "t=1001"), 1001),
        ("other secret", "another-secret-0123456", b"{}", sign(SECRET, b"{}", 1000), 1000),
        ("too old (replay)", SECRET, b"{}", sign(SECRET, b"{}", 1000), 1000 + 301),
        ("from the future", SECRET, b"{}", sign(SECRET, b"{}", 1000), 1000 - 301),
        ("empty header", SECRET, b"{}", "", 1000),
        ("no timestamp", SECRET, b"{}", sign(SECRET, b"{}", 1000).split(",")[1], 1000),
        ("no v1", SECRET, b"{}", "t=1000", 1000),
        ("two timestamps", SECRET, b"{}", "t=999," + sign(SECRET, b"{}", 1000), 1000),
        ("timestamp not a number", SECRET, b"{}", "t=1e3,v1=00", 1000),
    ],
)
def test_a_bad_signature_fails(case: str, secret: str, body: bytes, header: str, now: float) -> None:
    assert not verify_signature(secret, body, header, now=now), case


def test_any_of_several_v1_may_match_while_secrets_rotate() -> None:
    good = sign(SECRET, b"{}", 1000)
    assert verify_signature(SECRET, b"{}", f"t=1000,v1={'0' * 64},{good.split(',')[1]}", now=1000)


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 10, 60])
def test_retry_delays_grow_exponentially_capped_with_full_jitter(attempt: int) -> None:
    cap = min(0.5 * 2 ** (attempt - 1), 30.0)
    delays = [retry_delay(attempt, 0.5, 30.0) for _ in range(200)]
    assert all(0 <= d <= cap for d in delays)
    assert max(delays) > cap / 2  # jittered over the whole range, not stuck at 0


def test_cloud_event_shape() -> None:
    event = outbox.OutboxEvent(
        seq=42, id="abc", type="incident.opened", incident_id="inc-1", camera_id="cam-1", time=T0, is_test=False,
        data={"id": "inc-1", "name": "火"},
    )  # fmt: skip
    envelope = cloud_event(event, "xihu")
    assert envelope == {
        "specversion": "1.0",
        "id": "abc",
        "source": "urn:xueliang:xihu/cameras/cam-1",
        "type": "cn.xueliang.incident.opened",
        "subject": "inc-1",
        "time": "2026-03-01T08:00:00Z",
        "datacontenttype": "application/json",
        "sequence": "00000000000000000042",
        "data": {"id": "inc-1", "name": "火"},
    }
    assert "火".encode() in encode_event(envelope)


# -------------------------------------------------------------------------------------------- the app, for real


def delivery_config(tmp_path: Path, store_url: str, endpoints: dict[str, dict[str, Any]]) -> ServiceConfig:
    """The demo config on `store_url` with these delivery endpoints (secrets from the environment)."""
    raw: dict[str, Any] = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    raw["store"] = {"url": store_url, "data_dir": str(tmp_path / "data")}
    raw["auth"]["jwt_secret"] = TEST_JWT_SECRET
    raw["delivery"] = {"deployment": DEPLOYMENT, "poll_interval_s": POLL_S, "endpoints": endpoints}
    return parse_config(raw, environ={"XUELIANG_DEMO_RTSP": RTSP_BASE, "XL_TEST_DELIVERY_SECRET": SECRET})


def endpoint(receiver: IncidentReceiver, path: str = "/events", **settings: Any) -> dict[str, Any]:
    return {"url": receiver.url(path), "secret": "${XL_TEST_DELIVERY_SECRET}", **FAST, **settings}


@contextmanager
def running_app(
    config: ServiceConfig, clock: ManualClock | None = None, *, replicas: int = 1
) -> Iterator[tuple[TestClient, CameraFeed]]:
    """The API (no cameras; its lifespan runs the delivery worker) on `clock` (a new one at T0 by default) and a
    feed writing incidents into its store and publishing to its broker, as camera pipelines do. The client is
    signed in as the demo admin. `replicas` > 1: as many apps on the same store, broker and clock, each with its
    delivery worker (the client talks to the first)."""
    broker = LocalBroker()
    clock = clock or ManualClock(T0)
    store = Store(config.store.url.get_secret_value())
    store.migrate()
    try:
        with ExitStack() as stack:
            clients = [
                stack.enter_context(
                    TestClient(
                        create_app(config, run_cameras=False, broker=broker, clock=clock),
                        headers=bearer(config, "admin", clock.now()),
                    )
                )
                for _ in range(replicas)
            ]
            yield clients[0], CameraFeed(config, PushJournal(store, broker))
    finally:
        store.close()


def update(feed: CameraFeed, incident: Incident, at: Any, count: int) -> Incident:
    updated = incident.model_copy(update={"updated_at": at, "peak_count": count})
    feed.messages.append(feed.journal.incident(updated, MessageType.INCIDENT_UPDATED.value, incident_view))
    return updated


def settled(client: TestClient, timeout: float = 5.0) -> list[dict[str, Any]]:
    """GET /deliveries once nothing is pending (the receiver may have answered before the worker recorded it)."""
    deadline = time.monotonic() + timeout
    while True:
        counts: list[dict[str, Any]] = client.get("/deliveries").json()
        if not any(endpoint["pending"] for endpoint in counts):
            return counts
        assert time.monotonic() < deadline, f"still pending after {timeout} s: {counts}"
        time.sleep(0.05)


def outbox_ids(feed: CameraFeed) -> set[str]:
    with feed.journal.store.database.engine.connect() as connection:
        return {e.id for e in outbox.list_events(connection, limit=100_000)}


def write_changes(feed: CameraFeed, incidents: int, *, start: float = 0) -> list[Incident]:
    """`incidents` incidents, each opened, updated twice and closed, their changes interleaved."""
    opened = [
        feed.open_incident(CAM_WALKWAY if n % 2 else CAM_FIRE_LANE, "crowd" if n % 2 else "fire_smoke",
                           minutes(start + n / 100), magnitude=5, count=5)
        for n in range(incidents)
    ]  # fmt: skip
    for step in (1, 2):
        opened = [
            update(feed, incident, minutes(start + step + n / 100), 5 + step)
            for n, incident in enumerate(opened)
        ]
    return [feed.close_incident(incident, minutes(start + 3 + n / 100)) for n, incident in enumerate(opened)]


def test_changes_arrive_as_signed_cloudevents_of_the_incident_view(tmp_path: Path, db_url: str) -> None:  # noqa: F811
    clock = ManualClock(T0)
    with IncidentReceiver(SECRET, clock=clock) as receiver:
        config = delivery_config(tmp_path, db_url, {"grid-center": endpoint(receiver)})
        with running_app(config, clock) as (client, feed):
            [closed] = write_changes(feed, 1)
            receiver.wait_until(lambda r: len(r.accepted_ids()) == 4, 10, "4 changes")
            events = receiver.accepted_events()
            requests = receiver.snapshot()
    assert [e["type"] for e in events] == [
        "cn.xueliang.incident.opened", "cn.xueliang.incident.updated", "cn.xueliang.incident.updated",
        "cn.xueliang.incident.closed",
    ]  # fmt: skip
    assert [e["data"] for e in events] == [m.data for m in feed.messages]  # what the live feed carried
    assert events[-1]["data"]["closed_at"] is not None and events[-1]["data"]["id"] == closed.id
    for event in events:
        assert event["specversion"] == "1.0" and event["datacontenttype"] == "application/json"
        assert event["source"] == f"urn:xueliang:{DEPLOYMENT}/cameras/{closed.camera_id}"
        assert event["subject"] == closed.id and len(event["id"]) == 32
        assert event["time"].endswith("Z")
    assert len({e["id"] for e in events}) == 4
    assert [e["sequence"] for e in events] == sorted(e["sequence"] for e in events)
    assert all(
        r.content_type == EVENT_CONTENT_TYPE and r.signature_ok and r.path == "/events" for r in requests
    )
    assert all(r.signature.startswith("t=") for r in requests) and SIGNATURE_HEADER == "X-Xueliang-Signature"


def test_receiver_down_for_a_while_then_back_everything_arrives_in_order(
    tmp_path: Path,
    db_url: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The endpoint first answers 503, then is not there at all (connection refused), then comes back flaky
    (every 4th request 503): every change arrives, each id at least once, one incident's changes in order."""
    caplog.set_level(logging.DEBUG, logger="delivery.worker")
    clock = ManualClock(T0)
    receiver = IncidentReceiver(SECRET, clock=clock).start()
    receiver.status = 503
    config = delivery_config(tmp_path, db_url, {"grid-center": endpoint(receiver, max_attempts=1000)})
    try:
        with running_app(config, clock) as (client, feed):
            write_changes(feed, 10)
            run_until(lambda: len(receiver.snapshot()) >= 20, clock, POLL_S, "20 refused requests")
            receiver.stop()  # now nobody listens
            write_changes(feed, 5, start=10)
            turns(clock, 10, POLL_S)  # a second of the service's time with nobody listening
            refused_meanwhile = client.get("/deliveries").json()
            receiver.status, receiver.fail_every = 200, 4
            receiver.start()
            expected = outbox_ids(feed)
            run_until(lambda: receiver.accepted_ids() >= expected, clock, POLL_S, "every change accepted", timeout_s=30)
            counts = settled(client)
    finally:
        receiver.stop()
    assert len(expected) == 15 * 4
    assert refused_meanwhile == [
        {
            "endpoint": "grid-center",
            "configured": True,
            "enabled": True,
            "pending": 60,
            "delivered": 0,
            "dead": 0,
        }
    ]
    assert counts[0]["delivered"] == 60 and counts[0]["pending"] == 0 and counts[0]["dead"] == 0
    assert receiver.order_violations() == []
    assert all(r.signature_ok for r in receiver.requests)
    failed = [r for r in receiver.requests if not r.accepted]
    assert len(failed) >= 20 + 60 // 4 - 1  # the 503s of the first phase, and the flaky ones after
    # In the first phase each incident had only its first change out: the others waited behind it.
    first_phase = receiver.requests[:20]
    assert {r.event["type"] for r in first_phase} == {"cn.xueliang.incident.opened"}
    log_text = caplog.text
    assert "grid-center" in log_text and SECRET not in log_text and receiver.url() not in log_text


def test_dead_letter_after_max_attempts_then_redelivery_through_the_admin_route(
    tmp_path: Path,
    db_url: str,  # noqa: F811
) -> None:
    clock = ManualClock(T0)
    receiver = IncidentReceiver(SECRET, clock=clock).start()
    receiver.status = 500
    config = delivery_config(tmp_path, db_url, {"grid-center": endpoint(receiver, max_attempts=3)})
    try:
        with running_app(config, clock) as (client, feed):
            opened = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=7, count=7)
            feed.close_incident(opened, minutes(1))
            run_until(lambda: client.get("/deliveries/dead-letters").json()["items"], clock, POLL_S, "a dead letter")
            page = client.get("/deliveries/dead-letters").json()
            turns(clock, 10, POLL_S)  # ten polls: time enough for the closed change to be (wrongly) sent, if it were
            attempts_seen = receiver.snapshot()
            [letter] = page["items"]

            # Who may see and redeliver: admins only.
            assert client.get("/deliveries/dead-letters", headers={"Authorization": ""}).status_code == 401
            operator = bearer(config, "beishan", clock.now())
            assert client.get("/deliveries/dead-letters", headers=operator).status_code == 403
            assert (
                client.post(
                    f"/deliveries/dead-letters/{letter['id']}/redeliver", headers=operator
                ).status_code
                == 403
            )
            assert client.post("/deliveries/dead-letters/999999/redeliver").status_code == 404

            receiver.status = 200
            redelivered = client.post(f"/deliveries/dead-letters/{letter['id']}/redeliver")
            run_until(lambda: len(receiver.accepted_ids()) == 2, clock, POLL_S, "both changes accepted")
            again = client.post(f"/deliveries/dead-letters/{letter['id']}/redeliver")
            after = client.get("/deliveries/dead-letters").json()
            audited = client.get("/audit", params={"action": "delivery.redeliver"}).json()["items"]
    finally:
        receiver.stop()
    assert page["total"] == 1
    assert letter["state"] == "dead" and letter["attempts"] == 3 and letter["last_status"] == 500
    assert (
        letter["last_error"] == "HTTP 500" and letter["waiting"] == 1 and letter["endpoint"] == "grid-center"
    )
    assert letter["event_type"] == "cn.xueliang.incident.opened" and letter["incident_id"] == opened.id
    assert [r.event["id"] for r in attempts_seen] == [
        letter["event_id"]
    ] * 3  # the closed change never went out
    assert redelivered.status_code == 200
    assert redelivered.json()["state"] == "pending" and redelivered.json()["attempts"] == 0
    assert again.status_code == 409 and after == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert [e["type"] for e in receiver.accepted_events()] == [
        "cn.xueliang.incident.opened", "cn.xueliang.incident.closed",
    ]  # fmt: skip
    assert receiver.accepted_events()[0]["id"] == letter["event_id"]  # the same id as every attempt before
    assert receiver.order_violations() == []
    assert SECRET not in str(page) and receiver.url() not in str(page)
    # the redelivery is in the audit log, once (the refused ones are not), without the endpoint's URL or secret
    assert [(e["actor"], e["target"], e["details"]) for e in audited] == [
        ("admin", str(letter["id"]), {"endpoint": "grid-center", "incident_id": opened.id})
    ]
    assert SECRET not in str(audited) and receiver.url() not in str(audited)


def test_test_incidents_go_only_to_endpoints_that_ask_for_them(tmp_path: Path, db_url: str) -> None:  # noqa: F811
    clock = ManualClock(T0)
    with IncidentReceiver(SECRET, clock=clock) as receiver:
        endpoints = {
            "grid-center": endpoint(receiver, "/center"),
            "lab": endpoint(receiver, "/lab", include_tests=True),
        }
        config = delivery_config(tmp_path, db_url, endpoints)
        with running_app(config, clock) as (_client, feed):
            test = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=7, count=7, is_test=True)
            real = feed.open_incident(CAM_WALKWAY, "crowd", minutes(1), magnitude=7, count=7)
            receiver.wait_until(
                lambda r: len(r.accepted_ids("/lab")) == 2 and len(r.accepted_ids("/center")) == 1, 10
            )
            turns(clock, 6, POLL_S)  # three polls of each endpoint: nothing more goes to /center
    assert [e["subject"] for e in receiver.accepted_events("/center")] == [real.id]
    assert sorted(e["subject"] for e in receiver.accepted_events("/lab")) == sorted([test.id, real.id])
    # Each endpoint is a delivery of its own: the same change carries the same id to both.
    [lab_real] = [e for e in receiver.accepted_events("/lab") if e["subject"] == real.id]
    assert lab_real["id"] == receiver.accepted_events("/center")[0]["id"]


def test_a_restarted_app_delivers_what_the_last_run_left(tmp_path: Path, db_url: str) -> None:  # noqa: F811
    clock = ManualClock(T0)  # one clock for both runs, as the wall clock would be
    receiver = IncidentReceiver(SECRET, clock=clock)  # not started: connections refused
    config = delivery_config(tmp_path, db_url, {"grid-center": endpoint(receiver)})
    with running_app(config, clock) as (_client, feed):
        write_changes(feed, 3)
        expected = outbox_ids(feed)
        turns(clock, 3, POLL_S)  # refused attempts, retries due later
    with receiver, running_app(config, clock) as (client, _feed):
        run_until(lambda: receiver.accepted_ids() == expected, clock, POLL_S, "the last run's changes")
        assert settled(client)[0]["delivered"] == 12
    assert len(expected) == 12 and receiver.order_violations() == []


def test_a_disabled_endpoint_keeps_its_changes_for_later(tmp_path: Path, db_url: str) -> None:  # noqa: F811
    clock = ManualClock(T0)
    with IncidentReceiver(SECRET, clock=clock) as receiver:
        disabled = delivery_config(tmp_path, db_url, {"grid-center": endpoint(receiver, enabled=False)})
        with running_app(disabled, clock) as (client, feed):
            write_changes(feed, 2)
            clock.advance(10 * POLL_S)
            # No worker runs for a disabled endpoint, so nothing waits on the clock that the test could follow: a
            # short real window in which a wrong send would show.
            time.sleep(0.3)
            assert receiver.requests == []
            expected = outbox_ids(feed)
        enabled = delivery_config(tmp_path, db_url, {"grid-center": endpoint(receiver)})
        with running_app(enabled, clock):
            receiver.wait_until(lambda r: r.accepted_ids() == expected, 10, "the waiting changes")


def test_no_endpoints_no_delivery(tmp_path: Path, db_url: str) -> None:  # noqa: F811
    config = delivery_config(tmp_path, db_url, {})
    with running_app(config) as (client, feed):
        write_changes(feed, 1)
        assert client.get("/deliveries").json() == []
        assert client.get("/deliveries/dead-letters").json()["total"] == 0
    assert len(outbox_ids(feed)) == 4  # written all the same: an endpoint configured later may replay them


def test_the_service_forgets_delivered_changes_after_the_retention_time(tmp_path: Path, db_url: str) -> None:  # noqa: F811
    # The outbox stamps a change with the wall time it was written (models/outbox.py): the service's clock starts at
    # the wall time here, to pass that by the retention time, and the incidents are of then too (not overdue).
    clock = ManualClock(datetime.now(UTC))
    now_m = (clock.now() - T0).total_seconds() / 60  # minutes(now_m) is the clock's start
    receiver = IncidentReceiver(SECRET, clock=clock)  # started only for the second run
    config = delivery_config(tmp_path, db_url, {"grid-center": endpoint(receiver)})
    with running_app(config, clock) as (_client, feed):
        write_changes(feed, 1, start=now_m)
        turns(clock, 3, POLL_S)  # refused attempts
    with receiver, running_app(config, clock) as (client, feed):
        run_until(lambda: len(receiver.accepted_ids()) == 4, clock, POLL_S, "4 changes")
        settled(client)
    delivered = outbox_ids(feed)
    assert len(delivered) == 4 and delivered == receiver.accepted_ids()  # kept: 30 days by default

    short = config.model_copy(
        update={"delivery": config.delivery.model_copy(update={"retain_delivered_days": 1 / 86_400})}
    )
    with running_app(short, clock) as (_client, feed):  # the receiver is gone: this change stays owed
        feed.open_incident(CAM_WALKWAY, "crowd", minutes(now_m + 10), magnitude=5, count=5)
    clock.advance(10.0)  # everything is now older than the retention time (one second), however slow the test
    with running_app(short, clock) as (_client, feed):  # pruning runs as the service starts, then hourly
        deadline = time.monotonic() + 5
        while len(outbox_ids(feed)) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        left = outbox_ids(feed)
    assert len(left) == 1 and not left & delivered  # only the change the receiver has not taken


def test_two_replicas_never_deliver_the_same_change_at_once(tmp_path: Path, postgres_schema_url: str) -> None:  # noqa: F811
    """Two API replicas on one PostgreSQL store, both delivery workers woken by every change, racing on the outbox
    to a slow, flaky receiver: no change is ever in flight twice at once, every change arrives, and a repeat (after
    a 503) carries the same CloudEvents id (the incident system's idempotency key) and the same body."""
    clock = ManualClock(T0)
    with IncidentReceiver(SECRET, clock=clock) as receiver:
        receiver.delay_s, receiver.fail_every = 0.01, 5
        # a lease far longer than the test's run of the clock: a repeat is then a retry, never a lapsed lease
        config = delivery_config(
            tmp_path, postgres_schema_url, {"grid-center": endpoint(receiver, timeout_s=60, max_attempts=1000)}
        )
        with running_app(config, clock, replicas=2) as (client, feed):
            write_changes(feed, 8)
            expected = outbox_ids(feed)
            run_until(lambda: receiver.accepted_ids() >= expected, clock, POLL_S, "every change", timeout_s=60)
            counts = settled(client)
    requests = receiver.snapshot()
    assert len(expected) == 32 and counts[0]["delivered"] == 32
    assert receiver.concurrent_deliveries() == []
    assert receiver.order_violations() == []
    repeated = {r.event["id"] for r in requests if not r.accepted}
    assert repeated, "the flaky receiver made some changes go twice"
    for event_id in repeated:
        bodies = {json.dumps(r.event, sort_keys=True) for r in requests if r.event["id"] == event_id}
        assert len(bodies) == 1, f"{event_id} was sent with different bodies"
