"""Structured (JSON) logs: one object per line, with credentials redacted in every field."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from api.logs import setup_logging
from tests.conftest import demo_raw_config
from tests.e2e.service import free_port

PASSWORD = "s3cret-pa55"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    # An in-process uvicorn server started by an earlier test configures uvicorn's loggers its own way (own
    # handlers, no propagation); the service's logging takes them from a fresh state, as at a real start.
    access = logging.getLogger("uvicorn.access")
    access_state = (access.handlers[:], access.level, access.propagate, access.disabled)
    access.handlers[:], access.level, access.propagate, access.disabled = [], logging.NOTSET, True, False
    try:
        yield
    finally:
        root.handlers[:], root.level = handlers, level
        access.handlers[:], access.level, access.propagate, access.disabled = access_state


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


def test_serve_with_log_format_json_writes_only_json_lines(tmp_path: Path) -> None:
    """`xueliang serve --log-format json` (a real uvicorn, no cameras): every line it writes is a JSON object,
    uvicorn's access lines included, and a token in a websocket URL is redacted."""
    raw = demo_raw_config()
    raw["cameras"] = {}
    port = free_port()
    raw["store"] = {"url": f"sqlite:///{tmp_path / 'xl.db'}", "data_dir": str(tmp_path / "data")}
    raw["server"] = {"host": "127.0.0.1", "port": port}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--config", str(config), "--log-format", "json"],
            stdout=log_file, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            httpx.get(f"http://127.0.0.1:{port}/ws?access_token=eyJsecret.token.value", timeout=5)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(20)
    lines = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines, "the service wrote nothing"
    loggers = {line["logger"] for line in lines}
    assert {"xueliang", "api.app", "uvicorn.error", "uvicorn.access"} <= loggers, loggers
    access = [line["message"] for line in lines if line["logger"] == "uvicorn.access"]
    assert any("/ws?access_token=***" in message for message in access), access
    assert "eyJsecret" not in log_path.read_text(encoding="utf-8")
