"""The websocket hub on its own: one encoding per message shared by every client, filters, the per-client bound
and its overflow, and the sender's wake-up (the route's behaviour end to end is in test_ws.py)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from starlette.websockets import WebSocket

from api.hub import Client, Subscription, WebsocketHub, message_json, message_text
from models.clock import ManualClock
from models.incident import PushMessage

AT = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def message(
    seq: int, grid: str | None = "330106001001001", category: str | None = "crowd_gathering"
) -> PushMessage:
    return PushMessage(
        seq=seq, type="incident.updated", at=AT, camera_id="cam", grid_code=grid, category_code=category,
        data={"id": f"i{seq}", "name": "宝石山第一网格"},
    )  # fmt: skip


def test_text_is_what_send_json_would_send() -> None:
    sent: list[str] = []

    async def send(event: dict[str, object]) -> None:
        sent.append(str(event["text"]))

    async def run() -> None:
        ws = WebSocket({"type": "websocket", "path": "/ws", "headers": []}, receive=None, send=send)  # type: ignore[arg-type]
        ws.application_state = ws.application_state.CONNECTED
        await ws.send_json(message_json(message(3)))

    asyncio.run(run())
    assert sent == [message_text(message(3))]
    assert json.loads(sent[0])["data"]["name"] == "宝石山第一网格"


def test_each_message_is_encoded_once_and_shared_by_every_client() -> None:
    async def run() -> None:
        hub = WebsocketHub(asyncio.get_running_loop())
        a, b = hub.add(Subscription()), hub.add(Subscription())
        hub.publish(message(1))
        assert len(a.pending) == len(b.pending) == 1
        assert a.pending[0] is b.pending[0]
        assert a.pending[0].seq == 1 and a.pending[0].text == message_text(message(1))

    asyncio.run(run())


def test_filters_group_clients_by_subscription() -> None:
    async def run() -> None:
        hub = WebsocketHub(asyncio.get_running_loop())
        everything, street, fire, other = (
            hub.add(Subscription()),
            hub.add(Subscription(grid_code="330106001")),
            hub.add(Subscription(category_code="fire_smoke")),
            hub.add(Subscription(grid_code="330106002")),
        )
        same_street = hub.add(Subscription(grid_code="330106001"))
        hub.publish(message(1))
        hub.publish(message(2, category="fire_smoke"))
        hub.publish(message(3, category=None))  # camera.status-like: no category
        assert [o.seq for o in everything.pending] == [1, 2, 3]
        assert [o.seq for o in street.pending] == [o.seq for o in same_street.pending] == [1, 2, 3]
        assert [o.seq for o in fire.pending] == [2]
        assert not other.pending
        hub.remove(street)
        hub.publish(message(4))
        assert [o.seq for o in street.pending] == [1, 2, 3]
        assert [o.seq for o in same_street.pending] == [1, 2, 3, 4]

    asyncio.run(run())


def test_overflow_stops_the_slow_client_only() -> None:
    async def run() -> None:
        hub = WebsocketHub(asyncio.get_running_loop(), queue_size=3)
        slow, fast = hub.add(Subscription()), hub.add(Subscription())
        for seq in range(1, 5):  # the one in the send + 3 waiting
            hub.publish(message(seq))
            fast.pending.clear()  # the fast client sends at once
        assert not slow.overflowed and [o.seq for o in slow.pending] == [1, 2, 3, 4]
        hub.publish(message(5))
        # nothing past the overflow is queued: what the slow client is sent before its close has no gap
        assert slow.overflowed and [o.seq for o in slow.pending] == [1, 2, 3, 4]
        hub.publish(message(6))
        assert [o.seq for o in slow.pending] == [1, 2, 3, 4]
        assert not fast.overflowed and [o.seq for o in fast.pending] == [5, 6]

    asyncio.run(run())


def test_wait_wakes_on_a_message_on_close_and_times_out() -> None:
    clock = ManualClock(AT)

    async def run() -> None:
        hub = WebsocketHub(asyncio.get_running_loop(), clock=clock)
        client = hub.add(Subscription())
        quiet = asyncio.create_task(client.wait(0.01))
        await asyncio.sleep(0)  # the task starts waiting
        clock.advance(0.01)
        assert await asyncio.wait_for(quiet, 1) is False
        waiting = asyncio.create_task(client.wait(5))
        await asyncio.sleep(0)
        hub.publish(message(1))
        assert await asyncio.wait_for(waiting, 1) is True
        assert await client.wait(5) is True  # something is queued: no wait
        client.pending.clear()
        closing = Client(Subscription(), clock=clock)
        waiting = asyncio.create_task(closing.wait(5))
        await asyncio.sleep(0)
        closing.close()
        assert await asyncio.wait_for(waiting, 1) is True and closing.closed
        assert clock.monotonic() == 0.01  # nothing but the first wait needed time to pass

    asyncio.run(run())


async def settle() -> None:
    """Let the callbacks the clock scheduled run (it wakes waiters through the loop)."""
    for _ in range(3):
        await asyncio.sleep(0)


def test_a_busy_client_times_out_only_after_a_whole_quiet_interval() -> None:
    clock = ManualClock(AT)

    async def run() -> None:
        hub = WebsocketHub(asyncio.get_running_loop(), clock=clock)
        client = hub.add(Subscription())
        for seq in range(1, 6):  # a message every 0.04 s: never quiet for 0.1 s
            waiting = asyncio.create_task(client.wait(0.1))
            await settle()
            clock.advance(0.04)
            await settle()
            assert not waiting.done()
            hub.publish(message(seq))
            assert await waiting is True
            client.pending.clear()
        quiet_from = clock.monotonic()
        waiting = asyncio.create_task(client.wait(0.1))
        await settle()
        clock.advance(0.099)
        await settle()
        assert not waiting.done()  # not before a whole quiet interval
        clock.advance(0.001)
        assert await asyncio.wait_for(waiting, 1) is False
        assert clock.monotonic() - quiet_from == pytest.approx(0.1) and clock.monotonic() >= 0.3
        hub.remove(client)
        assert client.closed and client._timer is None

    asyncio.run(run())
