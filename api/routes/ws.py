"""Websocket `/ws`: live incidents and camera status, each message with a strictly increasing `seq`.

Credentials (checked before anything is subscribed or sent; missing or invalid ones close it with 4401): an
`X-API-Key` or `Authorization: Bearer` header, or, for browsers, the `api_key` or `access_token` query parameter.
A caller only ever receives messages from its grid subtree.

Query parameters: `grid` (a grid cell code: its subtree only; a cell outside the caller's subtree closes with
1008 like an unknown one), `category` (an event category code), `after` (resume: every message with a larger seq
is sent from the store first, then live). Without `after`, the latest status of each camera is sent first.
The store keeps messages for `server.websocket_resume_days`: an `after` from before the oldest removed message
(the store's `pruned_through_seq`) cannot be resumed without a gap, so it is closed with 4410 (like HTTP 410 Gone:
reload the lists, then connect without `after`, or with `after=` the `last_seq` of `GET /healthz`). That
happens before anything is sent, or, should pruning overtake a long backlog while it is being sent, mid-way.
Messages: `{"seq": 12, "type": "incident.opened" | "incident.updated" | "incident.closed" |
"incident.transition" | "incident.overdue" | "camera.status", "at": "2026-...Z", "data": {...}}`.

Heartbeats: when a client has been sent nothing for `server.websocket_heartbeat_s`, it gets
`{"type": "heartbeat", "seq": <the last seq it was sent>, "at": "2026-...Z"}`. A heartbeat has no seq of its own
(`seq` repeats the last one, so it is also where to resume from); a client that hears nothing for a few intervals
should assume the link is dead, reconnect, and resume with `after=<the last seq it saw>`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from api.auth import OutsideScope
from api.deps import WsClockDep, WsConfigDep, WsGridTreeDep, WsHubDep, WsPrincipalDep, WsStoreDep
from api.hub import CLOSE_TOO_SLOW, Client, Subscription, encode, message_text
from models.clock import Clock
from models.incident import PushMessage
from models.store import Store

router = APIRouter(tags=["live"])

CLOSE_BAD_REQUEST = 1008
CLOSE_UNAUTHENTICATED = 4401  # like HTTP 401: no credentials, or invalid ones
CLOSE_RESUME_TOO_OLD = 4410  # like HTTP 410 Gone: messages after `after` were pruned; reload, then connect afresh
REPLAY_PAGE = 500
MAX_SEQ = 2**63 - 1  # the log's seq is a signed 64-bit integer
SEND_SLICE = 64  # messages one client sends before letting the others run


@router.websocket("/ws")
async def live(
    websocket: WebSocket,
    store: WsStoreDep,
    hub: WsHubDep,
    tree: WsGridTreeDep,
    config: WsConfigDep,
    caller: WsPrincipalDep,
    clock: WsClockDep,
) -> None:
    if caller is None:
        await _refuse(websocket, CLOSE_UNAUTHENTICATED, "not authenticated")
        return
    principal = caller.principal
    params = websocket.query_params
    grid, category, after = params.get("grid"), params.get("category"), params.get("after")
    problem = None
    scoped_grid: str | None = None
    if grid is not None and tree.get(grid) is None:
        problem = f"unknown grid cell {grid!r}"
    elif category is not None and category not in config.event_categories:
        problem = f"unknown event category {category!r}"
    elif after is not None and not (
        after.isascii() and after.isdigit() and len(after) <= len(str(MAX_SEQ)) and int(after) <= MAX_SEQ
    ):
        # isascii: str.isdigit() also accepts digits such as '²' that int() refuses; a seq the store cannot hold
        # would fail in the replay query
        problem = "after must be a non-negative integer sequence number"
    if problem is None:
        try:
            scoped_grid = principal.narrow(grid)
        except OutsideScope:
            problem = f"unknown grid cell {grid!r}"  # outside the caller's subtree: as if it did not exist
    if problem:
        await _refuse(websocket, CLOSE_BAD_REQUEST, problem[:120])
        return
    subscription = Subscription(grid_code=scoped_grid, category_code=category)
    client = hub.add(subscription)  # subscribe first, so nothing published during the replay is missed
    try:
        # A fresh client starts from "now", taken before the accept: every message committed after the client
        # sees the connection open reaches it.
        now_seq = await asyncio.to_thread(store.push_log.last_seq) if after is None else None
        await websocket.accept()
        last_sent = await _send_backlog(
            websocket, store, subscription, int(after) if after is not None else None, now_seq
        )
        if last_sent is None:
            # Accepted before the backlog, so a browser sees this code too (see _refuse).
            await websocket.close(CLOSE_RESUME_TOO_OLD, "resume point too old: reload, then connect without after")
            return
        receiver = asyncio.create_task(_drain_incoming(websocket))
        receiver.add_done_callback(lambda _: client.close())  # the client went away: wake the sender to stop
        try:
            await _send_live(
                websocket, client, last_sent, config.server.websocket_heartbeat_s, caller.still_valid, clock
            )
        finally:
            receiver.cancel()
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.remove(client)


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with `code` before anything is subscribed or sent. Accepted first: a close before the accept reaches a
    real client (a browser) as an HTTP 403 handshake failure with close code 1006, so it could not tell "log in
    again" or "bad request" from a network drop."""
    await websocket.accept()
    await websocket.close(code, reason)


async def _send_live(
    websocket: WebSocket,
    client: Client,
    last_sent: int,
    heartbeat_s: float,
    still_valid: Callable[[], bool],
    clock: Clock,
) -> None:
    """The client's one sender: wait until something is queued, then send everything queued, each message's
    pre-encoded text as is (no task, dict or JSON encoding per message). Returns when the client has gone.

    Every heartbeat interval it checks that the caller's credentials still hold (one store read) and closes with
    4401 once they do not: a logout, a password reset, a disabled user or a revoked key ends open connections too."""
    pending = client.pending
    checked = clock.monotonic()
    while True:
        if clock.monotonic() - checked >= heartbeat_s:
            checked = clock.monotonic()
            if not await asyncio.to_thread(still_valid):
                await websocket.close(CLOSE_UNAUTHENTICATED, "credentials no longer valid: log in again")
                return
        if not await client.wait(heartbeat_s):  # quiet for a heartbeat interval: show the link is alive
            await websocket.send_text(encode(heartbeat_json(last_sent, clock.now())))
            continue
        sent = 0
        while pending and not client.overflowed and not client.closed:
            outgoing = pending[0]
            if outgoing.seq > last_sent:  # a message the backlog already sent is skipped
                await websocket.send_text(outgoing.text)
                last_sent = outgoing.seq
                sent += 1
                if sent % SEND_SLICE == 0:
                    await asyncio.sleep(0)  # a send that does not block does not yield: let other clients run
            pending.popleft()
        if client.overflowed:
            await websocket.close(CLOSE_TOO_SLOW, "client too slow: message queue overflowed")
            return
        if client.closed:
            return


def heartbeat_json(last_seq: int, at: datetime) -> dict[str, Any]:
    """A heartbeat: `seq` is the last seq this client was sent (resume with `after=` it); it takes no seq itself."""
    return {"type": "heartbeat", "seq": last_seq, "at": at.astimezone(UTC).isoformat().replace("+00:00", "Z")}


async def _send_backlog(
    websocket: WebSocket, store: Store, subscription: Subscription, after: int | None, now_seq: int | None
) -> int | None:
    """Send what the client needs before live messages; returns the last seq sent (`now_seq` for a fresh client),
    or None when the log no longer holds every message after `after` (pruned: close with 4410)."""
    if after is None:
        # A fresh client: each camera's latest status as of now, then every message after now.
        assert now_seq is not None
        backlog: list[PushMessage] = await asyncio.to_thread(store.push_log.latest_camera_messages)
        for message in backlog:
            if message.seq <= now_seq and subscription.wants(message):
                await websocket.send_text(message_text(message))
        return now_seq
    last_sent = after
    while True:
        page: list[PushMessage] = await asyncio.to_thread(
            store.push_log.since,
            last_sent,
            REPLAY_PAGE,
            grid_code=subscription.grid_code,
            category_code=subscription.category_code,
        )
        # Read after the page: a pruning committed before the page was read shows here, so a page read in full
        # (nothing above `last_sent` pruned yet) is never sent with a hole in it.
        if await asyncio.to_thread(store.push_log.pruned_through_seq) > last_sent:
            return None
        for message in page:
            await websocket.send_text(message_text(message))
            last_sent = message.seq
        if len(page) < REPLAY_PAGE:
            return last_sent


async def _drain_incoming(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
