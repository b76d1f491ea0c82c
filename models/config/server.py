"""`server:` in the service config: the HTTP/websocket API."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from models.config.base import Strict


class ServerConfig(Strict):
    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port the API listens on (0 = any free port).")
    websocket_queue: int = Field(
        default=1000, ge=1, description="Messages buffered per websocket client before it is disconnected."
    )
    websocket_heartbeat_s: float = Field(
        default=15.0,
        gt=0,
        description="A websocket client that has been sent nothing for this long gets a "
        '`{"type": "heartbeat", "seq": <its last seq>}` message (no seq of its own), so a dead link shows.',
    )
    metrics: Literal["admin", "open", "off"] = Field(
        default="admin",
        description="`GET /metrics` (Prometheus): `admin` needs an admin's credentials (an API key with role admin "
        "in `X-API-Key` or as `Authorization: Bearer`, or an admin's login token); `open` needs none (only where "
        "the port is reachable from the monitoring network alone); `off` answers 404.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`json`: one JSON object per log line (for log shippers); `xueliang serve --log-format` "
        "overrides it. Credentials are redacted either way.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Largest request body accepted, in bytes (default 1 MiB; the API's bodies are a few KiB). A "
        "larger one is answered 413 as soon as its Content-Length says so, or, for a chunked body, as soon as the "
        "bytes read pass the limit; it is never read in full.",
    )
    websocket_resume_days: float = Field(
        default=7,
        gt=0,
        description="Live-push messages older than this are removed (at start, then hourly), so a websocket "
        "client can resume with `after=` from up to this long ago; resuming from a removed message is refused "
        "with close code 4410 (reload, then connect afresh). Each camera's latest status and the newest message "
        "are kept.",
    )
