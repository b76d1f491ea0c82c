"""Websocket helpers over Starlette's test session: reads that time out instead of hanging, and middleware that
holds the server side of a connection (a client that stops reading; a server paused right after its accept).

`WebSocketTestSession.receive*` waits forever; these helpers read the same stream under a deadline.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Literal

import anyio
import anyio.to_thread
from starlette.testclient import WebSocketTestSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from models.clock import ManualClock
from tests.manual_time import advance_to_waiter

RECEIVE_TIMEOUT_S = 5.0
# How long "nothing more arrives" is watched for; delivery in-process takes well under a millisecond.
QUIET_S = 0.2


def _next_raw(ws: WebSocketTestSession, timeout: float) -> Message:
    async def receive() -> Message:
        with anyio.fail_after(timeout):
            return await ws._send_rx.receive()  # the stream WebSocketTestSession.receive() reads

    message: Message = ws.portal.call(receive)
    return message


def next_message(ws: WebSocketTestSession, timeout: float = RECEIVE_TIMEOUT_S) -> dict[str, Any]:
    """The next JSON message; WebSocketDisconnect if the server closed instead; TimeoutError if none came."""
    message = _next_raw(ws, timeout)
    if message["type"] == "websocket.close":
        raise WebSocketDisconnect(code=message.get("code", 1000), reason=message.get("reason", ""))
    assert message["type"] == "websocket.send", message
    received: dict[str, Any] = json.loads(message["text"])
    return received


def next_push(ws: WebSocketTestSession, timeout: float = RECEIVE_TIMEOUT_S) -> dict[str, Any]:
    """The next message that is not a heartbeat (a test that moves the service's clock by minutes also passes
    heartbeat intervals)."""
    while (message := next_message(ws, timeout))["type"] == "heartbeat":
        pass
    return message


def advance_to_heartbeat(clock: ManualClock, heartbeat_s: float, *, patience_s: float = RECEIVE_TIMEOUT_S) -> bool:
    """Once a websocket sender waits on the service's clock (a deadline within one heartbeat interval: the periodic
    jobs wait longer), advance the clock to that deadline; False if none waits within `patience_s` of real time."""
    return advance_to_waiter(clock, heartbeat_s, patience_s=patience_s)


def next_heartbeat(ws: WebSocketTestSession, clock: ManualClock, heartbeat_s: float) -> dict[str, Any]:
    """The next message, moving the service's clock from one sender deadline to the next until it comes (a sender
    whose timer fires before its quiet interval is over sets it again for the rest)."""
    deadline = time.monotonic() + RECEIVE_TIMEOUT_S
    while True:
        assert advance_to_heartbeat(clock, heartbeat_s), f"nothing waits on the clock within {heartbeat_s} s"
        try:
            return next_message(ws, timeout=0.05)
        except TimeoutError:
            assert time.monotonic() < deadline, f"no message after moving the clock for {RECEIVE_TIMEOUT_S} s"


def close_code_as_time_passes(ws: WebSocketTestSession, clock: ManualClock, heartbeat_s: float) -> int:
    """Read what the server sends, moving the service's clock a heartbeat interval whenever it is quiet, until the
    server closes; the close code."""
    deadline = time.monotonic() + RECEIVE_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            next_message(ws, timeout=0.05)
        except WebSocketDisconnect as closed:
            return closed.code
        except TimeoutError:
            advance_to_heartbeat(clock, heartbeat_s, patience_s=0.05)
    raise AssertionError(f"the server did not close within {RECEIVE_TIMEOUT_S} s")


def messages(ws: WebSocketTestSession, count: int) -> list[dict[str, Any]]:
    return [next_message(ws) for _ in range(count)]


def assert_quiet(ws: WebSocketTestSession) -> None:
    """Nothing more arrives (no extra message, no close) within QUIET_S."""
    try:
        message = _next_raw(ws, QUIET_S)
    except TimeoutError:
        return
    raise AssertionError(f"expected nothing more, got {message}")


def close_code(ws: WebSocketTestSession, *, max_messages: int = 10_000) -> tuple[int, list[dict[str, Any]]]:
    """Read until the server closes; the close code and the messages received before it."""
    received: list[dict[str, Any]] = []
    for _ in range(max_messages):
        try:
            received.append(next_message(ws))
        except WebSocketDisconnect as closed:
            return closed.code, received
    raise AssertionError(f"the server did not close after {max_messages} messages")


def seqs(received: list[dict[str, Any]]) -> list[int]:
    return [m["seq"] for m in received]


HOLD_HEADER = (b"x-test-hold", b"1")


class HeldTransport:
    """ASGI middleware that holds the server side of websocket connections carrying HOLD_HEADER until `release()`.

    `pause="before_each_send"` stands in for a client that stops reading: every `websocket.send` waits, the way a
    send blocks once the peer's TCP window is full. (The test session buffers without limit, so a test client
    that merely does not read is never slow as the server sees it.)
    `pause="after_accept"` lets the accept through to the client, then holds the server's handler right there: what
    the client does next happens before the server goes on.
    Other traffic passes through.
    """

    def __init__(
        self, app: ASGIApp, *, pause: Literal["before_each_send", "after_accept"], max_hold_s: float = 10.0
    ) -> None:
        self.app = app
        self.pause = pause
        self.max_hold_s = max_hold_s
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    async def _hold(self) -> None:
        await anyio.to_thread.run_sync(self._released.wait, self.max_hold_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or HOLD_HEADER not in scope.get("headers", []):
            await self.app(scope, receive, send)
            return

        async def held_send(message: Message) -> None:
            if self.pause == "before_each_send" and message["type"] == "websocket.send":
                await self._hold()
            await send(message)
            if self.pause == "after_accept" and message["type"] == "websocket.accept":
                await self._hold()

        await self.app(scope, receive, held_send)
