"""Benchmark 5, websocket fan-out: 500 connected clients, 100 incident messages/s, delivery latency p99.

    .venv/bin/python -m bench.speed.fanout [--clients 500] [--rate 100] [--seconds 10] [--client-procs 2]

The real app (api.app.create_app, run_cameras=False) runs under uvicorn on 127.0.0.1 in this process, with a
LocalBroker as its message source; a publisher thread publishes `--rate` incident.updated messages a second (a
realistic ~1 KB incident payload stamped with its publish time) into the broker, as camera pipelines do. The
clients are real `websockets` clients, in `--client-procs` separate processes so that they do not share this
process's interpreter; each records, per message, its arrival time minus its publish time. Loopback only, bounded
in time. Writes bench/speed/results/fanout.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from bench.speed.common import machine, table, write_results
from bench.speed.harness import BENCH_API_KEY, ApiServer, free_port, service_config
from models.incident import PushMessage
from models.push import LocalBroker


def payload(seq: int) -> dict[str, Any]:
    return {
        "sent_at": time.time(),
        "id": f"bench-{seq:08d}", "camera_id": "34020000001320000001", "camera_name": "宝石山下步行道",
        "grid_code": "330106001001001", "grid_name": "宝石山第一网格", "category": "crowd_gathering",
        "category_name": "社会治安/人员聚集", "owner_department": "西湖区公安分局", "severity": "C", "status": "open",
        "count": 7, "confidence": 0.8123, "magnitude": 7.0, "opened_at": "2026-01-01T00:00:00+00:00",
        "updated_at": datetime.now(UTC).isoformat(), "deadline": "2026-01-01T02:00:00+00:00",
        "location": {"type": "Point", "coordinates": [120.135, 30.265]},
        "snapshot_url": f"/incidents/bench-{seq:08d}/snapshot", "is_test": True, "overdue": False,
    }  # fmt: skip


def publish(broker: LocalBroker, rate: float, seconds: float, start_seq: int) -> int:
    interval = 1.0 / rate
    started = time.monotonic()
    sent = 0
    while sent < rate * seconds:
        due = started + sent * interval
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        seq = start_seq + sent
        broker.publish(PushMessage(seq=seq, type="incident.updated", at=datetime.now(UTC),
                                   camera_id="34020000001320000001", grid_code="330106001001001",
                                   category_code="crowd_gathering", data=payload(seq)))  # fmt: skip
        sent += 1
    return sent


# -- client process ---------------------------------------------------------------------------------------------


async def _client(url: str, until: float, latencies: list[float], stats: dict[str, int], ready: asyncio.Event,
                  connected: list[int], total: int, compression: str | None) -> None:  # fmt: skip
    import websockets

    try:
        async with websockets.connect(url, additional_headers={"X-API-Key": BENCH_API_KEY}, open_timeout=60,
                                      max_queue=None, compression=compression) as ws:  # fmt: skip
            connected[0] += 1
            if connected[0] == total:
                ready.set()
            while True:
                remaining = until - time.time()
                if remaining <= 0:
                    return
                try:
                    raw = await asyncio.wait_for(ws.recv(), remaining)
                except TimeoutError:
                    return
                arrived = time.time()
                message = json.loads(raw)
                if message.get("type") == "incident.updated":
                    latencies.append(arrived - message["data"]["sent_at"])
    except Exception as error:  # noqa: BLE001 - counted and reported
        stats[type(error).__name__] = stats.get(type(error).__name__, 0) + 1


async def _clients(url: str, count: int, until: float, out: Path, compression: str | None) -> None:
    latencies: list[float] = []
    stats: dict[str, int] = {}
    ready, connected = asyncio.Event(), [0]
    tasks = []
    for _ in range(count):
        tasks.append(asyncio.create_task(_client(url, until, latencies, stats, ready, connected, count, compression)))
        await asyncio.sleep(0.002)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ready.wait(), 50)
    out.with_suffix(".ready").write_text(str(connected[0]))  # the server starts publishing once all are ready
    await asyncio.gather(*tasks)
    np.save(out, np.array(latencies, dtype=np.float64))
    out.with_suffix(".json").write_text(json.dumps({"connected": connected[0], "errors": stats}))


def client_main(args: argparse.Namespace) -> int:
    compression = None if args.compression == "off" else "deflate"
    asyncio.run(_clients(args.url, args.count, args.until, Path(args.out), compression))
    return 0


# -- server -----------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        config = service_config({}, Path(tmp), free_port())
        broker = LocalBroker()
        with ApiServer(config, broker) as api:
            url = f"ws://127.0.0.1:{api.port}/ws"
            connect_s = 60.0
            until = time.time() + connect_s + args.seconds + 5
            per_proc = [args.clients // args.client_procs + (1 if i < args.clients % args.client_procs else 0)
                        for i in range(args.client_procs)]  # fmt: skip
            procs = []
            for i, count in enumerate(per_proc):
                out = Path(tmp) / f"client{i}.npy"
                procs.append((out, subprocess.Popen(
                    [sys.executable, "-m", "bench.speed.fanout", "--client", "--url", url, "--count", str(count),
                     "--until", str(until), "--out", str(out), "--compression", args.compression], cwd=Path(__file__).resolve().parents[2])))  # fmt: skip
            # wait until every client process says its clients are connected
            deadline = time.monotonic() + connect_s
            while time.monotonic() < deadline and not all(o.with_suffix(".ready").is_file() for o, _ in procs):
                time.sleep(0.2)
            time.sleep(0.5)  # the last clients' backlog (camera statuses) is sent
            connected = sum(int(o.with_suffix(".ready").read_text() or 0) for o, _ in procs
                            if o.with_suffix(".ready").is_file())  # fmt: skip
            process = psutil.Process()
            cpu0 = process.cpu_times()
            t0 = time.monotonic()
            sent = publish(broker, args.rate, args.seconds, start_seq=1)
            publish_s = time.monotonic() - t0
            cpu1 = process.cpu_times()
            for _, proc in procs:
                proc.wait(timeout=until - time.time() + 30)
            latencies = np.concatenate([np.load(out) for out, _ in procs])
            client_reports = [json.loads(out.with_suffix(".json").read_text()) for out, _ in procs]
    expected = sent * connected
    return {
        "clients": args.clients, "connected": connected, "compression": args.compression, "rate_per_s": args.rate, "seconds": args.seconds,
        "messages_published": sent, "publish_s": publish_s, "deliveries_expected": expected,
        "deliveries": int(len(latencies)), "delivered_share": len(latencies) / expected if expected else None,
        "latency_ms": {str(q): float(np.percentile(latencies, q) * 1000) if len(latencies) else None
                       for q in (50, 95, 99, 99.9)},  # fmt: skip
        "latency_max_ms": float(latencies.max() * 1000) if len(latencies) else None,
        "server_cpu_pct_while_publishing": 100 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / publish_s,
        "client_reports": client_reports,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rate", type=float, default=100.0, help="incident messages per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to publish")
    parser.add_argument("--client-procs", type=int, default=2, help="processes the clients are spread over")
    parser.add_argument("--out-dir", type=Path, default=None, help="results folder (default bench/speed/results)")
    parser.add_argument("--compression", choices=["deflate", "off"], default="deflate",
                        help="permessage-deflate offered by the clients (browsers and `websockets` offer it; default)")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--until", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        return client_main(args)
    info = machine()
    result = run(args)
    lat = result["latency_ms"]
    print(table(["clients", "msgs/s", "published", "deliveries", "delivered", "p50 ms", "p95 ms", "p99 ms",
                 "p99.9 ms", "max ms", "server CPU %"],
                [[result["connected"], args.rate, result["messages_published"], result["deliveries"],
                  result["delivered_share"], lat["50"], lat["95"], lat["99"], lat["99.9"], result["latency_max_ms"],
                  result["server_cpu_pct_while_publishing"]]]))  # fmt: skip
    name = "fanout" if args.compression == "deflate" and args.rate == 100 else f"fanout_{args.rate:g}_{args.compression}"
    path = write_results(name, {"machine": info, **result}, args.out_dir)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
