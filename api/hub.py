"""Websocket fan-out. Each client has its own bounded queue and subscription filter; a slow client is
disconnected when its queue overflows and never slows the others.

A published message is encoded to JSON text once, here, and that one string is queued for every client that
wants it (the ws route sends it as is): at 500 clients the per-client cost is a queue append and a frame send,
not a dict, a `json.dumps` and a task each.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from models.clock import SYSTEM_CLOCK, Clock, Timer
from models.incident import PushMessage

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 4008  # websocket close code sent to a client whose queue overflowed


@dataclass(frozen=True)
class Subscription:
    """What a client asked for when it connected: a grid subtree and/or a category; None means all."""

    grid_code: str | None = None
    category_code: str | None = None

    def wants(self, message: PushMessage) -> bool:
        if self.grid_code is not None and not (message.grid_code or "").startswith(self.grid_code):
            return False
        # Like the store's filter: a category subscription leaves out camera.status (it has no category).
        return self.category_code is None or message.category_code == self.category_code


def message_json(message: PushMessage) -> dict[str, Any]:
    return {
        "seq": message.seq,
        "type": message.type,
        "at": message.at.isoformat(),
        "data": message.data,
    }


def encode(payload: dict[str, Any]) -> str:
    """JSON text as Starlette's `send_json` writes it (compact, UTF-8 kept as is)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def message_text(message: PushMessage) -> str:
    return encode(message_json(message))


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message as sent: its seq (for the sender's strictly-increasing check) and its encoded JSON text, one
    object shared by every client's queue."""

    seq: int
    text: str


class Client:
    """One websocket's queue. Its sender (the ws route) waits on it, then sends everything queued in one go.

    `pending` holds every message accepted and not yet sent, the one being sent included (it is removed once
    sent), so the bound is on everything the client is behind by: `queue_size` waiting plus the one in the send.
    """

    def __init__(self, subscription: Subscription, queue_size: int = 1000, clock: Clock = SYSTEM_CLOCK) -> None:
        self.subscription = subscription
        self.clock = clock
        self.queue_size = queue_size
        self.pending: deque[Outgoing] = deque()
        self.overflowed = False
        self.closed = False
        self._waiter: asyncio.Future[bool] | None = None
        # The heartbeat timer is armed lazily: a timer per wait (created, then cancelled by the next message) cost
        # more than the rest of a delivery's wake-up; this one fires at most once per quiet interval.
        self._quiet_until = 0.0
        self._timer: Timer | None = None

    def offer(self, outgoing: Outgoing) -> None:
        """Queue a message (event loop only). On overflow, stop queueing and wake the sender to close."""
        if self.overflowed or self.closed:
            return
        if len(self.pending) > self.queue_size:
            self.overflowed = True
            log.warning("websocket client too slow (queue of %d full); disconnecting it", self.queue_size)
            # Nothing after the overflow is queued: what the client received before the close has no gap, so
            # resuming with `after=<its last seq>` loses nothing. The sender closes after the send in progress.
        else:
            self.pending.append(outgoing)
        self._wake(True)

    def close(self) -> None:
        """The connection is gone (its reader saw the disconnect, or it was removed): wake the sender to stop."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake(True)

    def _wake(self, value: bool) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(value)

    async def wait(self, timeout: float) -> bool:
        """Until something is queued, the queue overflowed or the client closed (True), or `timeout` s of the
        clock's time (False)."""
        if self.pending or self.overflowed or self.closed:
            return True
        self._quiet_until = self.clock.monotonic() + timeout
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        if self._timer is None:
            self._timer = self.clock.call_later(timeout, self._quiet_check)
        try:
            return await waiter
        finally:
            self._waiter = None

    def _quiet_check(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # not waiting: the next wait arms the timer again
        left = self._quiet_until - self.clock.monotonic()
        if left <= 0.001:  # timers may fire up to a clock tick early
            waiter.set_result(False)
        else:  # a later wait began meanwhile: its own interval
            self._timer = self.clock.call_later(left, self._quiet_check)


class WebsocketHub:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, queue_size: int = 1000, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        """`clock`: what the clients' heartbeat intervals are measured on."""
        self.loop = loop
        self.queue_size = queue_size
        self.clock = clock
        # clients grouped by subscription: each distinct filter is evaluated once per message, not once per client
        self._by_subscription: dict[Subscription, set[Client]] = {}

    @property
    def client_count(self) -> int:
        """Clients connected now (`xueliang_websocket_clients`)."""
        return sum(len(group) for group in self._by_subscription.values())

    def add(self, subscription: Subscription) -> Client:
        client = Client(subscription, self.queue_size, self.clock)
        self._by_subscription.setdefault(subscription, set()).add(client)
        return client

    def remove(self, client: Client) -> None:
        client.close()
        group = self._by_subscription.get(client.subscription)
        if group is not None:
            group.discard(client)
            if not group:
                del self._by_subscription[client.subscription]

    def publish_threadsafe(self, message: PushMessage) -> None:
        """Called from pipeline threads (a broker subscriber): encode the message here, off the event loop, then
        hand it to the loop."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(
                self._fan_out, message, Outgoing(message.seq, message_text(message))
            )

    def publish(self, message: PushMessage) -> None:
        """Fan a message out to every client that wants it (event loop only)."""
        self._fan_out(message, Outgoing(message.seq, message_text(message)))

    def _fan_out(self, message: PushMessage, outgoing: Outgoing) -> None:
        # No copies: offering only queues and wakes (callbacks run later), so no client joins or leaves meanwhile.
        for subscription, group in self._by_subscription.items():
            if subscription.wants(message):
                for client in group:
                    client.offer(outgoing)
