"""Websocket fan-out. Each client has its own bounded queue and subscription filter; a slow client is
disconnected when its queue overflows and never slows the others."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(eq=False)
class Client:
    subscription: Subscription
    queue: asyncio.Queue[PushMessage | None] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    overflowed: bool = False


def message_json(message: PushMessage) -> dict[str, Any]:
    return {
        "seq": message.seq,
        "type": message.type,
        "at": message.at.isoformat(),
        "data": message.data,
    }


class WebsocketHub:
    def __init__(self, loop: asyncio.AbstractEventLoop, queue_size: int = 1000) -> None:
        self.loop = loop
        self.queue_size = queue_size
        self.clients: set[Client] = set()

    def add(self, subscription: Subscription) -> Client:
        client = Client(subscription, asyncio.Queue(maxsize=self.queue_size))
        self.clients.add(client)
        return client

    def remove(self, client: Client) -> None:
        self.clients.discard(client)

    def publish_threadsafe(self, message: PushMessage) -> None:
        """Called from pipeline threads (a broker subscriber): hand the message to the event loop."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.publish, message)

    def publish(self, message: PushMessage) -> None:
        for client in list(self.clients):
            if client.overflowed or not client.subscription.wants(message):
                continue
            try:
                client.queue.put_nowait(message)
            except asyncio.QueueFull:
                client.overflowed = True
                log.warning("websocket client too slow (queue of %d full); disconnecting it", self.queue_size)
                # Drop everything queued, not just the oldest message: what the client received before the close
                # must have no gap, so that resuming with `after=<its last seq>` loses nothing. Then wake its
                # sender so it sees the overflow and closes.
                while not client.queue.empty():
                    client.queue.get_nowait()
                client.queue.put_nowait(None)
