"""Logging setup. Every record passes a redaction filter: stream credentials never reach a log line."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from ingest.redact import redact_text

# Credentials a websocket client may put in its URL (browsers cannot set headers), as uvicorn logs the path.
_QUERY_CREDENTIALS = re.compile(r"(?i)\b(access_token|api_key)=[^&\s\"']+")


def redact_query_credentials(text: str) -> str:
    return _QUERY_CREDENTIALS.sub(r"\1=***", text)


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_query_credentials(redact_text(message, self.secrets))
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, redacted, so the handler never formats the raw exception text.
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info), self.secrets)
            record.exc_info = None
        return True


def setup_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request (the delivery worker's) at INFO with its URL: noise, and the URL is not for logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
