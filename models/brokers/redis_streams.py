"""Live push across processes and nodes through a Redis stream.

Why Redis Streams (and not NATS JetStream): the store, not the broker, is the order and the record (DESIGN.md,
"Beyond one box"), so the broker only has to carry messages fast to every API replica and let a reader pick up
where it was after a short blip. A Redis stream does exactly that with a synchronous, thread-safe client that fits
our threaded pipelines and subscribers without a second event loop per process (nats-py is asyncio only); every
replica reads the whole stream with XREAD from its own position (fan-out, no consumer group), MAXLEN trimming
bounds its memory, and XADD/XREAD batch cheaply. What JetStream adds (per-subject durable consumers, replicated
storage) we do not need: a message the broker loses is read from the store. Both servers run on every machine
here; this one is `redis-server`.

Publishing never blocks or fails a pipeline's commit: `publish` puts the (already durable) message on a bounded
queue that a sender thread writes to the stream. While the broker is unreachable the sender drops what is queued
(counted, one log line per outage) and retries the connection with backoff; subscribers' reader does the same and,
once connected again, catches up from the store, so a websocket client misses nothing and sees each seq once.
A reader that hears nothing for `idle_resync_s` also asks the store: a commit whose publish never happened (its
process died in between) with nothing after it to reveal the gap arrives within that time.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from pydantic import ValidationError
from redis.backoff import NoBackoff
from redis.retry import Retry

from ingest.redact import redact_text, url_secrets
from models.brokers.seq_order import DEFAULT_GAP_WAIT_S, SeqOrderedFeed
from models.brokers.seq_order import MessageLog as MessageLog
from models.incident import PushMessage
from models.push import LocalBroker, Subscriber

log = logging.getLogger(__name__)

DEFAULT_STREAM = "xueliang:push"
DEFAULT_MAXLEN = 100_000  # ~ an hour of a county's peak traffic (bench/scale/RESULTS.md); older entries are in the store
QUEUE_LIMIT = 10_000  # messages waiting for the sender; past it the oldest is dropped (counted)
SEND_BATCH = 500
READ_BATCH = 500
READ_BLOCK_MS = 50  # also how often a held gap is checked against gap_wait_s
IDLE_RESYNC_S = 2.0  # a reader that got nothing this long asks the store whether it missed something
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0
_FIELD = "m"


class BrokerUnreachable(RuntimeError):
    """The broker at the configured URL could not be reached (the URL in the message has no credentials)."""


@dataclass(kw_only=True)
class PublishCounts:
    sent: int = 0  # written to the stream
    dropped: int = 0  # not written: broker unreachable, or the queue overflowed (the store has them all)
    outages: int = 0  # times the sender lost the broker


def _split_stream(url: str) -> tuple[str, str | None]:
    """`redis://host/0?stream=name` -> (`redis://host/0`, name): redis-py rejects query keys it does not know."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    streams = [value for key, value in query if key == "stream"]
    rest = urlencode([(key, value) for key, value in query if key != "stream"])
    return urlunsplit(parts._replace(query=rest)), (streams[-1] if streams else None)


class RedisStreamBroker:
    """`publish` from any thread (non-blocking); `subscribe` gets messages in store seq order, each seq once, in
    this broker's reader thread. The same shape as `LocalBroker`, so `create_app(broker=...)` takes it.

    `message_log` (the store's push log) fills gaps and catches up after outages; a publish-only process (a pipeline node)
    never reads it. Call `check()` at start-up to fail fast on an unreachable broker; `close()` stops the threads.
    """

    def __init__(
        self,
        url: str,
        *,
        message_log: MessageLog | None = None,
        stream: str | None = None,
        maxlen: int = DEFAULT_MAXLEN,
        gap_wait_s: float = DEFAULT_GAP_WAIT_S,
        connect_timeout_s: float = 2.0,
        queue_limit: int = QUEUE_LIMIT,
        idle_resync_s: float = IDLE_RESYNC_S,
    ) -> None:
        client_url, url_stream = _split_stream(url)
        self.url = url
        self.stream = stream or url_stream or DEFAULT_STREAM
        self._secrets = url_secrets(url)
        self._client_url = client_url
        self._connect_timeout_s = connect_timeout_s
        self._maxlen = maxlen
        self._gap_wait_s = gap_wait_s
        self._idle_resync_s = idle_resync_s
        self._message_log = message_log
        self._fanout = LocalBroker()
        self._subscribers = 0
        self._queue: collections.deque[PushMessage] = collections.deque()
        self._queue_limit = queue_limit
        self._queue_ready = threading.Condition()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._sender: threading.Thread | None = None
        self._reader: threading.Thread | None = None
        self._feed: SeqOrderedFeed | None = None
        self.publish_counts = PublishCounts()
        self.reader_outages = 0
        self.reader_connected = threading.Event()
        try:
            self._client().close()  # parses the URL (port, database, options); connects to nothing
        except ValueError as exc:
            raise ValueError(f"broker URL {self.redacted_url} is not valid: {self._describe(exc)}") from None

    # ---------------------------------------------------------------------------------------------- public

    @property
    def redacted_url(self) -> str:
        return redact_text(self.url, self._secrets)

    @property
    def feed(self) -> SeqOrderedFeed | None:
        """The ordering feed behind the subscribers (None until the first subscribe)."""
        return self._feed

    def check(self) -> None:
        """Raise `BrokerUnreachable` naming the (redacted) URL unless the broker answers a PING."""
        client = self._client()
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            raise BrokerUnreachable(
                f"push broker {self.redacted_url} is unreachable: {redact_text(str(exc), self._secrets)}"
            ) from None
        finally:
            client.close()

    def publish(self, message: PushMessage) -> None:
        """Queue `message` for the stream and return at once: the message is already in the store."""
        with self._queue_ready:
            if len(self._queue) >= self._queue_limit:
                self._queue.popleft()
                self.publish_counts.dropped += 1
            self._queue.append(message)
            self._queue_ready.notify()
        self._ensure_sender()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """`subscriber` is called with each new message in seq order (from the reader thread). Messages
        committed before the first subscribe are the store's backlog, not delivered here."""
        if self._message_log is None:
            raise ValueError("a subscribing RedisStreamBroker needs the store (message_log) to order and catch up")
        unsubscribe = self._fanout.subscribe(subscriber)
        with self._lock:
            if self._reader is None and not self._stopping.is_set():
                self._feed = SeqOrderedFeed(
                    self._message_log, self._fanout.publish, after=self._message_log.last_seq(),
                    gap_wait_s=self._gap_wait_s,
                )
                self._reader = threading.Thread(target=self._read_loop, name="push-broker-reader", daemon=True)
                self._reader.start()
        return unsubscribe

    def wait_connected(self, timeout_s: float) -> bool:
        """True once the reader is connected and caught up (tests and start-up use it)."""
        return self.reader_connected.wait(timeout_s)

    def close(self) -> None:
        """Stop the sender (after a last attempt at what is queued) and the reader."""
        self._stopping.set()
        with self._queue_ready:
            self._queue_ready.notify_all()
        for thread in (self._sender, self._reader):
            if thread is not None:
                thread.join(timeout=self._connect_timeout_s + 2.0)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------------- inside

    def _client(self, *, read_block_ms: int = 0) -> redis.Redis:
        return redis.Redis.from_url(
            self._client_url,
            socket_connect_timeout=self._connect_timeout_s,
            socket_timeout=self._connect_timeout_s + read_block_ms / 1000,
            retry=Retry(NoBackoff(), 0),  # this class retries, with backoff, and counts what it drops meanwhile
        )

    def _describe(self, exc: BaseException) -> str:
        return redact_text(str(exc), self._secrets)

    def _ensure_sender(self) -> None:
        if self._sender is not None or self._stopping.is_set():
            return
        with self._lock:
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_loop, name="push-broker-sender", daemon=True)
                self._sender.start()

    def _take_batch(self) -> list[PushMessage]:
        with self._queue_ready:
            while not self._queue and not self._stopping.is_set():
                self._queue_ready.wait(timeout=1.0)
            batch: list[PushMessage] = []
            while self._queue and len(batch) < SEND_BATCH:
                batch.append(self._queue.popleft())
            return batch

    def _drop_queued(self) -> None:
        with self._queue_ready:
            self.publish_counts.dropped += len(self._queue)
            self._queue.clear()

    def _count_dropped(self, count: int) -> None:
        with self._queue_ready:
            self.publish_counts.dropped += count

    def _send_loop(self) -> None:
        client = self._client()
        down_since: float | None = None
        retry_at = 0.0
        backoff = BACKOFF_FIRST_S
        while True:
            batch = self._take_batch()
            if not batch:
                if self._stopping.is_set():
                    break
                continue
            if down_since is not None and time.monotonic() < retry_at:
                self._count_dropped(len(batch))
                if self._stopping.wait(min(0.05, max(0.0, retry_at - time.monotonic()))):
                    self._drop_queued()
                    break
                continue
            try:
                pipe = client.pipeline(transaction=False)
                for message in batch:
                    pipe.xadd(self.stream, {_FIELD: message.model_dump_json()}, maxlen=self._maxlen,
                              approximate=True)
                pipe.execute()
            except (redis.RedisError, OSError) as exc:
                self._count_dropped(len(batch))
                if down_since is None:
                    down_since = time.monotonic()
                    self.publish_counts.outages += 1
                    log.warning("push broker %s unreachable, live messages are dropped until it returns (they "
                                "are in the store; subscribers catch up): %s", self.redacted_url,
                                self._describe(exc))
                else:
                    backoff = min(backoff * 2, BACKOFF_MAX_S)
                retry_at = time.monotonic() + backoff
                if self._stopping.is_set():
                    self._drop_queued()
                    break
                continue
            self.publish_counts.sent += len(batch)
            if down_since is not None:
                log.warning("push broker %s reachable again after %.1f s; %d live messages were dropped so far",
                            self.redacted_url, time.monotonic() - down_since, self.publish_counts.dropped)
                down_since = None
                backoff = BACKOFF_FIRST_S
        client.close()

    def _read_loop(self) -> None:
        feed = self._feed
        assert feed is not None
        client = self._client(read_block_ms=READ_BLOCK_MS)
        position: Any = None  # the stream id read up to; None: find it (again) and catch up from the store
        down_since: float | None = None
        backoff = BACKOFF_FIRST_S
        heard_at = time.monotonic()
        while not self._stopping.is_set():
            try:
                if position is None:
                    # Where the stream ends now, then everything the store committed meanwhile: a message
                    # published after this point is read from the stream, one before it is in the store.
                    newest: Any = client.xrevrange(self.stream, count=1)
                    position = newest[0][0] if newest else b"0-0"
                    feed.catch_up()
                    self.reader_connected.set()
                    if down_since is not None:
                        log.warning("push broker %s reachable again after %.1f s; live push caught up from the "
                                    "store through seq %d", self.redacted_url, time.monotonic() - down_since,
                                    feed.last_seq)
                        down_since = None
                        backoff = BACKOFF_FIRST_S
                reply: Any = client.xread({self.stream: position}, count=READ_BATCH, block=READ_BLOCK_MS)
                for _stream, entries in reply or ():
                    for entry_id, fields in entries:
                        heard_at = time.monotonic()
                        position = entry_id
                        message = self._decode(entry_id, fields)
                        if message is not None:
                            feed.offer(message)
                feed.tick()
                if time.monotonic() - heard_at >= self._idle_resync_s:
                    # A commit whose publish never came (its process died in between, or its node could not
                    # reach the broker) and nothing after it to reveal the gap: the store has it.
                    heard_at = time.monotonic()
                    feed.catch_up()
            except (redis.RedisError, OSError) as exc:
                self.reader_connected.clear()
                position = None
                if down_since is None:
                    down_since = time.monotonic()
                    self.reader_outages += 1
                    log.warning("push broker %s unreachable, live push paused (resumes from the store when it "
                                "returns): %s", self.redacted_url, self._describe(exc))
                else:
                    backoff = min(backoff * 2, BACKOFF_MAX_S)
                self._stopping.wait(backoff)
            except Exception:  # the store failed a gap read or catch-up: try again from the store's last seq
                self.reader_connected.clear()
                position = None
                log.exception("push catch-up from the store failed; retrying in %.1f s", backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                self._stopping.wait(backoff)
        client.close()

    def _decode(self, entry_id: Any, fields: dict[Any, Any]) -> PushMessage | None:
        raw = fields.get(_FIELD.encode()) or fields.get(_FIELD)
        try:
            return PushMessage.model_validate_json(raw or b"")
        except ValidationError as exc:
            log.warning("push broker entry %r in %s is not a push message, skipped: %s", entry_id, self.stream,
                        exc.errors(include_url=False)[:1])
            return None
