"""API fixtures: the demo config on a temporary SQLite store, the app without cameras (on a clock the tests move),
a client signed in as the demo admin, and a camera feed that writes into the same store and publishes through the
broker the app's websocket hub listens to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from models.clock import ManualClock
from models.config import ServiceConfig
from models.push import LocalBroker, PushJournal
from models.store import Store
from tests.api.access import bearer
from tests.api.camera_feed import T0, CameraFeed, demo_config


@pytest.fixture
def config(tmp_path: Path) -> ServiceConfig:
    return demo_config(tmp_path)


@pytest.fixture
def broker() -> LocalBroker:
    return LocalBroker()


@pytest.fixture
def feed(config: ServiceConfig, broker: LocalBroker) -> Iterator[CameraFeed]:
    """The pipelines' side: its own Store on the API's database, publishing to the API's broker."""
    store = Store(config.store.url.get_secret_value())
    store.migrate()
    try:
        yield CameraFeed(config, PushJournal(store, broker))
    finally:
        store.close()


@pytest.fixture
def clock() -> ManualClock:
    """The service's time; starts at the feed's T0 (camera_feed.minutes(0))."""
    return ManualClock(T0)


@pytest.fixture
def app(config: ServiceConfig, broker: LocalBroker, clock: ManualClock) -> FastAPI:
    return create_app(config, run_cameras=False, broker=broker, clock=clock)


@pytest.fixture
def client(app: FastAPI, config: ServiceConfig, clock: ManualClock) -> Iterator[TestClient]:
    """The API serving the store only, signed in as the demo admin; the lifespan runs (store, hub subscribed to
    `broker`)."""
    with TestClient(app, headers=bearer(config, "admin", clock.now())) as client:
        yield client


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    """The same API without credentials."""
    with TestClient(app) as client:
        yield client
