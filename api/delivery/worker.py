"""The delivery worker: one asyncio task per configured endpoint admits the outbox's new changes, claims them,
POSTs each as a signed CloudEvent (`api/delivery/wire_format.py`) and settles the attempt in the outbox
(`api/delivery/outbox.py`): delivered, retried with capped exponential backoff and full jitter (a `Retry-After` in
seconds honoured up to the cap), or dead-lettered after the endpoint's `max_attempts`. The app's lifespan runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import backoff
import httpx

from api.delivery import outbox
from api.delivery.wire_format import (
    EVENT_CONTENT_TYPE,
    SIGNATURE_HEADER,
    USER_AGENT,
    cloud_event,
    encode_event,
    sign,
)
from ingest.redact import redact_text, url_secrets
from models.clock import SYSTEM_CLOCK, Clock
from models.config import DeliveryConfig, DeliveryEndpointConfig
from models.incident import PushMessage
from models.store import Store

log = logging.getLogger(__name__)

# A claim is held for the request's timeout plus this, so a worker that is alive never loses its claim to another.
LEASE_MARGIN_S = 5.0
STOP_GRACE_S = 2.0
ADMIT_BATCH = 1000


def retry_delay(attempt: int, initial_s: float, max_s: float) -> float:
    """How long to wait after failed attempt number `attempt` (1 = the first): initial * 2^(attempt-1) capped at
    `max_s`, with full jitter (uniform in [0, that])."""
    waits = backoff.expo(base=2, factor=initial_s, max_value=max_s)
    next(waits)  # backoff's generators start with a bare yield (they are primed with send(None))
    capped = next(itertools.islice(waits, max(attempt, 1) - 1, None))
    return float(backoff.full_jitter(capped))


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isascii() and value.isdigit() else None


# ----------------------------------------------------------------------------------------------------- worker


class DeliveryWorker:
    """Delivers the outbox to every enabled endpoint: one asyncio task per endpoint, run by the app's lifespan.

    It keeps nothing in memory that matters: what is pending lives in the store, so after a crash the next start
    picks up where the last left off (a claim held by the dead process is taken again once its lease runs out).
    Several API replicas may each run one; claims keep them from sending a change twice at once.
    """

    def __init__(
        self,
        store: Store,
        config: DeliveryConfig,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """`clock`: the service's time for claims, retries and signatures, and what the poll waits on."""
        self.config = config
        self._endpoints = [
            _EndpointWorker(name, endpoint, config, store, clock)
            for name, endpoint in config.endpoints.items()
        ]
        self._store = store
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def prune(self) -> int:
        """Remove the outbox's changes that are done with and older than `retain_delivered_days` (the app runs this
        at start, then hourly)."""
        before = self._clock.now() - timedelta(days=self.config.retain_delivered_days)
        with self._store.database.side_transaction() as connection:
            removed = outbox.prune(connection, endpoints=list(self.config.endpoints), before=before)
        if removed:
            log.info("outbox: removed %d delivered changes older than %s", removed, before.isoformat())
        return removed

    def prepare(self) -> None:
        """Give each configured endpoint (enabled or not) its admission cursor; run before any incident is written
        with the endpoint configured, so that the endpoint gets every change from then on."""
        with self._store.database.side_transaction() as connection:
            for worker in self._endpoints:
                outbox.ensure_cursor(connection, worker.name, replay_history=worker.config.replay_history)

    async def start(self) -> None:
        await asyncio.to_thread(self.prepare)
        self._loop = asyncio.get_running_loop()
        for worker in self._endpoints:
            if worker.config.enabled:
                self._tasks.append(asyncio.create_task(worker.run(), name=f"delivery-{worker.name}"))
            else:
                log.info("delivery endpoint %s is disabled: its changes wait in the outbox", worker.name)

    def notify(self, message: PushMessage) -> None:
        """A broker subscriber (called from any thread): an incident changed, so look at the outbox now rather
        than at the next poll."""
        loop = self._loop
        if loop is not None and not loop.is_closed() and message.type.startswith("incident."):
            loop.call_soon_threadsafe(self.wake)

    def failures(self) -> dict[str, int]:
        """Failed delivery attempts per endpoint since this worker started (`xueliang_delivery_failures_total`)."""
        return {worker.name: worker.failed_attempts for worker in self._endpoints}

    def wake(self) -> None:
        for worker in self._endpoints:
            worker.wake.set()

    async def stop(self) -> None:
        """Stop taking new work; give requests in flight a moment to finish, then cancel them and release their
        claims, so the next start sends them at once."""
        for worker in self._endpoints:
            worker.stopping = True
            worker.wake.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


class _EndpointWorker:
    def __init__(
        self,
        name: str,
        config: DeliveryEndpointConfig,
        delivery: DeliveryConfig,
        store: Store,
        clock: Clock,
    ) -> None:
        self.name = name
        self.config = config
        self.deployment = delivery.deployment
        self.poll_s = delivery.poll_interval_s
        self.store = store
        self.clock = clock
        self.wake = asyncio.Event()
        self.stopping = False
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        self.failing = False  # the endpoint's last answer was a failure (logged once, not per change)
        self.failed_attempts = 0  # for the metrics
        self.store_failing = False
        self._secret = config.secret.get_secret_value()
        self._redactions = [config.url, *url_secrets(config.url), self._secret]

    def _now(self) -> datetime:
        return self.clock.now()

    async def run(self) -> None:
        async with httpx.AsyncClient(
            timeout=self.config.timeout_s,
            follow_redirects=False,
            trust_env=False,  # the incident system is reached directly, whatever proxy the environment names
            limits=httpx.Limits(max_connections=self.config.concurrency),
        ) as client:
            admit = True
            try:
                while not self.stopping:
                    try:
                        if admit:  # when woken (a new change) or at each poll; not after every answer
                            self.wake.clear()
                            await asyncio.to_thread(self._admit)
                        free = self.config.concurrency - len(self.in_flight)
                        for claimed in await asyncio.to_thread(self._claim, free) if free > 0 else []:
                            task = asyncio.create_task(self._deliver(client, claimed))
                            self.in_flight[claimed.delivery_id] = task
                        if self.store_failing:
                            self.store_failing = False
                            log.info("delivery to %s: the store answers again", self.name)
                    except Exception:
                        if not self.store_failing:  # once per outage, not once per poll
                            self.store_failing = True
                            log.exception(
                                "delivery to %s: the store failed; trying again every poll", self.name
                            )
                    waiter = asyncio.create_task(self.wake.wait())
                    poll = asyncio.create_task(self.clock.asleep(self.poll_s))
                    done, _ = await asyncio.wait(
                        {waiter, poll, *self.in_flight.values()}, return_when=asyncio.FIRST_COMPLETED
                    )
                    admit = waiter in done or poll in done
                    waiter.cancel()
                    poll.cancel()
                    self._forget_finished()
            finally:
                await self._wind_down()

    def _forget_finished(self) -> None:
        for delivery_id, task in list(self.in_flight.items()):
            if task.done():
                del self.in_flight[delivery_id]
                if (
                    not task.cancelled() and task.exception() is not None
                ):  # a bug: the claim runs out, it is resent
                    log.error("delivery to %s: %r", self.name, task.exception())

    async def _wind_down(self) -> None:
        if self.in_flight:
            await asyncio.wait(self.in_flight.values(), timeout=STOP_GRACE_S)
        unfinished = [delivery_id for delivery_id, task in self.in_flight.items() if not task.done()]
        for delivery_id in unfinished:
            self.in_flight[delivery_id].cancel()
        if unfinished:
            await asyncio.wait([self.in_flight[d] for d in unfinished])
            try:
                await asyncio.to_thread(self._transaction, outbox.release, unfinished)
            except Exception:
                log.exception("delivery to %s: could not release %d claims", self.name, len(unfinished))
        self.in_flight.clear()

    # ------------------------------------------------------------------------------------- store (in threads)

    def _transaction(self, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self.store.database.side_transaction() as connection:
            return operation(connection, *args, **kwargs)

    def _admit(self) -> None:
        while True:
            with self.store.database.side_transaction() as connection:
                admitted = outbox.admit(
                    connection,
                    self.name,
                    include_tests=self.config.include_tests,
                    now=self._now(),
                    limit=ADMIT_BATCH,
                )
            if admitted < ADMIT_BATCH:
                return

    def _claim(self, limit: int) -> list[outbox.ClaimedDelivery]:
        now = self._now()
        lease_until = now + timedelta(seconds=self.config.timeout_s + LEASE_MARGIN_S)
        result: list[outbox.ClaimedDelivery] = self._transaction(
            outbox.claim, self.name, now=now, lease_until=lease_until, limit=limit
        )
        return result

    # ------------------------------------------------------------------------------------------------ sending

    async def _deliver(self, client: httpx.AsyncClient, claimed: outbox.ClaimedDelivery) -> None:
        body = encode_event(cloud_event(claimed.event, self.deployment))
        headers = {
            "Content-Type": EVENT_CONTENT_TYPE,
            SIGNATURE_HEADER: sign(self._secret, body, int(self.clock.time())),
            "User-Agent": USER_AGENT,
        }
        status: int | None = None
        retry_after: float | None = None
        try:
            # a real socket's timeout: real seconds, whatever the service's clock
            async with asyncio.timeout(self.config.timeout_s):
                response = await client.post(self.config.url, content=body, headers=headers)
            status = response.status_code
            if 200 <= status < 300:
                await self._settled(claimed, status)
                return
            error = f"HTTP {status}"
            retry_after = _retry_after_s(response)
        except TimeoutError:
            error = f"no answer within {self.config.timeout_s:g} s"
        except Exception as exc:  # a refused connection, a reset, a TLS error, ...: all worth another try
            error = redact_text(f"{type(exc).__name__}: {exc}".rstrip(": "), self._redactions)
        await self._failed(claimed, error, status, retry_after)

    async def _settled(self, claimed: outbox.ClaimedDelivery, status: int) -> None:
        if self.failing:
            self.failing = False
            log.info("delivery to %s works again", self.name)
        try:
            await asyncio.to_thread(
                self._transaction, outbox.ack, claimed.delivery_id, now=self._now(), status=status
            )
        except Exception:
            # The endpoint has it; our bookkeeping failed, so it will be sent again once the claim runs out.
            log.exception(
                "delivery to %s: could not record the answer for event %s", self.name, claimed.event.id
            )

    async def _failed(
        self, claimed: outbox.ClaimedDelivery, error: str, status: int | None, retry_after: float | None
    ) -> None:
        self.failed_attempts += 1
        if not self.failing:
            self.failing = True
            log.warning("delivery to %s failing (%s); retrying with backoff", self.name, error)
        now = self._now()
        try:
            if claimed.attempt >= self.config.max_attempts:
                log.warning(
                    "delivery to %s: event %s (%s of incident %s) dead-lettered after %d attempts: %s",
                    self.name,
                    claimed.event.id,
                    claimed.event.type,
                    claimed.event.incident_id,
                    claimed.attempt,
                    error,
                )
                await asyncio.to_thread(
                    self._transaction,
                    outbox.dead_letter,
                    claimed.delivery_id,
                    now=now,
                    error=error,
                    status=status,
                )
                return
            delay = retry_delay(claimed.attempt, self.config.backoff_initial_s, self.config.backoff_max_s)
            if retry_after is not None:
                delay = max(delay, min(retry_after, self.config.backoff_max_s))
            log.debug(
                "delivery to %s: event %s attempt %d failed: %s",
                self.name,
                claimed.event.id,
                claimed.attempt,
                error,
            )
            await asyncio.to_thread(
                self._transaction,
                outbox.fail,
                claimed.delivery_id,
                retry_at=now + timedelta(seconds=delay),
                error=error,
                status=status,
            )
        except Exception:
            log.exception(
                "delivery to %s: could not record a failed attempt of event %s", self.name, claimed.event.id
            )
