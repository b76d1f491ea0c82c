"""The control-plane load test (bench/scale/load.py) at a tiny size, so that it cannot rot: a real Ray cluster
(head + 2 worker nodes), PostgreSQL, redis-server and 2 `serve --api-only` replicas, 20 synthetic cameras for 8 s
at the county's rates. Both replicas' websocket clients must see the same seqs as the store, with no gap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_tiny_load_run_completes_and_both_replicas_see_every_seq(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "bench.scale.load", "--cameras", "20", "--seconds", "8", "--factors", "1",
         "--out", str(out)],
        capture_output=True, text=True, timeout=150, cwd=ROOT, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    report = json.loads(out.read_text())
    assert report["distinct_actor_nodes"] == 2  # the camera actors ran on both worker nodes
    [run] = report["runs"]
    assert run["identical_seqs"] and run["no_gap"], run["replicas"]
    assert run["achieved"]["messages_in_store"] > 0
    assert all(replica["received"] == run["achieved"]["messages_in_store"] for replica in run["replicas"])
    assert run["errors"] == 0, run["error_samples"]
    for key in ("50", "95", "99", "max"):
        assert run["latency_ms"][key] >= 0
    for key in ("store_rows_per_s", "broker_messages_per_s", "incidents_per_s", "counter_rows_per_s"):
        assert key in run["achieved"] and key in run["target"]
    assert run["target"]["broker_messages_per_s"] == report["summary"][0]["target"]["broker_messages_per_s"]
    assert len(run["loadavg_end"]) == 3 and "holds" in run
    assert report["ray_node_addresses"] == ["127.0.0.1"]  # all on loopback
