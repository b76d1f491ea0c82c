"""`GET /metrics`: who may scrape it (server.metrics), and that its numbers move when the service does something.

The camera-side metrics of a real pipeline (frames analysed, inference time) are checked end to end in
tests/e2e/test_service_end_to_end.py; here the store's side (as the pipelines write it) and the API's own."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from ingest.health import CameraState
from models.clock import ManualClock
from models.config import ServiceConfig
from tests.api.access import INCIDENT_SYSTEM_KEY, bearer
from tests.api.camera_feed import CAM_FIRE_LANE, CAM_WALKWAY, T0, CameraFeed, minutes
from tests.api.test_delivery import FAST, POLL_S, delivery_config, running_app
from tests.manual_time import run_until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient, **kwargs: object) -> Samples:
    response = client.get("/metrics", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_numbers_move_when_the_service_does_something(client: TestClient, feed: CameraFeed) -> None:
    before = scrape(client)
    assert value(before, "xueliang_incidents_opened_total", category="0301") is None
    assert value(before, "xueliang_websocket_clients") == 0

    feed.camera_status(CAM_WALKWAY, CameraState.ONLINE, minutes(0))
    feed.camera_status(CAM_FIRE_LANE, CameraState.OFFLINE, minutes(0), last_error="connection refused")
    crowd = feed.open_incident(CAM_WALKWAY, "crowd", minutes(1), count=40)
    feed.open_incident(CAM_WALKWAY, "crowd", minutes(2), count=45)
    client.post("/auth/token", data={"username": "admin", "password": "wrong"})  # same lifespan as `client`
    with client.websocket_connect("/ws") as ws:
        ws.receive_json()
        during = scrape(client)
    after = scrape(client)

    assert value(during, "xueliang_incidents_opened_total", category=crowd.category_code) == 2
    assert value(during, "xueliang_camera_state", camera=CAM_WALKWAY, state="online") == 1
    assert value(during, "xueliang_camera_state", camera=CAM_WALKWAY, state="offline") == 0
    assert value(during, "xueliang_camera_state", camera=CAM_FIRE_LANE, state="offline") == 1
    assert value(during, "xueliang_camera_frames_decoded_total", camera=CAM_WALKWAY) is not None
    assert value(during, "xueliang_login_attempts_total", outcome="failed") == 1
    assert value(during, "xueliang_websocket_clients") == 1
    assert value(after, "xueliang_websocket_clients") == 0


def test_delivery_queue_depth_and_failures(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on: every attempt is refused
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    endpoints = {"cms": {"url": f"http://127.0.0.1:{dead_port}/events", "secret": "${XL_TEST_DELIVERY_SECRET}",
                         "max_attempts": 1000, **FAST}}  # fmt: skip
    config = delivery_config(tmp_path, f"sqlite:///{tmp_path / 'xl.db'}", endpoints)
    clock = ManualClock(T0)
    with running_app(config, clock) as (client, feed):
        assert value(scrape(client), "xueliang_delivery_queue_depth", endpoint="cms") is None
        feed.open_incident(CAM_WALKWAY, "crowd", minutes(1), count=40)

        def failed_twice() -> bool:
            return (value(scrape(client), "xueliang_delivery_failures_total", endpoint="cms") or 0) >= 2

        run_until(failed_twice, clock, POLL_S, "two failed attempts")  # the retry's backoff passes on the clock
        samples = scrape(client)
        assert value(samples, "xueliang_delivery_queue_depth", endpoint="cms") == 1
        assert value(samples, "xueliang_delivery_dead_letters", endpoint="cms") == 0


@pytest.mark.parametrize("setting", ["admin", "open", "off"])
def test_who_may_scrape(config: ServiceConfig, setting: str) -> None:
    config = config.model_copy(update={"server": config.server.model_copy(update={"metrics": setting})})
    clock = ManualClock(T0)
    with TestClient(create_app(config, run_cameras=False, clock=clock)) as api:
        admin, operator = bearer(config, "admin", T0), bearer(config, "beishan", T0)
        codes = [
            api.get("/metrics").status_code,
            api.get("/metrics", headers=admin).status_code,
            api.get("/metrics", headers=operator).status_code,
            api.get("/metrics", headers={"X-API-Key": INCIDENT_SYSTEM_KEY}).status_code,  # not an admin
        ]
        expected = {"admin": [401, 200, 403, 403], "open": [200] * 4, "off": [404] * 4}[setting]
        assert codes == expected
        if setting == "admin":  # Prometheus sends an admin API key as a bearer token
            created = api.post("/api-keys", headers=admin, json={"name": "prometheus", "role": "admin"})
            key = created.json()["key"]
            assert api.get("/metrics", headers={"Authorization": f"Bearer {key}"}).status_code == 200
            assert api.get("/metrics", headers={"X-API-Key": key}).status_code == 200
