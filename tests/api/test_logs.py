"""Structured (JSON) logs: one object per line, with credentials redacted in every field."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from api.logs import setup_logging

PASSWORD = "s3cret-pa55"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:], root.level = handlers, level


@pytest.mark.usefixtures("restore_logging")
def test_json_logs_are_one_redacted_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", [PASSWORD], "json")
    log = logging.getLogger("xueliang.test")
    log.warning("camera %s: connection refused", f"rtsp://admin:{PASSWORD}@10.0.0.5/live")
    log.info("extra fields too", extra={"url": f"rtsp://admin:{PASSWORD}@10.0.0.5/live", "camera": "cam-1"})
    logging.getLogger("uvicorn.access").info('GET /ws?access_token=eyJhbGciOi.abc.def&grid=330106 HTTP/1.1')
    try:
        raise RuntimeError(f"failed to open rtsp://admin:{PASSWORD}@10.0.0.5/live")
    except RuntimeError:
        log.exception("stream failed")
    logging.getLogger("xueliang.test").debug("not at INFO")

    out = capsys.readouterr().err
    assert PASSWORD not in out and "eyJhbGciOi" not in out
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(line["level"], line["logger"]) for line in lines] == [
        ("WARNING", "xueliang.test"),
        ("INFO", "xueliang.test"),
        ("INFO", "uvicorn.access"),
        ("ERROR", "xueliang.test"),
    ]
    assert lines[0]["message"].startswith("camera rtsp://") and lines[0]["message"].endswith("connection refused")
    assert lines[1]["camera"] == "cam-1" and lines[1]["url"].startswith("rtsp://")
    assert "access_token=***" in lines[2]["message"]
    assert "RuntimeError" in lines[3]["exc_info"] and "Traceback" in lines[3]["exc_info"]
    assert all(line["timestamp"].startswith("20") for line in lines)


@pytest.mark.usefixtures("restore_logging")
def test_text_logs_stay_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", [PASSWORD])
    logging.getLogger("xueliang.test").warning("password %s", PASSWORD)
    out = capsys.readouterr().err
    assert PASSWORD not in out and "WARNING xueliang.test: password" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.splitlines()[0])
