"""What the broker tests share: a redis-server the test owns (started, killed, restarted on the same port, stopped),
a camera.status commit helper, and a publisher process (`python -m tests.models.broker_support URL DB CAMERA N`)
that commits and publishes like a pipeline on another node."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from models.incident import CameraStatusRecord, PushMessage
from models.push import PushJournal
from models.store import Store

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisProcess:
    """A redis-server on a free loopback port, with no persistence: a restart is an empty broker, the worst case."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self._command = [binary, "--port", "", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--dir", str(workdir)]
        self.port = free_port()
        self._command[2] = str(self.port)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process = subprocess.Popen(self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None


def camera_status(camera_id: str, index: int) -> CameraStatusRecord:
    at = T0 + timedelta(seconds=index)
    return CameraStatusRecord(camera_id=camera_id, state="online" if index % 2 else "reconnecting", since=at,
                              last_error=None, updated_at=at, frames_decoded=index, frames_dropped=0,
                              analysed_fps=2.0)


def commit_status(journal: PushJournal, camera_id: str, index: int) -> PushMessage:
    return journal.camera_status(camera_status(camera_id, index), "330106001", {"camera_id": camera_id, "n": index})


def publisher_process(broker_url: str, db_url: str, camera_id: str, count: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.models.broker_support", broker_url, db_url, camera_id,
                             str(count)])


def _publish_from_this_process(broker_url: str, db_url: str, camera_id: str, count: int) -> None:
    from models.brokers import RedisStreamBroker

    store = Store(db_url)
    with RedisStreamBroker(broker_url) as broker:
        journal = PushJournal(store, broker)
        for index in range(count):
            commit_status(journal, camera_id, index)
    store.close()


if __name__ == "__main__":
    _publish_from_this_process(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
