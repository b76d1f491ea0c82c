"""The wire format of delivery: each incident change is POSTed to each configured endpoint as a signed CloudEvent
(CloudEvents 1.0, JSON structured mode), retried with capped exponential backoff, in order per incident
(`api/delivery/worker.py`).

Request (one per change, per endpoint)::

    POST <endpoint url>
    Content-Type: application/cloudevents+json; charset=utf-8
    X-Xueliang-Signature: t=1767225600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd

    {"specversion": "1.0",
     "id": "3f2b9c...",                      # one per change; the same on every retry
     "source": "urn:xueliang:<deployment>/cameras/<camera_id>",
     "type": "cn.xueliang.incident.opened",  # .updated, .closed, .transition (a closed-loop step), .overdue
     "subject": "<incident id>",
     "time": "2026-03-01T08:00:00Z",         # when the change happened
     "datacontenttype": "application/json",
     "sequence": "00000000000000000042",     # CloudEvents sequence extension: the outbox's commit order
     "data": {...}}                          # the incident view after the change, as GET /incidents/{id} shows it

`source` + `id` identify a change: delivery is at least once (a crash between the receiver's answer and our
bookkeeping sends it again), so the receiver should drop an id it has already processed. One incident's changes
arrive one after another: a change is sent only once the one before it was answered 2xx. Anything but 2xx (or no
answer within the endpoint's timeout) is retried after `backoff_initial_s * 2^(attempt-1)`, capped at
`backoff_max_s`, with full jitter (a `Retry-After` in seconds is honoured up to the cap); after `max_attempts` the
change becomes a dead letter (GET /deliveries/dead-letters) and the incident's later changes wait until an admin
redelivers it (POST /deliveries/dead-letters/{id}/redeliver). Redirects are not followed.

Signature (the scheme of Stripe's webhooks): `v1` is the hex HMAC-SHA256, keyed with the endpoint's secret, of the
ASCII decimal timestamp `t` (Unix seconds when the request was signed), a ".", and the raw body bytes. To verify:
1. split the header on "," into key=value pairs; take `t` and every `v1` (there may be several while secrets rotate);
2. compute HMAC-SHA256(secret, t + "." + raw body) over the body exactly as received, before any JSON parsing;
3. compare it in constant time with each `v1`; accept if one matches;
4. reject if |now - t| exceeds your tolerance (5 minutes is usual): a replayed request is then stale, and within
   the window the event `id` you have already seen gives the duplicate away.
`verify_signature` below does exactly that, in a dozen lines of standard library an incident system can copy.

The envelope is built here rather than with the `cloudevents` SDK (2.2): its JSON writer escapes non-ASCII
(`ensure_ascii`) and uses spaced separators, so the body would change byte for byte (grid and category names are
Chinese), and it would add a dependency (with python-dateutil and deprecation) for nine fixed keys.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC
from typing import Any

from api.delivery.outbox import OutboxEvent

SIGNATURE_HEADER = "X-Xueliang-Signature"
EVENT_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
EVENT_TYPE_PREFIX = "cn.xueliang."
USER_AGENT = "xueliang-delivery/1"
DEFAULT_TOLERANCE_S = 300



def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header's value for `body` signed at `timestamp` (Unix seconds)."""
    digest = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_signature(
    secret: str,
    body: bytes,
    header: str,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when `header` (X-Xueliang-Signature) signs `body` (the raw bytes received) with `secret`, and its
    timestamp is within `tolerance_s` of `now` (default: the current time)."""
    timestamps, signatures = [], []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit() or not signatures:
        return False
    timestamp = int(timestamps[0])
    # the receiver's side: its own wall clock unless told (a test passes its clock's time)
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


def event_type(change_type: str) -> str:
    """The CloudEvents type of a change: incident.opened -> cn.xueliang.incident.opened."""
    return EVENT_TYPE_PREFIX + change_type


def event_source(deployment: str, camera_id: str | None) -> str:
    return f"urn:xueliang:{deployment}/cameras/{camera_id}" if camera_id else f"urn:xueliang:{deployment}"


def cloud_event(event: OutboxEvent, deployment: str) -> dict[str, Any]:
    """The change as a CloudEvents 1.0 structured-mode event."""
    return {
        "specversion": "1.0",
        "id": event.id,
        "source": event_source(deployment, event.camera_id),
        "type": event_type(event.type),
        "subject": event.incident_id,
        "time": event.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "sequence": f"{event.seq:020d}",
        "data": event.data,
    }


def encode_event(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
