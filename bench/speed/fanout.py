"""Benchmark 5, websocket fan-out: 500 connected clients, 100 incident messages/s, delivery latency p99.

    .venv/bin/python -m bench.speed.fanout [--clients 500] [--rate 100] [--seconds 10] [--client-procs 2]
        [--client websockets|raw] [--compression deflate|off] [--server-deflate service|on|off]

The real app (api.app.create_app, run_cameras=False) runs under uvicorn on 127.0.0.1 in this process, with a
LocalBroker as its message source; a publisher thread publishes `--rate` incident.updated messages a second (a
realistic ~1 KB incident payload stamped with its publish time) into the broker, as camera pipelines do. The
clients are real `websockets` clients, in `--client-procs` separate processes so that they do not share this
process's interpreter; each records, per message, its arrival time minus its publish time. Loopback only, bounded
in time. Writes bench/speed/results/fanout.json (other settings: fanout_<rate>_<client>[_<what differs>].json).

The server runs with the service's websocket settings (api.cli.UVICORN_WS: what `xueliang serve` passes to
uvicorn) and, like the service, freezes its startup objects out of the garbage collector's reach first
(`--no-gc-freeze` to compare); `--server-deflate on|off` overrides its permessage-deflate. `--client raw`
replaces the `websockets` clients with a minimal frame reader (handshake, then frames parsed by hand, no
compression offered, `sent_at` read without parsing the JSON): on a 2-core machine the `websockets` clients need
more CPU than the server does, so the raw client shows what the server can deliver when the clients' CPU is not
taken from it, as with remote browsers.
CPU is sampled for the server and the client processes from the first publish to the last delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
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


IDLE_S = 5.0  # a client that has received incident messages stops after this long without one


def _remaining(until: float, arrivals: list[float]) -> float:
    """Seconds a client still listens: until `until`, or IDLE_S after its process's last incident message."""
    now = time.time()
    return min(until, arrivals[-1] + IDLE_S) - now if arrivals else until - now


async def _client(url: str, until: float, latencies: list[float], stats: dict[str, int], ready: asyncio.Event,
                  connected: list[int], total: int, compression: str | None, arrivals: list[float]) -> None:  # fmt: skip
    import websockets

    try:
        async with websockets.connect(url, additional_headers={"X-API-Key": BENCH_API_KEY}, open_timeout=60,
                                      max_queue=None, compression=compression) as ws:  # fmt: skip
            connected[0] += 1
            if connected[0] == total:
                ready.set()
            while True:
                remaining = _remaining(until, arrivals)
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
                    arrivals.append(arrived)
    except Exception as error:  # noqa: BLE001 - counted and reported
        stats[type(error).__name__] = stats.get(type(error).__name__, 0) + 1


SENT_AT = b'"sent_at":'


async def _raw_client(url: str, until: float, latencies: list[float], stats: dict[str, int], ready: asyncio.Event,
                      connected: list[int], total: int, arrivals: list[float]) -> None:  # fmt: skip
    """A websocket client reduced to what the bench needs: the RFC 6455 handshake, then server frames (unmasked,
    uncompressed: no extension is offered) split by hand; pings answered; `sent_at` read from the bytes."""
    import base64
    import os
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    writer = None
    try:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nX-API-Key: {BENCH_API_KEY}\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        connected[0] += 1
        if connected[0] == total:
            ready.set()
        buf = bytearray()
        while True:
            remaining = _remaining(until, arrivals)
            if remaining <= 0:
                return
            try:
                chunk = await asyncio.wait_for(reader.read(1 << 16), remaining)
            except TimeoutError:
                return
            if not chunk:
                return
            arrived = time.time()
            buf += chunk
            pos, end = 0, len(buf)
            while end - pos >= 2:
                opcode, length, header = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, 2
                if length == 126:
                    if end - pos < 4:
                        break
                    length, header = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
                elif length == 127:
                    if end - pos < 10:
                        break
                    length, header = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
                if end - pos < header + length:
                    break
                start = pos + header
                if opcode == 1:
                    at = buf.find(SENT_AT, start, start + length)
                    if at >= 0:
                        value = at + len(SENT_AT)
                        latencies.append(arrived - float(buf[value : buf.index(b",", value)]))
                        arrivals.append(arrived)
                elif opcode == 9:  # ping: pong with the same payload (client frames are masked; key 0 keeps it)
                    payload = bytes(buf[start : start + length])
                    writer.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
                elif opcode == 8:
                    return
                pos = start + length
            del buf[:pos]
    except Exception as error:  # noqa: BLE001 - counted and reported
        stats[type(error).__name__] = stats.get(type(error).__name__, 0) + 1
    finally:
        if writer is not None:
            writer.close()


async def _clients(url: str, count: int, until: float, out: Path, compression: str | None, kind: str) -> None:
    latencies: list[float] = []
    arrivals: list[float] = []
    stats: dict[str, int] = {}
    ready, connected = asyncio.Event(), [0]
    tasks = []
    for _ in range(count):
        if kind == "raw":
            client = _raw_client(url, until, latencies, stats, ready, connected, count, arrivals)
        else:
            client = _client(url, until, latencies, stats, ready, connected, count, compression, arrivals)
        tasks.append(asyncio.create_task(client))
        await asyncio.sleep(0.002)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ready.wait(), 50)
    out.with_suffix(".ready").write_text(str(connected[0]))  # the server starts publishing once all are ready
    await asyncio.gather(*tasks)
    np.save(out, np.array([latencies, arrivals], dtype=np.float64))
    out.with_suffix(".json").write_text(json.dumps({"connected": connected[0], "errors": stats}))


def client_main(args: argparse.Namespace) -> int:
    compression = None if args.compression == "off" else "deflate"
    asyncio.run(_clients(args.url, args.count, args.until, Path(args.out), compression, args.client_kind))
    return 0


# -- server -----------------------------------------------------------------------------------------------------


class CpuSampler:
    """CPU seconds of this process and the client processes, sampled every 0.1 s in a thread."""

    def __init__(self, pids: list[int]) -> None:
        self.processes = [psutil.Process()] + [psutil.Process(pid) for pid in pids]
        self.samples: list[tuple[float, list[float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-cpu", daemon=True)

    def _cpu(self) -> list[float]:
        out = []
        for process in self.processes:
            try:
                times = process.cpu_times()
                out.append(times.user + times.system)
            except psutil.Error:
                out.append(float("nan"))
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self._cpu()))
            self._stop.wait(0.1)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def pct(self, start: float, end: float) -> tuple[float, float]:
        """% of one core used between two times (nearest samples): the server, all clients together."""
        within = [s for s in self.samples if start <= s[0] <= end + 0.1] or self.samples[-2:]
        (t0, c0), (t1, c1) = within[0], within[-1]
        span = max(t1 - t0, 1e-9)
        return 100 * (c1[0] - c0[0]) / span, 100 * sum(b - a for a, b in zip(c0[1:], c1[1:], strict=True)) / span


def run(args: argparse.Namespace) -> dict[str, Any]:
    from api.cli import UVICORN_WS, freeze_startup_objects

    ws_settings = dict(UVICORN_WS)
    if args.server_deflate != "service":
        ws_settings["ws_per_message_deflate"] = args.server_deflate == "on"
    with tempfile.TemporaryDirectory() as tmp:
        config = service_config({}, Path(tmp), free_port())
        broker = LocalBroker()
        api = ApiServer(config, broker)
        for name, value in ws_settings.items():  # the service's uvicorn settings, before the server starts
            setattr(api.server.config, name, value)
        if args.gc_freeze:
            freeze_startup_objects()  # as `xueliang serve` does before it starts uvicorn
        with api:
            url = f"ws://127.0.0.1:{api.port}/ws"
            connect_s = 60.0
            until = time.time() + connect_s + args.seconds + 5
            per_proc = [args.clients // args.client_procs + (1 if i < args.clients % args.client_procs else 0)
                        for i in range(args.client_procs)]  # fmt: skip
            procs = []
            for i, count in enumerate(per_proc):
                out = Path(tmp) / f"client{i}.npy"
                procs.append((out, subprocess.Popen(
                    [sys.executable, "-m", "bench.speed.fanout", "--client-proc", "--url", url, "--count", str(count),
                     "--until", str(until), "--out", str(out), "--compression", args.compression,
                     "--client-kind", args.client], cwd=Path(__file__).resolve().parents[2])))  # fmt: skip
            # wait until every client process says its clients are connected
            deadline = time.monotonic() + connect_s
            while time.monotonic() < deadline and not all(o.with_suffix(".ready").is_file() for o, _ in procs):
                time.sleep(0.2)
            time.sleep(0.5)  # the last clients' backlog (camera statuses) is sent
            connected = sum(int(o.with_suffix(".ready").read_text() or 0) for o, _ in procs
                            if o.with_suffix(".ready").is_file())  # fmt: skip
            with CpuSampler([p.pid for _, p in procs]) as cpu:
                process = psutil.Process()
                cpu0 = process.cpu_times()
                t0, wall0 = time.monotonic(), time.time()
                sent = publish(broker, args.rate, args.seconds, start_seq=1)
                publish_s = time.monotonic() - t0
                cpu1 = process.cpu_times()
                for _, proc in procs:
                    proc.wait(timeout=until - time.time() + 30)
            recorded = np.concatenate([np.load(out) for out, _ in procs], axis=1)
            latencies, arrivals = recorded[0], recorded[1]
            client_reports = [json.loads(out.with_suffix(".json").read_text()) for out, _ in procs]
    expected = sent * connected
    last_arrival = float(arrivals.max()) if len(arrivals) else wall0 + publish_s
    server_pct, clients_pct = cpu.pct(wall0, last_arrival)
    return {
        "clients": args.clients, "connected": connected, "client_kind": args.client,
        "compression_offered": args.compression, "uvicorn_ws": ws_settings, "rate_per_s": args.rate,
        "seconds": args.seconds, "messages_published": sent, "publish_s": publish_s, "deliveries_expected": expected,
        "deliveries": int(len(latencies)), "delivered_share": len(latencies) / expected if expected else None,
        "latency_ms": {str(q): float(np.percentile(latencies, q) * 1000) if len(latencies) else None
                       for q in (50, 95, 99, 99.9)},  # fmt: skip
        "latency_max_ms": float(latencies.max() * 1000) if len(latencies) else None,
        "server_cpu_pct_while_publishing": 100 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / publish_s,
        "delivery_window_s": last_arrival - wall0,
        "server_cpu_pct_until_last_delivery": server_pct,
        "clients_cpu_pct_until_last_delivery": clients_pct,
        "server_cpu_us_per_delivery": server_pct / 100 * (last_arrival - wall0) / len(latencies) * 1e6
        if len(latencies) else None,
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
    parser.add_argument("--client", choices=["websockets", "raw"], default="websockets",
                        help="the `websockets` library's clients (default), or a minimal frame reader (see above)")
    parser.add_argument("--server-deflate", choices=["service", "on", "off"], default="service",
                        help="uvicorn's permessage-deflate: the service's setting (api.cli.UVICORN_WS), or forced")
    parser.add_argument("--no-gc-freeze", dest="gc_freeze", action="store_false",
                        help="skip api.cli.freeze_startup_objects (which `xueliang serve` calls)")
    parser.add_argument("--client-proc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client-kind", default="websockets", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--until", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client_proc:
        return client_main(args)
    info = machine()
    result = run(args)
    lat = result["latency_ms"]
    deflate = result["uvicorn_ws"].get("ws_per_message_deflate", True)
    print(table(["clients", "client", "deflate offered/server", "msgs/s", "published", "deliveries", "delivered",
                 "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms", "server CPU %", "clients CPU %",
                 "server µs/delivery", "load avg"],
                [[result["connected"], args.client, f"{args.compression}/{'on' if deflate else 'off'}", args.rate,
                  result["messages_published"], result["deliveries"], result["delivered_share"], lat["50"],
                  lat["95"], lat["99"], lat["99.9"], result["latency_max_ms"],
                  result["server_cpu_pct_until_last_delivery"], result["clients_cpu_pct_until_last_delivery"],
                  result["server_cpu_us_per_delivery"], info["loadavg_at_start"][0]]]))  # fmt: skip
    variant = "".join([
        "" if args.compression == "deflate" else "_offer-off",
        "" if args.server_deflate == "service" else f"_server-deflate-{args.server_deflate}",
        "" if args.gc_freeze else "_nofreeze",
    ])  # fmt: skip
    default = args.client == "websockets" and not variant
    name = "fanout" if default and args.rate == 100 else f"fanout_{args.rate:g}_{args.client}{variant}"
    path = write_results(name, {"machine": info, **result}, args.out_dir)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
