"""`xueliang serve` in a cluster: it checks what the processes share before it starts — an unreachable PostgreSQL
store or broker is one line naming it (never its password) and a non-zero exit — and `serve --api-only` runs an
extra API replica (no cameras) on the shared PostgreSQL store and Redis broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml

from api.cli import DEMO_CONFIG, EXIT_DEPENDENCY
from tests.api.postgres_support import postgres_schema_url_fixture  # noqa: F401 - the fixture postgres_schema_url
from tests.models.broker_support import RedisProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
PG_PASSWORD = "pg-s3cret-pw"
BROKER_PASSWORD = "br0ker-s3cret-pw"
ENV = {**os.environ, "XUELIANG_DEMO_RTSP": "rtsp://127.0.0.1:9", "PYTHONPATH": str(ROOT)}


def write_config(tmp_path: Path, store_url: str, cluster: dict[str, Any] | None, port: int = 0) -> Path:
    raw: dict[str, Any] = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    raw["store"] = {"url": store_url, "data_dir": str(tmp_path / "data")}
    raw["server"] = {"host": "127.0.0.1", "port": port or free_port()}
    if cluster is not None:
        raw["cluster"] = cluster
    path = tmp_path / f"config-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def serve(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", "serve", "--config", str(config), *extra],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, env=ENV)  # fmt: skip



def test_an_unreachable_postgresql_store_is_named_without_its_password(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there
    config = write_config(tmp_path, f"postgresql+psycopg://xl:{PG_PASSWORD}@127.0.0.1:{closed}/xueliang", None)

    result = serve(config, "--api-only")

    assert result.returncode == EXIT_DEPENDENCY, result.stderr
    line = [line for line in result.stderr.splitlines() if line.startswith("cannot start:")]
    assert line and "store.url" in line[0] and "PostgreSQL" in line[0] and f"127.0.0.1:{closed}" in line[0], (
        result.stderr)  # fmt: skip
    assert PG_PASSWORD not in result.stderr + result.stdout


def test_an_unreachable_broker_is_named_without_its_password(tmp_path: Path, postgres_schema_url: str) -> None:
    closed = free_port()
    broker_url = f"redis://:{BROKER_PASSWORD}@127.0.0.1:{closed}/0"
    config = write_config(tmp_path, postgres_schema_url, {"broker_url": broker_url})

    result = serve(config, "--api-only")

    assert result.returncode == EXIT_DEPENDENCY, result.stderr
    line = [line for line in result.stderr.splitlines() if line.startswith("cannot start:")]
    assert line and "cluster.broker_url" in line[0] and f"127.0.0.1:{closed}" in line[0], result.stderr
    assert BROKER_PASSWORD not in result.stderr + result.stdout


def test_a_cluster_on_sqlite_is_refused_naming_the_store(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", {"broker_url": "local://"})

    result = serve(config, "--api-only")

    assert result.returncode != 0
    assert "store.url" in result.stderr and "SQLite cannot be shared" in result.stderr


def test_api_only_replica_serves_on_the_shared_store_and_broker(
    tmp_path: Path, postgres_schema_url: str, redis_server: RedisProcess
) -> None:
    """`serve --api-only` with a cluster: starts (no detector is loaded, no camera runs) and answers."""
    port = free_port()
    config = write_config(tmp_path, postgres_schema_url, {"broker_url": redis_server.url}, port)
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--config", str(config), "--api-only"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=ENV,
    )  # fmt: skip
    try:
        deadline, healthy = time.monotonic() + 60, False
        while time.monotonic() < deadline and process.poll() is None and not healthy:
            try:
                healthy = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.2)
        assert healthy, "the API replica did not answer /healthz"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output  # a clean shutdown, the broker closed
    assert "API replica (--api-only): no cameras run here" in output
    assert f"push broker: {redis_server.url}" in output
    assert "34020000001320000001" not in output  # the demo cameras are configured, and none was started
