"""Load the control plane for real: synthetic cameras on a Ray cluster into PostgreSQL, the Redis stream broker and
2 API replicas, at the county's traffic (x1) and 10x its incidents, with commit -> websocket latency.

    PYTHONPATH=$PWD .venv/bin/python -m bench.scale.load                    # 300 cameras, x1 and x10, 60 s each
    PYTHONPATH=$PWD .venv/bin/python -m bench.scale.load --cameras 20 --seconds 10 --factors 1 --out /tmp/l.json

What runs (all on this machine, all on loopback, all stopped at the end, also on error):
- a `ray.cluster_utils.Cluster`: a head (no CPUs, no dashboard) and 2 worker nodes; `--actors-per-node` camera
  actors on each, each simulating its share of `--cameras` cameras. No video: each actor drives the real write path
  a camera node uses — `IncidentSink.handle` with real `Event`s (opened, 3 updates, closed: the capacity model's 5
  pipeline messages an incident), `IncidentSink.camera_health` (camera.status), `PushJournal.transition` (the
  closed loop: file .. evaluate for a true alarm, reject for a false one, at the replay bench's precision) and
  `store.cameras.refresh_counters` — through `PushJournal` into PostgreSQL and out through a `RedisStreamBroker`;
- a PostgreSQL schema of its own (dropped after) and a redis-server of its own on a free loopback port;
- 2 API replicas, `xueliang serve --api-only` processes with a `cluster:` section naming that broker, and one
  websocket client on each.

Rates: the capacity model's (bench/scale/capacity.py `traffic`) for the county's 1,500 analysed cameras at the
daytime peak, with `--factors` multiplying the incident rate (x10 is its "10x peak incidents" scenario). The few
hundred simulated cameras share the county's rates between them; their counter refresh runs every
5 s x cameras / 1,500, so that they write the county's 300 counter rows a second.

Latency: every message's `at` is the wall-clock time its actor took just before the store write (the event's,
status's or step's time), so `receive - at` = store commit + publish + broker + API replica + websocket: an upper
bound on commit -> websocket, read on each client for every message of the run.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import heapq
import json
import logging
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from bench.scale import capacity
from bench.scale.measure import free_port, percentile, postgres_schema, redis_server
from bench.speed.common import machine

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
DEMO_CONFIG = ROOT / "models" / "demo_config.yaml"
API_KEY = "xl-bench-load-key-not-a-secret"
RULE, CATEGORY = "fire_smoke", "fire_hazard"
UPDATES_PER_INCIDENT = 3  # + opened + closed = the capacity model's 5 pipeline messages an incident
STEP_GAP_S = 1.0  # seconds between an incident's messages (compressed: the rate is what loads the store)
TRUE_ALARM_STEPS: tuple[tuple[str, dict[str, str]], ...] = (
    ("filed", {}), ("dispatched", {"department": "区消防大队"}), ("handled", {"note": "已处置"}), ("checked", {}),
    ("closed", {}), ("evaluated", {}))
WARMUP_S = (UPDATES_PER_INCIDENT + 1 + len(TRUE_ALARM_STEPS)) * STEP_GAP_S  # an incident's whole span


def camera_ids(count: int) -> list[str]:
    return [f"3402000000132{index:07d}" for index in range(count)]


def service_raw(cameras: int, store_url: str, broker_url: str, port: int, data_dir: Path) -> dict[str, Any]:
    """The demo config with `cameras` synthetic cameras (the fire camera's grid cell, spread 100 m apart), the
    shared store and broker, and an admin API key for the websocket clients."""
    raw: dict[str, Any] = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    template = raw["cameras"]["34020000001320000002"]
    raw["cameras"] = {
        camera_id: {**template, "name": f"合成摄像头{index}", "url": "rtsp://127.0.0.1:9/none",
                    "lat": 30.20 + (index // 50) * 0.001, "lon": 120.10 + (index % 50) * 0.001}
        for index, camera_id in enumerate(camera_ids(cameras))
    }
    raw["store"] = {"url": store_url, "data_dir": str(data_dir)}
    raw["server"] = {"host": "127.0.0.1", "port": port, "websocket_queue": 10000}
    raw["auth"] = {"api_keys": {"load": {"role": "admin", "key_sha256": hashlib.sha256(API_KEY.encode()).hexdigest()}}}
    raw["cluster"] = {"broker_url": broker_url}
    return raw


def targets(factor: float) -> dict[str, float]:
    flow = capacity.traffic(capacity.activity(factor), 0.6)
    return {key: round(value, 3) for key, value in flow.items()}


# ------------------------------------------------------------------------------------------ the camera actors


class CameraNode:
    """One Ray actor: `camera_ids`' events, statuses, closed-loop steps and counters through the real write path."""

    def __init__(self, raw: dict[str, Any], store_url: str, broker_url: str, ids: list[str], seed: int) -> None:
        from analytics.incident_builder import IncidentBuilder
        from analytics.incident_sink import IncidentSink
        from models.brokers import RedisStreamBroker
        from models.config import parse_config
        from models.push import PushJournal
        from models.store import Store

        self.node_id = __import__("ray").get_runtime_context().get_node_id()
        config = parse_config({**raw, "cluster": None}, source="load")
        self.store = Store(store_url, pool_size=2, max_overflow=2)
        self.broker = RedisStreamBroker(broker_url)
        self.journal = PushJournal(self.store, self.broker)
        self.snapshots = Path(tempfile.mkdtemp(prefix="xl-load-actor-"))  # unused: the events carry no frame
        self.sink = IncidentSink(IncidentBuilder(config), self.journal, self.snapshots)
        self.ids = ids
        self.random = random.Random(seed)
        self.frames = 0
        self.busy: set[str] = set()  # cameras with an incident in progress (one at a time, like a rule's)

    def node(self) -> str:
        return str(self.node_id)

    def prepare(self) -> int:
        """Every camera online (its status row, which the counter refresh updates), before the measured run."""
        for camera_id in self.ids:
            self._health(camera_id, "online")
        return len(self.ids)

    def run(self, seconds: float, warmup_s: float, incidents_per_s: float, status_per_s: float,
            counters_every_s: float, precision: float) -> dict[str, Any]:
        """Poisson incidents and status changes at the given rates (this actor's share), each incident's messages
        and closed-loop steps scheduled after its opening, the counters every `counters_every_s`; for `warmup_s`
        (not counted: incidents opened before the run have their later messages in it, as in a steady state),
        then `seconds`; what is scheduled later is dropped (incidents then in progress stay open). Returns what
        was written in the counted `seconds` and how late the schedule ran."""
        sent_before, dropped_before = self.broker.publish_counts.sent, self.broker.publish_counts.dropped
        start = time.time()
        counted_from = start + warmup_s
        end = counted_from + seconds
        queue: list[tuple[float, int, Callable[[], int]]] = []
        order = [0]
        done = {"incident": 0, "transition": 0, "status": 0, "counter_rows": 0, "errors": 0}
        lags: list[float] = []
        error_text: list[str] = []

        def at(when: float, action: Callable[[], int]) -> None:
            order[0] += 1
            heapq.heappush(queue, (when, order[0], action))

        def next_incident(now: float) -> None:
            if incidents_per_s > 0 and now < end:
                when = now + self.random.expovariate(incidents_per_s)
                if when < end:
                    at(when, lambda: self._incident(when, at, precision, next_incident))

        def next_status(now: float) -> None:
            if status_per_s > 0 and now < end:
                when = now + self.random.expovariate(status_per_s)
                if when < end:
                    at(when, lambda: self._status(when, next_status))

        def counters(now: float) -> int:
            rows = self._counters()
            if now + counters_every_s < end:
                at(now + counters_every_s, lambda: counters(now + counters_every_s))
            return rows

        next_incident(start)
        next_status(start)
        at(start + counters_every_s, lambda: counters(start + counters_every_s))
        while queue and queue[0][0] < end:
            when, _, action = heapq.heappop(queue)
            delay = when - time.time()
            if delay > 0:
                time.sleep(delay)
            else:
                lags.append(-delay)
            try:
                kind_rows = action()
            except Exception as error:  # counted and reported; the run goes on like a camera node would
                done["errors"] += 1
                if len(error_text) < 5:
                    error_text.append(f"{type(error).__name__}: {error}"[:300])
                continue
            kind, rows = divmod(kind_rows, 1_000_000)
            if when >= counted_from:
                done[("incident", "transition", "status", "counter_rows")[kind]] += rows if kind == 3 else 1
        elapsed = max(seconds, time.time() - counted_from)
        return {"node": self.node(), "cameras": len(self.ids), "seconds": round(elapsed, 2), **done,
                "error_samples": error_text, "schedule_lag_ms_p99": round(1000 * percentile(lags, 99), 1) if lags
                else 0.0, "schedule_lag_ms_max": round(1000 * max(lags, default=0.0), 1),
                "published": self.broker.publish_counts.sent - sent_before,
                "dropped": self.broker.publish_counts.dropped - dropped_before}

    # Each action returns kind * 1_000_000 + rows (kind: 0 incident change, 1 transition, 2 status, 3 counters).

    def _incident(self, when: float, at: Callable[[float, Callable[[], int]], None], precision: float,
                  then: Callable[[float], None]) -> int:
        from analytics.events import EventPhase

        then(when)
        free = [camera_id for camera_id in self.ids if camera_id not in self.busy]
        if not free:
            raise RuntimeError("every camera of this actor has an incident in progress: too few cameras")
        camera_id = self.random.choice(free)
        self.busy.add(camera_id)
        incident = self.sink.handle(self._event(EventPhase.OPENED, camera_id, 1))
        assert incident is not None
        for step in range(1, UPDATES_PER_INCIDENT + 1):
            at(when + step * STEP_GAP_S, partial(self._change, EventPhase.UPDATED, camera_id, step + 1))
        closed_at = when + (UPDATES_PER_INCIDENT + 1) * STEP_GAP_S
        at(closed_at, lambda: self._change(EventPhase.CLOSED, camera_id, UPDATES_PER_INCIDENT + 1))
        steps = TRUE_ALARM_STEPS if self.random.random() < precision else (("rejected", {"reason": "误报"}),)
        for index, (target, fields) in enumerate(steps, start=1):
            at(closed_at + index * STEP_GAP_S, partial(self._step, incident.id, target, fields))
        return 0

    def _change(self, phase: Any, camera_id: str, count: int) -> int:
        from analytics.events import EventPhase

        if phase is EventPhase.CLOSED:
            self.busy.discard(camera_id)
        self.sink.handle(self._event(phase, camera_id, count))
        return 0

    def _event(self, phase: Any, camera_id: str, count: int) -> Any:
        from analytics.events import Event

        return Event(phase=phase, rule=RULE, category=CATEGORY, camera_id=camera_id, timestamp=time.time(),
                     magnitude=0.5 + count / 100, confidence=0.5 + count / 100)

    def _step(self, incident_id: str, target: str, fields: dict[str, str]) -> int:
        from models.lifecycle import Role

        self.journal.transition(incident_id, target, actor="load", role=Role.ADMIN, at=datetime.now(UTC),
                                note=fields.get("note"), reason=fields.get("reason"),
                                department=fields.get("department"))
        return 1_000_000

    def _status(self, when: float, then: Callable[[float], None]) -> int:
        then(when)
        camera_id = self.random.choice(self.ids)
        self._health(camera_id, "offline" if self.random.random() < 0.5 else "online")
        return 2_000_000

    def _health(self, camera_id: str, state: str) -> None:
        from ingest.health import CameraHealth, CameraState

        self.frames += 1
        self.sink._published.pop(camera_id, None)  # every change is news here (the sink skips repeats of "down")
        self.sink.camera_health(CameraHealth(camera_id=camera_id, state=CameraState(state), since=time.time(),
                                             frames_decoded=self.frames), 2.0)

    def _counters(self) -> int:
        from models.repositories.camera_status import CameraCounters

        self.frames += 1
        counters = [CameraCounters(camera_id=camera_id, frames_decoded=self.frames, frames_dropped=0,
                                   analysed_fps=2.0) for camera_id in self.ids]
        self.store.cameras.refresh_counters(counters, datetime.now(UTC))
        return 3_000_000 + len(counters)

    def close(self) -> None:
        self.broker.close()
        self.store.close()
        shutil.rmtree(self.snapshots, ignore_errors=True)


# ----------------------------------------------------------------------------------------- replicas, clients


class Replica:
    """`xueliang serve --api-only` in a process of its own."""

    def __init__(self, config_path: Path, port: int, log_path: Path) -> None:
        self.port = port
        self.log = log_path.open("w")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--config", str(config_path),
                                         "--api-only", "--log-level", "WARNING"],
                                        stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)

    def wait_healthy(self, timeout_s: float = 90) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.flush()
                tail = Path(self.log.name).read_text(errors="replace")[-2000:]
                raise RuntimeError(f"API replica on port {self.port} exited with {self.process.returncode}: {tail}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"API replica on port {self.port} did not answer /healthz in {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Client:
    """A websocket client on one replica: (receive time, seq, type, at) of every message."""

    def __init__(self, port: int) -> None:
        from websockets.sync.client import connect

        self.received: list[tuple[float, int, str, float]] = []
        self.ws = connect(f"ws://127.0.0.1:{port}/ws", additional_headers={"X-API-Key": API_KEY}, open_timeout=30,
                          max_size=None)
        self.thread = threading.Thread(target=self._read, name=f"load-ws-{port}", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            for raw in self.ws:
                arrived = time.time()
                message = json.loads(raw)
                if message.get("type") == "heartbeat":
                    continue
                at = datetime.fromisoformat(str(message["at"]).replace("Z", "+00:00")).timestamp()
                self.received.append((arrived, int(message["seq"]), str(message["type"]), at))
        except ConnectionClosed:
            pass

    def seqs(self, after: int) -> list[int]:
        return [seq for _, seq, _, _ in list(self.received) if seq > after]

    def close(self) -> None:
        self.ws.close()
        self.thread.join(timeout=10)


# --------------------------------------------------------------------------------------------------- the run


class Bench:
    """Everything one invocation starts; `close` stops it all, in reverse order, also when a step failed."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], object]] = []
        atexit.register(self.close)

    def on_close(self, undo: Callable[[], object]) -> None:
        self._undo.append(undo)

    def close(self) -> None:
        while self._undo:
            undo = self._undo.pop()
            try:
                undo()
            except Exception as error:
                print(f"cleanup step failed: {type(error).__name__}: {error}", file=sys.stderr)


def start_cluster(bench: Bench, nodes: int) -> Any:
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    bench.on_close(cluster.shutdown)
    for index in range(nodes):
        cluster.add_node(num_cpus=2, resources={f"xl_load_node_{index}": 100})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level=logging.WARNING, log_to_driver=False)
    bench.on_close(ray.shutdown)
    return cluster


def close_actor(actor: Any) -> None:
    import ray

    ray.get(actor.close.remote(), timeout=20)


def one_run(*, actors: list[Any], store: Any, clients: list[Client], cameras: int, factor: float, seconds: float,
            ) -> dict[str, Any]:
    import ray

    target = targets(factor)
    precision = capacity.activity()["loop_steps_per_incident"].value
    precision = (precision - 1) / 5  # steps = 6p + (1 - p)
    share = 1 / len(actors)
    counters_every_s = capacity.COUNTERS_REFRESH_S * cameras / capacity.CAMERAS_ANALYSED
    start_seq = store.push_log.last_seq()
    load_start = os.getloadavg()
    started = time.time()
    reports = ray.get([actor.run.remote(seconds, WARMUP_S, target["incidents_per_s"] * share,
                                        target["status_messages_per_s"] * share, counters_every_s, precision)
                       for actor in actors])
    elapsed = time.time() - started
    load_end = os.getloadavg()
    end_seq = store.push_log.last_seq()
    stored: list[int] = []
    after = start_seq
    while True:
        page = store.push_log.since(after, 1000)
        if not page:
            break
        stored += [message.seq for message in page if message.seq <= end_seq]
        after = page[-1].seq
        if after >= end_seq:
            break
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(len(client.seqs(start_seq)) < len(stored) for client in clients):
        time.sleep(0.2)
    per_client = [client.seqs(start_seq) for client in clients]
    latencies = [[arrived - at for arrived, seq, _, at in list(client.received) if start_seq < seq <= end_seq]
                 for client in clients]
    every = [value for values in latencies for value in values]
    measured_s = max(report["seconds"] for report in reports)
    rows = sum(3 * r["incident"] + 4 * r["transition"] + 2 * r["status"] + r["counter_rows"] for r in reports)
    messages = sum(r["incident"] + r["transition"] + r["status"] for r in reports)
    errors = sum(r["errors"] for r in reports) + sum(r["dropped"] for r in reports)
    return {
        "factor": factor, "cameras": cameras, "actors": len(actors), "seconds": round(elapsed, 1),
        "target": {"store_rows_per_s": target["store_rows_per_s"], "broker_messages_per_s": target["messages_per_s"],
                   "incidents_per_s": target["incidents_per_s"], "counter_rows_per_s": target["counter_rows_per_s"]},
        "achieved": {"store_rows_per_s": round(rows / measured_s, 1),
                     "broker_messages_per_s": round(messages / measured_s, 2),
                     "incidents_per_s": round(sum(r["incident"] for r in reports) / 5 / measured_s, 3),
                     "counter_rows_per_s": round(sum(r["counter_rows"] for r in reports) / measured_s, 1),
                     "messages_in_store": len(stored)},
        "latency_ms": ({q: round(1000 * percentile(every, float(q)), 1) for q in ("50", "95", "99")}
                       | {"max": round(1000 * max(every), 1)}) if every else None,
        "replicas": [{"received": len(seqs), "in_order": seqs == sorted(set(seqs)),
                      "p99_ms": round(1000 * percentile(values, 99), 1) if values else None}
                     for seqs, values in zip(per_client, latencies, strict=True)],
        "identical_seqs": all(seqs == per_client[0] for seqs in per_client),
        "no_gap": all(seqs == stored for seqs in per_client),
        "errors": errors,
        "error_samples": [text for r in reports for text in r["error_samples"]][:5],
        "schedule_lag_ms_max": max(r["schedule_lag_ms_max"] for r in reports),
        "schedule_lag_ms_p99": max(r["schedule_lag_ms_p99"] for r in reports),
        "loadavg_start": [round(x, 2) for x in load_start], "loadavg_end": [round(x, 2) for x in load_end],
        "actors_report": reports,
    }


def holds(run: dict[str, Any]) -> bool:
    achieved, target = run["achieved"], run["target"]
    return (run["identical_seqs"] and run["no_gap"] and run["errors"] == 0
            and achieved["store_rows_per_s"] >= 0.9 * target["store_rows_per_s"]
            and run["latency_ms"] is not None and run["latency_ms"]["99"] < 1000)


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda run: run["latency_ms"]["99"] if run["latency_ms"] else float("inf"))
    return ordered[len(ordered) // 2]


def markdown(result: dict[str, Any]) -> str:
    """The RESULTS.md table of a load.json."""
    lines = ["| factor | runs | store rows/s achieved / target | broker msg/s achieved (mean of the runs) / target | "
             "commit → websocket ms p50 / p95 / p99 (max) | p99 of each run | seqs identical, no gap | errors | "
             "load average (1 min) at the end | holds |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in result["summary"]:
        runs = [run for run in result["runs"] if run["factor"] == row["factor"]]
        chosen = next(run for run in runs if run["latency_ms"] == row["latency_ms"])
        ms = row["latency_ms"] or {}
        lines.append(
            f"| x{row['factor']:g} | {row['runs']} | {row['achieved']['store_rows_per_s']} / "
            f"{row['target']['store_rows_per_s']} | {row['achieved']['broker_messages_per_s']} "
            f"({statistics.mean(r['achieved']['broker_messages_per_s'] for r in runs):.2f}) / "
            f"{row['target']['broker_messages_per_s']} | {ms.get('50')} / {ms.get('95')} / {ms.get('99')} "
            f"({ms.get('max')}) | {', '.join(str(v) for v in row['p99_ms_of_runs'])} | "
            f"{'yes' if all(r['identical_seqs'] and r['no_gap'] for r in runs) else 'NO'} | "
            f"{sum(r['errors'] for r in runs)} | {', '.join(str(r['loadavg_end'][0]) for r in runs)} | "
            f"{'yes' if row['holds'] else 'no'} (median run's schedule lag p99 {chosen['schedule_lag_ms_p99']} ms) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=300, help="synthetic cameras in total")
    parser.add_argument("--factors", default="1,10", help="incident-rate factors, comma-separated (1: the county's "
                        "peak; 10: 10x its incidents)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each run")
    parser.add_argument("--runs", type=int, default=1, help="runs per factor (the median by p99 is reported)")
    parser.add_argument("--nodes", type=int, default=2, help="Ray worker nodes")
    parser.add_argument("--actors-per-node", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "load.json")
    parser.add_argument("--markdown", action="store_true", help="print the RESULTS.md table of --out; run nothing")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(args.out.read_text())))
        return 0
    factors = [float(value) for value in args.factors.split(",")]

    # Before Ray is imported (it reads the variable then): ../shared/RAY-FACTS.md, everything on 127.0.0.1.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    bench = Bench()
    try:
        result = _bench(bench, args, factors)
    finally:
        bench.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(run["identical_seqs"] and run["no_gap"] for run in result["runs"]) else 1


def _bench(bench: Bench, args: argparse.Namespace, factors: list[float]) -> dict[str, Any]:
    import ray

    from models.store import Store

    started = time.time()
    schema = postgres_schema()
    store_url = schema.__enter__()
    bench.on_close(lambda: schema.__exit__(None, None, None))
    redis = redis_server()
    broker_url = redis.__enter__()
    bench.on_close(lambda: redis.__exit__(None, None, None))
    store = Store(store_url, pool_size=2, max_overflow=2)
    bench.on_close(store.close)
    store.migrate()
    workdir = Path(tempfile.mkdtemp(prefix="xl-load-"))
    bench.on_close(lambda: shutil.rmtree(workdir, ignore_errors=True))

    replicas = []
    for index in range(2):
        port = free_port()
        raw = service_raw(args.cameras, store_url, broker_url, port, workdir / "data")
        path = workdir / f"replica-{index}.yaml"
        path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
        replica = Replica(path, port, workdir / f"replica-{index}.log")
        bench.on_close(replica.stop)
        replicas.append(replica)

    cluster_started = time.time()
    start_cluster(bench, args.nodes)
    cluster_up_s = time.time() - cluster_started
    remote: Any = ray.remote(max_restarts=0)(CameraNode)
    ids = camera_ids(args.cameras)
    count = args.nodes * args.actors_per_node
    actors: list[Any] = [remote.options(num_cpus=0, resources={f"xl_load_node_{index % args.nodes}": 1}).remote(
        raw, store_url, broker_url, ids[index::count], index) for index in range(count)]
    for actor in actors:
        bench.on_close(partial(ray.kill, actor))
        bench.on_close(partial(close_actor, actor))
    nodes = ray.get([actor.node.remote() for actor in actors])
    node_addresses = sorted({str(node["NodeManagerAddress"]) for node in ray.nodes() if node["Alive"]})
    if node_addresses != ["127.0.0.1"]:
        raise RuntimeError(f"the Ray nodes registered {node_addresses}, not loopback only")
    for replica in replicas:
        replica.wait_healthy()
    ray.get([actor.prepare.remote() for actor in actors])
    clients = [Client(replica.port) for replica in replicas]
    for client in clients:
        bench.on_close(client.close)

    runs = []
    for factor in factors:
        for _ in range(args.runs):
            run = one_run(actors=actors, store=store, clients=clients, cameras=args.cameras, factor=factor,
                          seconds=args.seconds)
            run["holds"] = holds(run)
            print(json.dumps({key: run[key] for key in ("factor", "achieved", "target", "latency_ms", "identical_seqs",
                                                         "no_gap", "errors", "loadavg_end", "holds")}))
            runs.append(run)
    summary = []
    for factor in factors:
        of_factor = [run for run in runs if run["factor"] == factor]
        chosen = median_run(of_factor)
        summary.append({"factor": factor, "runs": len(of_factor), "holds": all(run["holds"] for run in of_factor),
                        "latency_ms": chosen["latency_ms"], "achieved": chosen["achieved"], "target": chosen["target"],
                        "p99_ms_of_runs": [run["latency_ms"]["99"] if run["latency_ms"] else None
                                           for run in of_factor]})
    command = "PYTHONPATH=$PWD .venv/bin/python -m bench.scale.load " + " ".join(
        sys.argv[1:] if sys.argv and sys.argv[0].endswith("load.py") else [])
    return {
        "command": command.strip(), "machine": machine(), "started_at": datetime.fromtimestamp(started, UTC).isoformat(),
        "cameras": args.cameras, "nodes": args.nodes, "actors": count, "actor_nodes": nodes,
        "distinct_actor_nodes": len(set(nodes)),
        "ray_node_addresses": node_addresses, "warmup_s": WARMUP_S, "cluster_up_s": round(cluster_up_s, 1), "api_replicas": 2,
        "latency_definition": "websocket receive time - the message's `at`, stamped by the actor just before the "
                              "store write: store commit + publish + broker + API replica + websocket",
        "targets_source": "bench/scale/capacity.py traffic(activity(factor), 0.6): the county's daytime peak "
                          "(1,500 analysed cameras) with the incident rate x factor",
        "summary": summary, "runs": runs,
    }


if __name__ == "__main__":
    raise SystemExit(main())
