"""ASGI middleware around the whole app: the security headers of every response. Plain ASGI (not Starlette's
BaseHTTPMiddleware), so websockets and streamed responses pass untouched. (The request body limit is FastAPI's own
`max_body_size`, set in api/app.py.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# The console is plain ES modules and one stylesheet from this server (no inline script, no CDN, no web fonts):
# only 'self' is allowed; thumbnails and snapshots are fetched with credentials and shown as blob: URLs, and so is the event clip's <video> (media-src); the
# favicon is data:. Its computed styles (bar widths) are set through the CSSOM (el.style), which CSP allows.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's /docs and /redoc pages load Swagger UI / ReDoc from jsDelivr and start them with an inline script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
# Everything else is data (JSON, GeoJSON, CAP, JPEG): nothing in it may run or be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
DOCS_PATHS = ("/docs", "/redoc")
COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def content_security_policy(path: str) -> str:
    if path == "/console" or path.startswith("/console/"):
        return CONSOLE_CSP
    if path.startswith(DOCS_PATHS):
        return DOCS_CSP
    return API_CSP


class SecurityHeaders:
    """Add the security headers to every HTTP response: a Content-Security-Policy fitting what the path serves,
    X-Content-Type-Options: nosniff, X-Frame-Options: DENY, Referrer-Policy: no-referrer (URLs may carry
    incident ids), Cross-Origin-Opener-Policy. Headers a route set itself are kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = content_security_policy(scope.get("path", "")).encode()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {bytes(key).lower() for key, _ in headers}
                for key, value in [(b"content-security-policy", csp), *COMMON_HEADERS]:
                    if key not in present:
                        headers.append((key, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
