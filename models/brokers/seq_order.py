"""Deliver live messages in the store's sequence, whatever order a network broker brings them in.

With pipelines on several nodes, each commits its change (the store allocates the seq, in commit order) and then
publishes it; two publishers can reach the broker in the opposite order to their commits, and a broker that was
down carried nothing at all. The store is the truth: a message with seq N is committed before it is published,
and the store gives seq order equal to commit order (models/database.py, the write lock), so once N is seen every
seq below N is either in the store already or never will be (a rolled-back transaction leaves a permanent hole
on PostgreSQL). `SeqOrderedFeed` therefore

- delivers seq last+1 at once, and whatever it held back that now follows on;
- holds a message that jumps ahead (seq > last+1) for at most `gap_wait_s`, the usual case being the missing one
  still on its way through the broker, then reads the gap from the store and delivers what the store has
  (a seq missing there is a hole, skipped);
- never delivers a seq twice or below one it delivered (late copies and the broker's repeats are dropped);
- `catch_up()` reads everything after the last delivered seq from the store: after a broker outage, and when it
  starts listening (the messages published before it did).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from models.clock import SYSTEM_CLOCK, Clock
from models.incident import PushMessage

log = logging.getLogger(__name__)

DEFAULT_GAP_WAIT_S = 0.25  # a reordered message normally arrives within milliseconds; the store is one query away
MAX_HELD = 10_000  # held messages past this read the gap from the store at once (a flood, or a gap that lasts)
STORE_PAGE = 1000


class MessageLog(Protocol):
    """The part of the store the feed reads: the push log in seq order (`Store.push_log` provides it)."""

    def since(self, seq: int, limit: int = 1000) -> list[PushMessage]: ...

    def last_seq(self) -> int: ...


@dataclass(kw_only=True)
class FeedCounts:
    """What a feed did, for metrics and tests."""

    delivered: int = 0
    from_store: int = 0  # delivered from a store read, not from the broker
    duplicates: int = 0  # copies of a seq already delivered (or already held), dropped
    gap_reads: int = 0  # store reads made because a gap outlived `gap_wait_s`
    catch_ups: int = 0


class SeqOrderedFeed:
    """Orders broker messages by the store's seq before handing them to `deliver`. Thread-safe; `deliver` runs
    in the caller's thread (the broker's reader), one message at a time, strictly increasing seqs."""

    def __init__(
        self,
        message_log: MessageLog,
        deliver: Callable[[PushMessage], None],
        *,
        after: int = 0,
        gap_wait_s: float = DEFAULT_GAP_WAIT_S,
        max_held: int = MAX_HELD,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if gap_wait_s < 0:
            raise ValueError(f"gap_wait_s must be >= 0, got {gap_wait_s}")
        self._log = message_log
        self._deliver = deliver
        self._last = after
        self._held: dict[int, PushMessage] = {}
        self._gap_since: float | None = None
        self._gap_wait_s = gap_wait_s
        self._max_held = max_held
        self._clock = clock
        self._lock = threading.RLock()
        self.counts = FeedCounts()

    @property
    def last_seq(self) -> int:
        """The highest seq delivered (or the starting point)."""
        return self._last

    @property
    def held(self) -> int:
        return len(self._held)

    def offer(self, message: PushMessage) -> None:
        """A message as the broker brought it."""
        with self._lock:
            if message.seq <= self._last or message.seq in self._held:
                self.counts.duplicates += 1
                return
            self._held[message.seq] = message
            self._release_consecutive()
            if self._held and self._gap_since is None:
                self._gap_since = self._clock.monotonic()
            if len(self._held) > self._max_held:
                self._read_gap()

    def tick(self) -> None:
        """Call often (the broker's reader does, between reads): fills a gap from the store once it waited long
        enough."""
        with self._lock:
            if self._gap_since is not None and self._clock.monotonic() - self._gap_since >= self._gap_wait_s:
                self._read_gap()

    def catch_up(self) -> None:
        """Deliver every message the store has after the last delivered seq (held ones included, in order)."""
        with self._lock:
            self.counts.catch_ups += 1
            self._deliver_from_store(until=None)
            self._drop_delivered_held()

    # -------------------------------------------------------------------------------------------------- inside

    def _read_gap(self) -> None:
        """The store, not the broker, says what lies between last and the held messages. Every held message is
        committed, so the store has all it will ever have up to the highest one: deliver that, skip the holes."""
        self.counts.gap_reads += 1
        through = max(self._held)
        self._deliver_from_store(until=through + 1)
        self._drop_delivered_held()
        while self._held:  # the store lacks some held ones (pruned meanwhile): the held copies are the truth
            log.debug("push seqs %d..%d are not in the store: skipped", self._last + 1, min(self._held) - 1)
            self._last = min(self._held) - 1
            self._release_consecutive()

    def _deliver_from_store(self, *, until: int | None) -> None:
        """Deliver store messages after last, below `until` (all of them when None), page by page."""
        while True:
            page = self._log.since(self._last, STORE_PAGE)
            for message in page:
                if until is not None and message.seq >= until:
                    return
                self._held.pop(message.seq, None)
                self._hand_over(message)
                self.counts.from_store += 1
            if len(page) < STORE_PAGE:
                return

    def _release_consecutive(self) -> None:
        while (message := self._held.pop(self._last + 1, None)) is not None:
            self._hand_over(message)
        self._drop_delivered_held()

    def _drop_delivered_held(self) -> None:
        for seq in [seq for seq in self._held if seq <= self._last]:
            del self._held[seq]
        if not self._held:
            self._gap_since = None
        elif self._gap_since is None:
            self._gap_since = self._clock.monotonic()

    def _hand_over(self, message: PushMessage) -> None:
        self._last = message.seq
        self.counts.delivered += 1
        try:
            self._deliver(message)
        except Exception:
            log.exception("push delivery failed on message %s; the feed goes on", message.seq)
