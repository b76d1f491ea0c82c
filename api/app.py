"""The FastAPI application. One lifespan creates the store, the websocket hub, the broker and the camera
pipelines; routes reach them only through the lifespan state (api/deps.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from analytics.detector import Detector
from analytics.line_counts import LineCounts
from analytics.replay_service import ReplayService
from analytics.service import AnalyticsService
from analytics.thumbnails import CameraThumbnails
from api.auth import Authenticator
from api.delivery.worker import DeliveryWorker
from api.deps import authenticate
from api.errors import AUTHENTICATED, install_error_handlers
from api.hub import WebsocketHub
from api.local_node import LocalNode
from api.metrics import ServiceMetrics
from api.middleware import SecurityHeaders
from api.routes import (
    api_keys,
    auth,
    cameras,
    cluster,
    deliveries,
    grids,
    health,
    incidents,
    open311,
    replays,
    sightings,
    stats,
    users,
    video_checks,
    ws,
)
from api.routes import audit as audit_route
from api.routes import metrics as metrics_route
from api.state import AppState
from models import accounts, audit
from models.clock import SYSTEM_CLOCK, Clock
from models.config import ServiceConfig
from models.database import Database
from models.push import LocalBroker, Publisher, PushJournal, Subscriber
from models.store import Store

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0  # how often the push log and the outbox drop what their retention lets go

CONSOLE_DIR = Path(__file__).resolve().parent / "console"


class MessageBroker(Publisher, Protocol):
    """Where live push messages travel: camera pipelines publish, the websocket hub subscribes."""

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]: ...


def create_app(
    config: ServiceConfig,
    *,
    run_cameras: bool = True,
    detectors: dict[str, Detector] | None = None,
    broker: MessageBroker | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> FastAPI:
    """`run_cameras=False` serves the API over the store only (e.g. an extra API replica).

    `broker` is what the websocket hub listens to and this app's pipelines publish to; each lifespan creates a
    `LocalBroker` of its own when none is given. An app that runs no cameras only pushes live messages when it is
    given the broker that the pipelines writing its store publish to (without one its websocket clients get the
    backlog from the store, then nothing).

    `clock` is the service's one clock (models/clock.py): closed-loop steps, deadlines, token expiry, delivery
    retries and polls, websocket heartbeats, the periodic jobs and the camera pipelines all read it and wait on it
    (tests inject a ManualClock and advance it).
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[AppState]:
        store = Store(
            config.store.url.get_secret_value(), pool_size=config.store.pool_size, max_overflow=config.store.max_overflow
        )
        await asyncio.to_thread(store.migrate)
        hub = WebsocketHub(asyncio.get_running_loop(), config.server.websocket_queue, clock)
        push_broker: MessageBroker = broker if broker is not None else LocalBroker()
        unsubscribe = push_broker.subscribe(hub.publish_threadsafe)
        analytics: AnalyticsService | None = None
        replay_service: ReplayService | None = None
        journal = PushJournal(store, push_broker)
        # Delivery starts before anything can write an incident change (a new endpoint begins with the next one);
        # it picks up whatever an earlier run left undelivered, and the broker wakes it for each new change.
        delivery = DeliveryWorker(store, config.delivery, clock=clock)
        await delivery.start()
        unsubscribe_delivery = push_broker.subscribe(delivery.notify)
        authenticator = Authenticator(config.auth, clock, store)
        metrics = ServiceMetrics()
        if authenticator.random_secret:
            log.warning("auth.jwt_secret is not set: login tokens are signed with a key made now (lost on restart)")
        retention = timedelta(days=config.server.websocket_resume_days)

        def flag_overdue() -> None:
            # once per cluster (run_every); and the store remembers which were announced, so even two at once
            # announce each once
            if flagged := journal.overdue(clock.now()):
                log.info("%d incident(s) overdue", len(flagged))

        def prune_push_log() -> None:
            # a websocket client resuming from before the removed messages is closed with 4410
            if removed := store.push_log.prune(clock.now() - retention):
                log.info("push log: removed %d message(s) older than %s", removed, retention)

        throttle_window = timedelta(seconds=config.auth.login_throttle.window_s)

        audit_retention = timedelta(days=config.audit.retention_days)

        def prune_accounts() -> None:
            now = clock.now()
            with store.database.side_transaction() as connection:
                accounts.prune(connection, now=now, throttle_window=throttle_window)
                if removed := audit.prune(connection, before=now - audit_retention):
                    log.info("audit log: removed %d event(s) older than %s", removed, audit_retention)

        # Cluster singletons: with several API replicas on one PostgreSQL store, one runs each job at a time.
        jobs: list[tuple[float, Callable[[], object], str]] = [
            (config.closed_loop.overdue_check_s, flag_overdue, "overdue check"),
            (PRUNE_EVERY_S, prune_push_log, "push log pruning"),
            (PRUNE_EVERY_S, delivery.prune, "outbox pruning"),
            (PRUNE_EVERY_S, prune_accounts, "sessions, login counters, audit log"),
        ]
        periodic = [
            asyncio.create_task(run_every(every_s, job, what, clock, store.database)) for every_s, job, what in jobs
        ]
        try:
            if run_cameras:
                analytics = await asyncio.to_thread(
                    AnalyticsService, config, journal, detectors=detectors, clock=clock, on_inference=metrics.observe_inference,
                    subscribe=push_broker.subscribe,
                )  # fmt: skip
                await asyncio.to_thread(analytics.start)
            running = analytics
            metrics.read_from(
                store,
                frame_counts=lambda: running.frame_counts() if running is not None else {},
                delivery_failures=delivery.failures,
                websocket_clients=lambda: hub.client_count,
                inference_queues=lambda: running.queue_stats() if running is not None else {},
            )
            # Replays (virtual test cameras) share the live cameras' models; others load on a replay's first use.
            replay_service = ReplayService(
                config, journal, detectors=analytics.detectors if analytics else detectors, clock=clock
            )
            yield {
                "store": store,
                "config": config,
                "hub": hub,
                "grid_tree": config.grid_tree(),
                "journal": journal,
                "authenticator": authenticator,
                "metrics": metrics,
                "clock": clock,
                "replays": replay_service,
                "thumbnails": CameraThumbnails.in_data_dir(config.store.data_dir),
                "line_counts": LineCounts.in_data_dir(config.store.data_dir),
                "local_node": LocalNode(
                    started_at=clock.now(),
                    camera_ids=[camera_id for camera_id, _ in config.enabled_cameras()],
                    models=lambda: sorted(running.detectors) if running is not None else [],
                ),
            }
        finally:
            if replay_service is not None:
                await asyncio.to_thread(replay_service.stop)
            for task in periodic:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if analytics is not None:
                await asyncio.to_thread(analytics.stop)
            unsubscribe_delivery()
            await delivery.stop()
            unsubscribe()
            store.close()

    app = FastAPI(
        title="Xueliang",
        version="0.1.0",
        summary="Video-linked situational awareness for city grid governance: camera events become grid incidents.",
        lifespan=lifespan,
        max_body_size=config.server.max_body_bytes,  # 413 while reading, never after (FastAPI/Starlette)
    )
    install_error_handlers(app)
    app.add_middleware(SecurityHeaders)
    # Open: health and login (and the OpenAPI docs). Every other route needs credentials; the websocket checks
    # its own before accepting (a dependency cannot close a websocket before the accept), /metrics as
    # `server.metrics` says, the auth routes each their own (refresh and logout take the token to renew or end).
    for module in (health, auth, ws, metrics_route):
        app.include_router(module.router)
    app.include_router(deliveries.router)  # admins only: the router requires it
    for module in (users, api_keys, audit_route, cluster):  # admins only: each route requires it
        app.include_router(module.router)
    for module in (cameras, grids, incidents, video_checks, sightings, stats, open311, replays):
        app.include_router(module.router, dependencies=[Depends(authenticate)], responses=AUTHENTICATED)
    # The operator console: static files only (no build step, nothing from the internet); it logs in and reads
    # the same API as everyone else, so it can show nothing the caller could not fetch itself.
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")

    publish_grid_code_pattern(app, config)

    @app.get("/", include_in_schema=False)
    def console_home() -> RedirectResponse:
        return RedirectResponse("/console/")

    return app


def publish_grid_code_pattern(app: FastAPI, config: ServiceConfig) -> None:
    """The OpenAPI document says what a grid code of this district looks like: the routes accept up to 32 digits
    (the code lengths come from the config), the document tells the lengths the config gives (6, 9, 12, 15 by
    default), so that `grid=0` is invalid by the schema as it is for the service."""
    lengths = sorted({sum(config.grid.level_digits[: i + 1]) for i in range(len(config.grid.level_digits))})
    pattern = "^(?:" + "|".join(rf"\d{{{n}}}" for n in lengths) + ")$"
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path, operations in schema.get("paths", {}).items():
                names = GRID_CODE_PARAMETERS | ({"code", "root"} if path.startswith("/grids") else set())
                for operation in operations.values():
                    for parameter in operation.get("parameters", []):
                        if parameter.get("name") in names:
                            _set_pattern(parameter.get("schema", {}), pattern)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


GRID_CODE_PARAMETERS = {"grid"}  # the filter naming a grid cell (and /grids' own `code` and `root`)


def _set_pattern(schema: dict[str, Any], pattern: str) -> None:
    if schema.get("type") == "string":
        schema["pattern"] = pattern
    for option in schema.get("anyOf", []):
        _set_pattern(option, pattern)


async def run_every(
    interval_s: float,
    work: Callable[[], object],
    what: str,
    clock: Clock = SYSTEM_CLOCK,
    database: Database | None = None,
) -> None:
    """Run `work` in a worker thread at start, then every `interval_s` of `clock`'s time, until cancelled; a failure
    is logged and tried again at the next turn.

    With `database`, `work` is a cluster singleton: each round runs only where `database.once_per_cluster(what)`
    claims it, so of several API replicas on one PostgreSQL store one runs it at a time and the others skip that
    round (the next round any of them may run it)."""

    def once() -> object:
        if database is None:
            return work()
        with database.once_per_cluster(what) as claimed:
            if claimed:
                return work()
            log.debug("%s: another replica runs it now; skipped this round", what)
            return None

    while True:
        try:
            await asyncio.to_thread(once)
        except Exception:
            log.exception("%s failed; retrying in %.0f s", what, interval_s)
        await clock.asleep(interval_s)
