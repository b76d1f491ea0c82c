"""Shared dependencies, taken from the typed lifespan state (api/state.py; no module globals), and who is calling
(api/auth.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, WebSocket
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from starlette.requests import HTTPConnection

from analytics.line_counts import LineCounts
from analytics.replay_service import ReplayService
from analytics.thumbnails import CameraThumbnails
from api.auth import Authenticator, Principal
from api.hub import WebsocketHub
from api.local_node import LocalNode
from api.metrics import ServiceMetrics
from api.state import app_state
from models.clock import Clock
from models.config import ServiceConfig
from models.grid import GridTree
from models.lifecycle import WRITING_ROLES, Role
from models.push import PushJournal
from models.store import Store


def _store(connection: HTTPConnection) -> Store:
    return app_state(connection)["store"]


def _config(connection: HTTPConnection) -> ServiceConfig:
    return app_state(connection)["config"]


def _grid_tree(connection: HTTPConnection) -> GridTree:
    return app_state(connection)["grid_tree"]


def _journal(connection: HTTPConnection) -> PushJournal:
    return app_state(connection)["journal"]


def _authenticator(connection: HTTPConnection) -> Authenticator:
    return app_state(connection)["authenticator"]


def _thumbnails(connection: HTTPConnection) -> CameraThumbnails:
    return app_state(connection)["thumbnails"]


def _metrics(connection: HTTPConnection) -> ServiceMetrics:
    return app_state(connection)["metrics"]


def _line_counts(connection: HTTPConnection) -> LineCounts:
    return app_state(connection)["line_counts"]


def _replays(connection: HTTPConnection) -> ReplayService:
    return app_state(connection)["replays"]


def _local_node(connection: HTTPConnection) -> LocalNode:
    return app_state(connection)["local_node"]


def _hub(connection: HTTPConnection) -> WebsocketHub:
    return app_state(connection)["hub"]


def _clock(connection: HTTPConnection) -> Clock:
    return app_state(connection)["clock"]


def _now(clock: Annotated[Clock, Depends(_clock)]) -> datetime:
    return clock.now()


StoreDep = Annotated[Store, Depends(_store)]
ConfigDep = Annotated[ServiceConfig, Depends(_config)]
GridTreeDep = Annotated[GridTree, Depends(_grid_tree)]
JournalDep = Annotated[PushJournal, Depends(_journal)]
AuthenticatorDep = Annotated[Authenticator, Depends(_authenticator)]
ClockDep = Annotated[Clock, Depends(_clock)]
NowDep = Annotated[datetime, Depends(_now)]
ThumbnailsDep = Annotated[CameraThumbnails, Depends(_thumbnails)]
MetricsDep = Annotated[ServiceMetrics, Depends(_metrics)]
LineCountsDep = Annotated[LineCounts, Depends(_line_counts)]
ReplaysDep = Annotated[ReplayService, Depends(_replays)]
LocalNodeDep = Annotated[LocalNode, Depends(_local_node)]

bearer_token = OAuth2PasswordBearer(
    tokenUrl="/auth/token", auto_error=False, description="A user's token from POST /auth/token."
)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="A service's API key.")

UNAUTHENTICATED = HTTPException(401, "not authenticated", headers={"WWW-Authenticate": "Bearer"})


def authenticate(
    authenticator: AuthenticatorDep,
    token: Annotated[str | None, Security(bearer_token)],
    api_key: Annotated[str | None, Security(api_key_header)],
) -> Principal:
    """The caller, from an `X-API-Key` header or a bearer token; 401 without valid credentials."""
    principal = None
    if api_key:
        principal = authenticator.from_api_key(api_key)
    elif token:
        principal = authenticator.from_token(token)
    if principal is None:
        raise UNAUTHENTICATED
    return principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def require_writer(principal: PrincipalDep) -> Principal:
    """A caller whose role may take some step of the closed loop (not a viewer): 403 otherwise."""
    if principal.role not in WRITING_ROLES:
        raise HTTPException(403, f"a {principal.role.value} may not change incidents")
    return principal


WriterDep = Annotated[Principal, Depends(require_writer)]


def require_admin(principal: PrincipalDep) -> Principal:
    """An admin (of the whole tree or of a subtree): 403 for every other role."""
    if principal.role is not Role.ADMIN:
        raise HTTPException(403, "this is for admins")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


def client_address(request: Request) -> str | None:
    """The caller's IP address as the server sees it (behind a reverse proxy: the address uvicorn takes from
    X-Forwarded-For when the proxy is in its `forwarded_allow_ips`)."""
    return request.client.host if request.client is not None else None


AddressDep = Annotated[str | None, Depends(client_address)]
BearerDep = Annotated[str | None, Security(bearer_token)]


@dataclass(frozen=True)
class WsCaller:
    """The websocket caller, and how to tell later whether its credentials still hold (a revoked key, a login
    ended by logout, a password reset or a disabled user: the open connection is closed with 4401)."""

    principal: Principal
    still_valid: Callable[[], bool]


def ws_principal(websocket: WebSocket) -> WsCaller | None:
    """The websocket caller: `X-API-Key` or `Authorization: Bearer` headers, or (for browsers, which cannot set
    headers on a websocket) the `api_key` or `access_token` query parameters. None when there are none or they
    are not valid; the route then closes the connection before accepting it."""
    authenticator = app_state(websocket)["authenticator"]
    headers, params = websocket.headers, websocket.query_params
    api_key = headers.get("x-api-key") or params.get("api_key")
    if api_key:
        principal = authenticator.from_api_key(api_key)
        return WsCaller(principal, lambda: authenticator.from_api_key(api_key) is not None) if principal else None
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    token = token or params.get("access_token", "")
    principal = authenticator.from_token(token) if token else None
    if principal is None:
        return None
    # Expiry is not checked again: the console renews its token, and the connection ends with the login.
    return WsCaller(principal, lambda: authenticator.verify(token, check_expiry=False) is not None)


# The state's getters take an HTTPConnection, so the same aliases serve websockets; these names say where.
WsStoreDep = StoreDep
WsHubDep = Annotated[WebsocketHub, Depends(_hub)]
WsGridTreeDep = GridTreeDep
WsConfigDep = ConfigDep
WsClockDep = ClockDep
WsPrincipalDep = Annotated[WsCaller | None, Depends(ws_principal)]
