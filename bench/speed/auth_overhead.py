"""What checking credentials against the store costs per request (issue #15: accounts, revoked sessions).

`GET /auth/me` in-process (TestClient, SQLite file store, no cameras), 200 requests per round, 7 rounds
round-robin over three kinds of credentials: a config API key (no store read, the bound), a login token (one
read: is its session revoked), an API key created in the store (one read: the key by its sha256). Also one
`GET /metrics` scrape (store reads for cameras, incidents and deliveries). Ratios within one run only.

    .venv/bin/python -m bench.speed.auth_overhead
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from bench.speed.common import machine, median, table, write_results
from models.clock import ManualClock
from tests.api.access import api_key, bearer
from tests.api.camera_feed import T0, demo_config

REQUESTS, ROUNDS = 200, 7


def main() -> None:
    started = os.getloadavg()
    config = demo_config(Path(tempfile.mkdtemp()))
    with TestClient(create_app(config, run_cameras=False, clock=ManualClock(T0))) as client:
        token = bearer(config, "admin", T0)
        key = client.post("/api-keys", headers=token, json={"name": "bench", "role": "admin"}).json()["key"]
        kinds = {
            "config API key (no store read)": api_key(),
            "login token (+ revoked-session read)": token,
            "store API key (+ key read)": {"X-API-Key": key},
        }
        ms: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(ROUNDS):
            for kind, headers in kinds.items():
                begin = time.perf_counter()
                for _ in range(REQUESTS):
                    assert client.get("/auth/me", headers=headers).status_code == 200
                ms[kind].append((time.perf_counter() - begin) / REQUESTS * 1000)
        scrapes = []
        for _ in range(ROUNDS):
            begin = time.perf_counter()
            assert client.get("/metrics", headers=token).status_code == 200
            scrapes.append((time.perf_counter() - begin) * 1000)
    bound = median(ms["config API key (no store read)"]) or 1.0
    rows: list[list[Any]] = [[kind, median(values), (median(values) or 0) / bound] for kind, values in ms.items()]
    print(table(["credentials", "ms/request (median)", "x bound"], rows))
    print(f"GET /metrics: {median(scrapes):.1f} ms (median of {ROUNDS})")
    path = write_results(
        "auth_overhead",
        {
            "command": "python -m bench.speed.auth_overhead",
            "machine": machine(),
            "loadavg_at_start": [round(x, 2) for x in started],
            "ms_per_request": ms,
            "metrics_scrape_ms": scrapes,
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
