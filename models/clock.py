"""The service's one clock, injected everywhere as bytewax injects its `now_getter`: what time it is (wall and
monotonic) and how to wait, for threads and for asyncio code.

`SystemClock` is the real one. `ManualClock` stands still until a test moves it: `advance(seconds)` moves both its
wall and its monotonic time and wakes whatever waited on it (threads and coroutines) whose deadline has passed, so
a test of a backoff, a poll or a heartbeat advances time instead of sleeping through it.

Every component that reads the time or waits for time to pass takes a `Clock`; none calls `time.time()`,
`datetime.now()` or `asyncio.sleep(seconds)` itself. The exceptions say why where they are (media timing in the
decoder, which must follow the real stream, and timeouts around a real socket or process).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import threading
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


class Timer(Protocol):
    """A scheduled callback that can still be called off."""

    def cancel(self) -> None: ...


@runtime_checkable
class Clock(Protocol):
    """What time it is, and waiting for time to pass.

    `now()` and `time()` are the same instant (aware UTC datetime, epoch seconds); `monotonic()` never goes back
    and is what intervals and deadlines are measured on. Threads wait with `sleep` / `wait`; coroutines with
    `asleep` / `call_later` (on the running event loop)."""

    def now(self) -> datetime: ...

    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None:
        """Block this thread for `seconds` of this clock's time."""
        ...

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Block until `event` is set (True) or `timeout` seconds of this clock's time have passed (False)."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend this coroutine for `seconds` of this clock's time."""
        ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Run `callback` on the running event loop once `delay` seconds of this clock's time have passed."""
        ...


class SystemClock:
    """The real time: `time`, `datetime.now(UTC)`, `time.monotonic`, and the event loop's own timers."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return _time.time()

    def monotonic(self) -> float:
        return _time.monotonic()

    def sleep(self, seconds: float) -> None:
        _time.sleep(max(0.0, seconds))

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(max(0.0, timeout))

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()


class OffsetClock:
    """Another clock's time moved by `offset_s` seconds (its monotonic time and its waits are the other clock's):
    e.g. the system clock running from a replay's pinned epoch."""

    def __init__(self, base: Clock, offset_s: float) -> None:
        self.base = base
        self.offset_s = offset_s

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def time(self) -> float:
        return self.base.time() + self.offset_s

    def monotonic(self) -> float:
        return self.base.monotonic()

    def sleep(self, seconds: float) -> None:
        self.base.sleep(seconds)

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return self.base.wait(event, timeout)

    async def asleep(self, seconds: float) -> None:
        await self.base.asleep(seconds)

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        return self.base.call_later(delay, callback)


@dataclass(order=True)
class _Waiter:
    due: float  # on the manual clock's monotonic time
    order: int
    wake: Callable[[], object] = field(compare=False)
    clock: ManualClock | None = field(default=None, compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True
        if self.clock is not None:
            self.clock._discard(self)


class ManualClock:
    """A clock that stands still until moved (thread- and asyncio-safe).

    `advance(seconds)` moves the wall and the monotonic time together and wakes every waiter (a thread in `sleep`
    or `wait`, a coroutine in `asleep`, a `call_later` callback, on the loop it was scheduled from) whose deadline
    has passed. `set(at)` steps the wall time only, as an operator or NTP stepping a real clock would: deadlines
    do not move. A waiter is woken on its own thread or loop, so `advance` returns before the woken code has run;
    tests wait for what they expect to see, as they would for a real service. `next_due()` tells when the earliest
    waiter is due, so a test can step from one deadline to the next (`advance_to_next()`)."""

    def __init__(self, start: datetime | float = 0.0) -> None:
        self._wall = _epoch(start)
        self._monotonic = 0.0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._waiters: list[_Waiter] = []  # by deadline
        self._order = itertools.count()

    # ------------------------------------------------------------------------------------------------- reading

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def time(self) -> float:
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    # ------------------------------------------------------------------------------------------------- moving

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move time forward by `seconds` (or a timedelta); wake the waiters now due. Returns the new `now()`."""
        step = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
        if step < 0:
            raise ValueError(f"a clock advances by zero or more seconds, not {step}")
        with self._lock:
            self._wall += step
            self._monotonic += step
            due = self._take_due()
            self._changed.notify_all()
        for waiter in due:
            waiter.wake()
        return self.now()

    def set(self, at: datetime | float) -> datetime:
        """Step the wall time to `at` (forward or back); the monotonic time and the waiters' deadlines stay."""
        with self._lock:
            self._wall = _epoch(at)
        return self.now()

    def advance_to_next(self) -> float | None:
        """Advance to the earliest waiter's deadline (waking it and any due with it); the seconds advanced, None
        when nothing waits."""
        due = self.next_due()
        if due is None:
            return None
        step = max(0.0, due - self.monotonic())
        self.advance(step)
        return step

    def next_due(self) -> float | None:
        """The earliest waiter's deadline on `monotonic()`, None when nothing waits."""
        with self._lock:
            return self._waiters[0].due if self._waiters else None

    @property
    def waiting(self) -> int:
        """How many waits (threads, coroutines, timers) are pending: a test can wait until the code under test
        waits on the clock before it advances."""
        with self._lock:
            return len(self._waiters)

    def _take_due(self) -> list[_Waiter]:
        count = bisect.bisect_right([w.due for w in self._waiters], self._monotonic)
        due, self._waiters = self._waiters[:count], self._waiters[count:]
        return due

    def _add(self, delay: float, wake: Callable[[], object]) -> _Waiter:
        waiter = _Waiter(self._monotonic + max(0.0, delay), next(self._order), wake, self)
        bisect.insort(self._waiters, waiter)
        return waiter

    def _discard(self, waiter: _Waiter) -> None:
        with self._lock:
            index = bisect.bisect_left(self._waiters, waiter)
            if index < len(self._waiters) and self._waiters[index] is waiter:
                del self._waiters[index]

    # ------------------------------------------------------------------------------------------------- waiting

    def sleep(self, seconds: float) -> None:
        with self._lock:
            waiter = self._add(seconds, lambda: None)
            while self._monotonic < waiter.due:
                self._changed.wait()
        waiter.cancel()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        # A threading.Event cannot tell this clock it was set, so the set is looked at every few milliseconds of
        # real time; the timeout is this clock's.
        with self._lock:
            waiter = self._add(timeout, lambda: None)
        try:
            while True:
                if event.wait(0.005):
                    return True
                with self._lock:
                    if self._monotonic >= waiter.due:
                        return event.is_set()
        finally:
            waiter.cancel()

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        loop = asyncio.get_running_loop()

        def wake() -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_unless_cancelled, waiter, callback)

        with self._lock:
            waiter = self._add(delay, wake)
            due = self._take_due()
        for ready in due:
            ready.wake()
        return waiter

    async def asleep(self, seconds: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not woken.done():
                woken.set_result(None)

        timer = self.call_later(seconds, wake)
        try:
            await woken
        finally:
            timer.cancel()

    def __repr__(self) -> str:
        return f"ManualClock({self.now().isoformat()})"


def _unless_cancelled(waiter: _Waiter, callback: Callable[[], object]) -> None:
    if not waiter.cancelled:
        callback()


def _epoch(at: datetime | float) -> float:
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError(f"a clock's time is timezone-aware, not the naive {at.isoformat()}")
        return at.timestamp()
    return float(at)
