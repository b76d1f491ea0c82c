"""Keep camera credentials out of errors, logs and health: every error string leaving ingest goes through here."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote, urlsplit

MASK = "***"

# scheme://userinfo@ — userinfo runs to the LAST '@' before the path, query, fragment or whitespace, so a
# raw '@' inside a password ("rtsp://admin:p@ss@host/") is covered too.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/?#'\"<>]*)@")


def redact_url(url: str) -> str:
    """Replace the userinfo of `url` with `***`: rtsp://user:pass@host/x -> rtsp://***@host/x."""
    return _URL_USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", url)


def url_secrets(url: str) -> list[str]:
    """The credential strings in `url` (user info, password; raw and percent-decoded), for `redact_text`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    secrets: list[str] = []
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and userinfo:
        secrets.append(userinfo)
        _, colon, password = userinfo.partition(":")
        if colon and password:
            secrets.extend({password, unquote(password)})
    return secrets


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask URL credentials anywhere in `text`, and every literal secret (also percent-encoded).

    Use it on any message that may echo a URL or a password, such as an FFmpeg error:
    "Connection refused: 'rtsp://admin:pw@10.0.0.7/live'" -> "Connection refused: 'rtsp://***@10.0.0.7/live'".
    An empty secret is ignored (it would match everywhere).
    """
    redacted = redact_url(text)
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.update({secret, quote(secret, safe=""), quote_plus(secret), unquote(secret)})
    for form in sorted(forms, key=len, reverse=True):  # longest first: "pw%40x" before "pw"
        if form:
            redacted = redacted.replace(form, MASK)
    return redacted
