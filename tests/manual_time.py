"""Moving a ManualClock (models/clock.py) from the test's thread while the service waits on it in its own threads
and event loop: advance to the deadline the service is waiting for, instead of sleeping until it passes."""

from __future__ import annotations

import time
from collections.abc import Callable

from models.clock import ManualClock

PATIENCE_S = 5.0  # real seconds the service may take to get to its next wait


def advance_to_waiter(clock: ManualClock, within_s: float, *, patience_s: float = PATIENCE_S) -> bool:
    """Once something waits on `clock` with a deadline within `within_s` of its time (the waits a test is after:
    longer ones such as hourly jobs are left alone), advance the clock to that deadline. False when nothing such
    waits within `patience_s` real seconds."""
    deadline = time.monotonic() + patience_s
    while (due := clock.next_due()) is None or due > clock.monotonic() + within_s:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.001)
    clock.advance(due - clock.monotonic())
    return True


def turns(clock: ManualClock, count: int, within_s: float) -> None:
    """Let a polling component go round `count` times: each time it waits on the clock, advance to its deadline."""
    for turn in range(count):
        assert advance_to_waiter(clock, within_s), f"nothing waited on the clock within {within_s} s (turn {turn})"


def run_until(
    condition: Callable[[], object], clock: ManualClock, within_s: float, what: str, *, timeout_s: float = 10.0
) -> None:
    """Until `condition()` holds, advance the clock whenever the service waits on it (within `within_s`): backoffs
    and polls pass as fast as the service works. AssertionError after `timeout_s` real seconds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s (the clock at {clock.now()})"
        advance_to_waiter(clock, within_s, patience_s=0.02)
