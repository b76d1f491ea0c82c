"""The real service in a subprocess, and a real websocket client collecting its live feed.

Both authenticate with the demo config's accounts (models/demo_config.yaml): `Service.get` as the demo admin (it
logs in after every start, since the demo signs tokens with a key made at start), `LiveFeed` with the demo
incident-system API key unless given other headers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import demo_raw_config

DEMO_ADMIN = ("admin", "admin-demo")
DEMO_API_KEY = {"X-API-Key": "xl-demo-incident-system-key"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_config(tmp: Path, cameras: dict[str, Any], port: int, **sections: Any) -> Path:
    """The demo grid, categories and models with these cameras, a SQLite store in `tmp`, the API on `port`; other
    top-level `sections` (e.g. clips={...}) replace the demo's."""
    raw = demo_raw_config()
    raw.update(sections)
    raw["cameras"] = cameras
    raw["store"] = {"url": f"sqlite:///{tmp / 'xueliang.db'}", "data_dir": str(tmp / "data")}
    raw["server"] = {"host": "127.0.0.1", "port": port}
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


class Service:
    """`xueliang serve --config FILE` as a child process; its whole output goes to `log_path`."""

    def __init__(self, config_path: Path, port: int, log_path: Path) -> None:
        self.config_path = config_path
        self.port = port
        self.log_path = log_path
        self.base = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.headers: dict[str, str] = {}

    def start(self, timeout: float = 90.0) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--config", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    self.headers = self.login(*DEMO_ADMIN)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"service not ready in {timeout} s:\n{self.log_path.read_text()}")

    def login(self, username: str, password: str) -> dict[str, str]:
        """POST /auth/token; the Authorization header with the token."""
        response = httpx.post(f"{self.base}/auth/token", data={"username": username, "password": password}, timeout=10)
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", params=params, headers=self.headers, timeout=10)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or power cut."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass(frozen=True)
class Received:
    at: float  # time.time() when the client received it
    message: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.message["type"])

    @property
    def data(self) -> dict[str, Any]:
        """The message's data; empty for a heartbeat, which has none (predicates may read any message)."""
        return dict(self.message.get("data", {}))


class LiveFeed:
    """A websocket client (the `websockets` library) that records every message with its arrival time."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.received: list[Received] = []
        self.closed: ConnectionClosed | None = None
        self._cond = threading.Condition()
        self._ws = connect(url, open_timeout=10, additional_headers=DEMO_API_KEY if headers is None else headers)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for raw in self._ws:
                item = Received(time.time(), json.loads(raw))
                with self._cond:
                    self.received.append(item)
                    self._cond.notify_all()
        except ConnectionClosed as closed:
            self.closed = closed
        finally:
            with self._cond:
                self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float) -> Received:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item in self.received:
                    if predicate(item):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(r.type, r.data.get("camera_id"), r.data.get("state")) for r in self.received]
                    raise AssertionError(f"no matching message in {timeout} s; received {seen}")
                self._cond.wait(remaining)

    def close(self) -> None:
        self._ws.close()
        self._thread.join(5)
