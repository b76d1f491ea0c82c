"""What the app's lifespan yields, typed (Starlette's lifespan state as a `TypedDict`): the one place that says
what every request and websocket can reach. Routes take it through the dependency aliases of api/deps.py."""

from __future__ import annotations

from typing import TypedDict, cast

from starlette.requests import HTTPConnection

from analytics.line_counts import LineCounts
from analytics.replay_service import ReplayService
from analytics.thumbnails import CameraThumbnails
from api.auth import Authenticator
from api.hub import WebsocketHub
from api.local_node import LocalNode
from api.metrics import ServiceMetrics
from models.clock import Clock
from models.config import ServiceConfig
from models.grid import GridTree
from models.push import PushJournal
from models.store import Store


class AppState(TypedDict):
    store: Store
    config: ServiceConfig
    hub: WebsocketHub
    grid_tree: GridTree
    journal: PushJournal
    authenticator: Authenticator
    metrics: ServiceMetrics
    clock: Clock
    replays: ReplayService
    # the camera wall's thumbnails, as the pipelines (here or on another node) wrote them to the data dir
    thumbnails: CameraThumbnails
    # the people-flow counts of camera lines, written by the pipelines to the data dir the same way
    line_counts: LineCounts
    # this process as the one node of the single-process mode (GET /cluster)
    local_node: LocalNode


def app_state(connection: HTTPConnection) -> AppState:
    """The lifespan's state as a request or websocket sees it. Starlette copies the dict the lifespan yielded into
    each connection's scope["state"] (typed as a plain dict there); the lifespan is typed to yield an AppState,
    so this cast is the one place the type is asserted."""
    return cast(AppState, connection.scope["state"])
