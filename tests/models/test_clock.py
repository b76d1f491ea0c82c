"""The one clock: the system clock tells the real time; the manual clock stands still until a test advances it,
and then wakes exactly the threads, coroutines and timers whose time has come."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from models.clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def wait_until_waiting(clock: ManualClock, count: int) -> None:
    deadline = time.monotonic() + 5
    while clock.waiting < count:
        assert time.monotonic() < deadline, f"{clock.waiting} waiting, not {count}"
        time.sleep(0.001)


def test_both_clocks_are_clocks() -> None:
    assert isinstance(SYSTEM_CLOCK, Clock) and isinstance(ManualClock(), Clock)


def test_the_system_clock_tells_one_instant_three_ways() -> None:
    clock = SystemClock()
    before = time.time()
    now, epoch = clock.now(), clock.time()
    assert now.tzinfo is UTC and before - 0.01 <= now.timestamp() <= epoch <= time.time()
    first = clock.monotonic()
    assert clock.monotonic() >= first


def test_the_system_clock_waits_for_real() -> None:
    event = threading.Event()
    started = time.monotonic()
    assert SYSTEM_CLOCK.wait(event, 0.05) is False
    assert time.monotonic() - started >= 0.04
    event.set()
    assert SYSTEM_CLOCK.wait(event, 5) is True

    async def timers() -> list[str]:
        fired: list[str] = []
        SYSTEM_CLOCK.call_later(0.02, lambda: fired.append("late"))
        SYSTEM_CLOCK.call_later(0.0, lambda: fired.append("soon"))
        SYSTEM_CLOCK.call_later(0.01, lambda: fired.append("cancelled")).cancel()
        await SYSTEM_CLOCK.asleep(0.05)
        return fired

    assert asyncio.run(timers()) == ["soon", "late"]


def test_a_manual_clock_stands_still_until_advanced() -> None:
    clock = ManualClock(T0)
    assert clock.now() == T0 and clock.time() == T0.timestamp() and clock.monotonic() == 0.0
    assert clock.now() == T0  # no time passes by itself
    assert clock.advance(1.5) == T0 + timedelta(seconds=1.5)
    assert clock.advance(timedelta(minutes=1)) == T0 + timedelta(seconds=61.5)
    assert clock.monotonic() == 61.5 and clock.time() == clock.now().timestamp()


def test_setting_the_wall_time_moves_no_deadline() -> None:
    clock = ManualClock(T0)
    clock.set(T0 - timedelta(days=8))
    assert clock.now() == T0 - timedelta(days=8) and clock.monotonic() == 0.0
    clock.set(1000.0)
    assert clock.time() == 1000.0


@pytest.mark.parametrize(
    ("start", "step", "error"),
    [
        (datetime(2026, 3, 1), 0.0, "timezone-aware"),  # a naive datetime: which zone?
        (T0, -1.0, "zero or more seconds"),  # time never runs back (set() steps the wall time)
    ],
)
def test_a_manual_clock_refuses_nonsense(start: datetime, step: float, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        ManualClock(start).advance(step)


def test_advancing_wakes_a_sleeping_thread_only_once_its_time_has_come() -> None:
    clock = ManualClock(T0)
    woke = threading.Event()
    thread = threading.Thread(target=lambda: (clock.sleep(10), woke.set()))
    thread.start()
    wait_until_waiting(clock, 1)
    clock.advance(9.9)
    assert not woke.wait(0.05)
    clock.advance(0.1)
    assert woke.wait(5)
    thread.join(5)
    assert clock.waiting == 0


def test_a_thread_waits_for_its_event_or_the_clock() -> None:
    clock = ManualClock(T0)
    event = threading.Event()
    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(clock.wait(event, 30)))
    thread.start()
    wait_until_waiting(clock, 1)
    clock.advance(30)
    thread.join(5)
    thread = threading.Thread(target=lambda: results.append(clock.wait(event, 30)))
    thread.start()
    wait_until_waiting(clock, 1)
    event.set()  # no time passes: the event wakes it
    thread.join(5)
    assert results == [False, True]


def test_advancing_wakes_coroutines_and_timers_in_deadline_order() -> None:
    clock = ManualClock(T0)

    async def scenario() -> list[str]:
        order: list[str] = []

        async def sleeper(name: str, seconds: float) -> None:
            await clock.asleep(seconds)
            order.append(name)

        tasks = [asyncio.create_task(sleeper("b", 2)), asyncio.create_task(sleeper("a", 1))]
        clock.call_later(1.5, lambda: order.append("timer"))
        clock.call_later(1.5, lambda: order.append("cancelled")).cancel()
        await asyncio.sleep(0)  # the sleepers start waiting
        # advanced from another thread, as a test's thread moves the clock of a service's event loop
        mover = threading.Thread(target=clock.advance, args=(1.0,))
        mover.start()
        mover.join()
        await asyncio.wait_for(tasks[1], 5)
        assert order == ["a"] and not tasks[0].done()
        clock.advance(1.0)
        await asyncio.wait_for(tasks[0], 5)
        return order

    assert asyncio.run(scenario()) == ["a", "timer", "b"]


def test_a_cancelled_coroutine_leaves_no_waiter() -> None:
    clock = ManualClock(T0)

    async def scenario() -> None:
        task = asyncio.create_task(clock.asleep(5))
        await asyncio.sleep(0)
        assert clock.waiting == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert clock.waiting == 0

    asyncio.run(scenario())


def test_a_test_can_step_from_one_deadline_to_the_next() -> None:
    clock = ManualClock(T0)
    assert clock.next_due() is None and clock.advance_to_next() is None

    async def scenario() -> list[str]:
        woken: list[str] = []
        clock.call_later(3, lambda: woken.append("second"))
        clock.call_later(1, lambda: woken.append("first"))
        assert clock.next_due() == 1 and clock.waiting == 2
        assert clock.advance_to_next() == 1
        await asyncio.sleep(0)
        assert woken == ["first"]
        assert clock.advance_to_next() == 2
        await asyncio.sleep(0)
        return woken

    assert asyncio.run(scenario()) == ["first", "second"]
    assert clock.waiting == 0 and clock.now() == T0 + timedelta(seconds=3)
