"""A real incident-system endpoint for the delivery tests: an HTTP server (standard library) on a free 127.0.0.1
port, in a thread of the test process, that verifies each request's signature the documented way and records it.

It can be told to answer every request with an error (503, 500, ...), to fail every k-th request, to answer slowly,
or be stopped altogether (connections are then refused) and started again on the same port.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from api.delivery.wire_format import SIGNATURE_HEADER, verify_signature
from models.clock import SYSTEM_CLOCK, Clock


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Request:
    """One POST as received, and how it was answered. `arrived` and `answered` are ticks of one counter shared by
    every request, so "answered before that one arrived" is exact whatever the threads did."""

    path: str
    content_type: str
    signature: str
    body: bytes
    signature_ok: bool
    status: int
    arrived: int
    answered: int
    event: dict[str, Any]  # the body, parsed

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


class IncidentReceiver:
    def __init__(self, secret: str, *, port: int | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        """`clock`: what the signature's timestamp is checked against (an incident system's own clock; a test whose
        service runs on a ManualClock gives the receiver the same one, as two machines kept in time by NTP)."""
        self.secret = secret
        self.clock = clock
        self.port = port or free_port()
        self.requests: list[Request] = []
        self.status = 200  # the answer to a request with a good signature
        self.fail_every = 0  # > 0: every k-th request is answered 503 whatever `status` says
        self.delay_s = 0.0
        self._tick = 0
        self._seen = 0
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/events") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # ------------------------------------------------------------------------------------------------ control

    def start(self) -> IncidentReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver._handle(self, body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: new connections are refused until `start()`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> IncidentReceiver:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------------------------------------- handling

    def _next_tick(self) -> int:
        with self._cond:
            self._tick += 1
            return self._tick

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        arrived = self._next_tick()
        signature = handler.headers.get(SIGNATURE_HEADER, "")
        signature_ok = verify_signature(self.secret, body, signature, now=self.clock.time())
        with self._cond:
            self._seen += 1
            flaky = self.fail_every > 0 and self._seen % self.fail_every == 0
        status = 401 if not signature_ok else 503 if flaky else self.status
        if self.delay_s:
            time.sleep(self.delay_s)
        answered = self._next_tick()
        request = Request(
            path=handler.path,
            content_type=handler.headers.get("Content-Type", ""),
            signature=signature,
            body=body,
            signature_ok=signature_ok,
            status=status,
            arrived=arrived,
            answered=answered,
            event=json.loads(body),
        )
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    # ----------------------------------------------------------------------------------------------- reading

    def wait_until(
        self, predicate: Callable[[IncidentReceiver], bool], timeout: float, what: str = ""
    ) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"receiver: {what or 'condition'} not met in {timeout} s; "
                        f"{len(self.requests)} requests, {len(self.accepted_ids())} ids accepted"
                    )
                self._cond.wait(min(remaining, 0.1))

    def snapshot(self) -> list[Request]:
        with self._cond:
            return list(self.requests)

    def accepted_ids(self, path: str | None = None) -> set[str]:
        return {r.event["id"] for r in self.snapshot() if r.accepted and (path is None or r.path == path)}

    def accepted_events(self, path: str | None = None) -> list[dict[str, Any]]:
        """Each accepted event once (its first acceptance), in arrival order."""
        seen: set[str] = set()
        events = []
        for request in sorted(self.snapshot(), key=lambda r: r.arrived):
            if (
                request.accepted
                and (path is None or request.path == path)
                and request.event["id"] not in seen
            ):
                seen.add(request.event["id"])
                events.append(request.event)
        return events

    def concurrent_deliveries(self) -> list[str]:
        """Changes (by CloudEvents id, the idempotency key) of which two requests were in flight at once: one
        arrived before another of the same id was answered. Empty when no change was ever delivered twice at once."""
        by_id: dict[tuple[str, str], list[Request]] = defaultdict(list)
        for request in self.snapshot():
            by_id[(request.path, request.event["id"])].append(request)
        problems = []
        for (path, event_id), requests in by_id.items():
            requests.sort(key=lambda r: r.arrived)
            for earlier, later in zip(requests, requests[1:], strict=False):
                if later.arrived < earlier.answered:
                    problems.append(f"{path} {event_id}: a second request arrived while the first was in flight")
        return problems

    def order_violations(self) -> list[str]:
        """Requests that arrived before every earlier change of their incident (by the CloudEvents `sequence`) had
        been accepted: what "in order per incident" forbids. Empty when delivery kept the order."""
        by_incident: dict[tuple[str, str], list[Request]] = defaultdict(list)
        for request in self.snapshot():
            if request.signature_ok:
                by_incident[(request.path, request.event["subject"])].append(request)
        problems = []
        for (path, incident), requests in by_incident.items():
            first_ack: dict[str, int] = {}
            for request in requests:
                if request.accepted:
                    first_ack[request.event["sequence"]] = min(
                        first_ack.get(request.event["sequence"], request.answered), request.answered
                    )
            sequences = sorted({r.event["sequence"] for r in requests})
            for request in requests:
                for earlier in sequences:
                    if earlier >= request.event["sequence"]:
                        break
                    if first_ack.get(earlier, float("inf")) > request.arrived:
                        problems.append(
                            f"{path} {incident}: change {request.event['sequence']} ({request.event['type']}) "
                            f"arrived before change {earlier} was accepted"
                        )
        return problems
