"""Logging setup. Every record passes a redaction filter: stream credentials never reach a log line.

Two formats: text (one line per record) or JSON (`server.log_format: json` or `xueliang serve --log-format json`:
one object per line with `timestamp`, `level`, `logger`, `message` and `exc_info` for tracebacks, via
python-json-logger). In JSON every string field, extras included, passes the same redaction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

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


class RedactingJsonFormatter(JsonFormatter):
    """JSON lines whose every string value (extra fields too, which the filter does not see) is redacted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
        )
        self.secrets = tuple(s for s in secrets if s)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        log_data.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message: noise in JSON
        return {
            key: redact_query_credentials(redact_text(value, self.secrets)) if isinstance(value, str) else value
            for key, value in log_data.items()
        }


LogFormat = Literal["text", "json"]


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (), log_format: LogFormat = "text") -> None:
    handler = logging.StreamHandler()
    secrets = tuple(secrets)
    if log_format == "json":
        handler.setFormatter(RedactingJsonFormatter(secrets))
    else:
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
