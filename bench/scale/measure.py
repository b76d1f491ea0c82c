"""Measure what the capacity model needs and cannot read from bench/speed: how fast PostgreSQL commits incident
changes through the store, and how long a live message takes from `publish` to a subscriber through the Redis
stream broker at the county's peak rate and 10x it. Short runs (the machine is shared); writes
bench/scale/results/measured.json.

    .venv/bin/python -m bench.scale.measure                 # both, defaults below
    .venv/bin/python -m bench.scale.measure --rates 6,60,600 --seconds 10

Store: incident changes committed through `PushJournal` (3 rows each) by 1 and 4 writer threads, and one node's
camera-counter refresh, on PostgreSQL. Broker: publish -> subscriber latency with 4 publishers (nodes), the
messages committed beforehand to a SQLite file so that the run times the broker.

PostgreSQL: XUELIANG_BENCH_POSTGRES_URL or the local trust-auth server (database `test`), in a schema of its own,
dropped at the end. The broker: a redis-server this script starts on a free loopback port and stops.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.speed.common import machine
from models.brokers import RedisStreamBroker
from models.incident import CameraStatusRecord, GridRef, Incident, PushMessage, Severity
from models.push import LocalBroker, PushJournal
from models.repositories.camera_status import CameraCounters
from models.store import Store
from models.views import incident_view

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
CLIPS = Path("/tmp/xl-clips")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


@contextmanager
def postgres_schema() -> Iterator[str]:
    base = os.environ.get("XUELIANG_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    schema = f"xl_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def incident(index: int, camera: int) -> Incident:
    grid_code = "330106001001"
    at = T0 + timedelta(seconds=index)
    return Incident(
        id=f"bench-{camera}-{index // 4}", rule="crowd", category_code="0101", category_name="人员聚集",
        category_group="社会治安", severity=Severity.B, grid_code=grid_code,
        grid_path=[GridRef(code=code, name=f"网格{code}") for code in ("330106", "330106001", grid_code)],
        camera_id=f"cam-{camera:04d}", camera_name="北山街口", lat=30.2592, lon=120.1302, opened_at=T0,
        updated_at=at, owner_department="区公安分局", deadline=T0 + timedelta(hours=2), peak_count=index,
    )


def commit_rate(db_url: str, *, seconds: float, writers: int) -> dict[str, Any]:
    """Incident changes (opened, then updates: 4 changes an incident) committed by `writers` threads, each its own
    camera, for `seconds`: changes/s and store rows/s (an incident change writes 3 rows: the incident upsert,
    the push message, the outbox event)."""
    store = Store(db_url)
    journal = PushJournal(store, LocalBroker())
    counts = [0] * writers
    latencies: list[list[float]] = [[] for _ in range(writers)]
    stop = threading.Event()

    def write(camera: int) -> None:
        index = 0
        while not stop.is_set():
            value = incident(index, camera)
            kind = "incident.opened" if index % 4 == 0 else "incident.updated"
            started = time.perf_counter()
            journal.incident(value, kind, lambda stored: incident_view(stored, stored.updated_at))
            latencies[camera].append(time.perf_counter() - started)
            counts[camera] += 1
            index += 1

    threads = [threading.Thread(target=write, args=(camera,)) for camera in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    store.close()
    every = [value for per_writer in latencies for value in per_writer]
    changes_per_s = sum(counts) / elapsed
    return {"writers": writers, "seconds": round(elapsed, 2), "changes": sum(counts),
            "changes_per_s": round(changes_per_s, 1), "rows_per_s": round(3 * changes_per_s, 1),
            "commit_ms": {"50": round(1000 * percentile(every, 50), 2), "95": round(1000 * percentile(every, 95), 2),
                          "99": round(1000 * percentile(every, 99), 2)}}


def counters_refresh(db_url: str, *, cameras: int, runs: int) -> dict[str, Any]:
    """One node's counter refresh (every 5 s, analytics/service.py COUNTERS_REFRESH_S): one transaction updating
    `cameras` camera rows. Median ms of `runs`."""
    store = Store(db_url)
    ids = [f"counter-cam-{index:04d}" for index in range(cameras)]
    for camera_id in ids:
        store.cameras.record(CameraStatusRecord(camera_id=camera_id, state="online", since=T0, last_error=None,
                                                      updated_at=T0, frames_decoded=0, frames_dropped=0,
                                                      analysed_fps=2.0), None, {})
    times = []
    for run in range(runs):
        counters = [CameraCounters(camera_id=camera_id, frames_decoded=100 * run, frames_dropped=run,
                                   analysed_fps=2.0) for camera_id in ids]
        started = time.perf_counter()
        store.cameras.refresh_counters(counters, T0 + timedelta(seconds=5 * run))
        times.append(time.perf_counter() - started)
    store.close()
    median_s = statistics.median(times)
    return {"cameras": cameras, "runs": runs, "ms_median": round(1000 * median_s, 1),
            "rows_per_s_while_writing": round(cameras / median_s, 1)}


def decode_cost(clip: Path, *, min_cpu_s: float = 2.0) -> dict[str, Any]:
    """CPU-seconds per decoded frame of `clip` with PyAV as ingest decodes (threads AUTO), all frames, looped until
    `min_cpu_s` of CPU was spent: what receiving a camera costs beside the analysis, by resolution."""
    import av

    frames = 0
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    width = height = 0
    while time.process_time() - cpu_started < min_cpu_s:
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_type = "AUTO"
            for frame in container.decode(stream):
                width, height = frame.width, frame.height
                frames += 1
    cpu = time.process_time() - cpu_started
    return {"clip": clip.name, "width": width, "height": height, "frames": frames,
            "cpu_ms_per_frame": round(1000 * cpu / frames, 3),
            "wall_ms_per_frame": round(1000 * (time.perf_counter() - wall_started) / frames, 3)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[str]:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="xl-bench-redis-")
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no", "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                RedisStreamBroker(url, connect_timeout_s=0.5).check()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def broker_latency(db_url: str, broker_url: str, *, rate: float, seconds: float, publishers: int) -> dict[str, Any]:
    """`publishers` threads (each its own broker connection, like pipelines on separate nodes) publish messages
    already committed in the store, together `rate` a second, interleaving their seqs; one subscriber (an API
    replica) receives them in seq order. Latency: the subscriber's callback time - the publish call's time."""
    store = Store(db_url)
    journal = PushJournal(store, LocalBroker())
    total = max(1, int(rate * seconds))
    messages: list[PushMessage] = []
    for index in range(total):  # committed first: the bench times the broker, not the store
        messages.append(journal.incident(incident(index, index % publishers), "incident.updated", {"n": index}))
    published_at: dict[int, float] = {}
    delivered_at: dict[int, float] = {}
    order: list[int] = []
    done = threading.Event()

    def receive(message: PushMessage) -> None:
        delivered_at[message.seq] = time.perf_counter()
        order.append(message.seq)
        if len(order) == total:
            done.set()

    visible = _CommittedAsPublished(store, messages[0].seq - 1)
    subscriber = RedisStreamBroker(broker_url, message_log=visible)
    watermark = threading.Lock()
    subscriber.subscribe(receive)
    subscriber.wait_connected(10)
    senders = [RedisStreamBroker(broker_url) for _ in range(publishers)]
    start = time.perf_counter() + 0.2
    interval = 1.0 / rate

    def publish(which: int) -> None:
        broker = senders[which]
        for index in range(which, total, publishers):
            due = start + index * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            message = messages[index]
            with watermark:
                visible.published_through = max(visible.published_through, message.seq)
            published_at[message.seq] = time.perf_counter()
            broker.publish(message)

    threads = [threading.Thread(target=publish, args=(which,)) for which in range(publishers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.wait(timeout=30)
    for broker in senders:
        broker.close()
    subscriber.close()
    store.close()
    latencies = [delivered_at[seq] - published_at[seq] for seq in delivered_at if seq in published_at]
    feed = subscriber.feed
    assert feed is not None
    return {
        "rate_per_s": rate, "publishers": publishers, "seconds": seconds, "published": total,
        "delivered": len(order), "in_seq_order": order == sorted(order) and len(set(order)) == len(order),
        "from_store": feed.counts.from_store, "gap_reads": feed.counts.gap_reads,
        "latency_ms": {q: round(1000 * percentile(latencies, float(q)), 2) for q in ("50", "95", "99")},
        "latency_max_ms": round(1000 * max(latencies), 2),
    }


class _CommittedAsPublished:
    """The store as a live subscriber would see it: the bench commits its messages beforehand, so a message counts
    as committed only once its publish began (in the service it commits just before), and the subscriber starts
    just before the first."""

    def __init__(self, store: Store, start: int) -> None:
        self._store = store
        self._start = start
        self.published_through = start

    def since(self, seq: int, limit: int = 1000) -> list[PushMessage]:
        return [m for m in self._store.push_log.since(seq, limit) if m.seq <= self.published_through]

    def last_seq(self) -> int:
        return self._start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each run")
    parser.add_argument("--runs", type=int, default=3, help="commit-rate runs per writer count (the median is kept)")
    parser.add_argument("--writers", default="1,4", help="commit-rate writer threads, comma-separated")
    parser.add_argument("--rates", default="", help="broker rates (messages/s), comma-separated; default: the "
                        "capacity model's county peak and 10x it, and 1000")
    parser.add_argument("--broker-seconds", type=float, default=5.0, help="length of each broker run")
    parser.add_argument("--min-messages", type=int, default=100, help="a slow broker run lasts until this many "
                        "messages (40 s at most)")
    parser.add_argument("--publishers", type=int, default=4, help="publisher connections (nodes) in the broker runs")
    parser.add_argument("--clips", type=Path, nargs="*", default=[CLIPS / "street_576p_vtest_mosaic.mp4",
                                                               CLIPS / "street_1080p_vtest_mosaic.mp4"],
                        help="H.264 clips whose decoding cost to measure (made by bench/replay/make_street_1080p.py "
                        "--size 768x576 / 1920x1080 into /tmp/xl-clips)")
    parser.add_argument("--decode-only", action="store_true", help="measure decoding only, merged into --out")
    parser.add_argument("--out", type=Path, default=RESULTS / "measured.json")
    args = parser.parse_args()

    if args.rates:
        rates = [float(rate) for rate in args.rates.split(",")]
    else:
        from bench.scale.capacity import county_peak_messages_per_s

        peak = round(county_peak_messages_per_s(), 1)
        rates = [peak, round(10 * peak, 1), 1000.0]
    result: dict[str, Any] = {"machine": machine(), "commit_rate": [], "broker_latency": []}
    if args.clips:
        result["decode"] = [decode_cost(clip) for clip in args.clips]
        for row in result["decode"]:
            print(json.dumps(row))
    if args.decode_only:
        kept = json.loads(args.out.read_text()) if args.out.exists() else {}
        kept["decode"] = result["decode"]
        kept["decode_machine"] = result["machine"]
        args.out.write_text(json.dumps(kept, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.out}")
        return
    with postgres_schema() as db_url:
        Store(db_url).migrate()
        for writers in (int(value) for value in args.writers.split(",")):
            runs = [commit_rate(db_url, seconds=args.seconds, writers=writers) for _ in range(args.runs)]
            median = sorted(runs, key=lambda run: run["changes_per_s"])[len(runs) // 2]
            median["runs_changes_per_s"] = [run["changes_per_s"] for run in runs]
            result["commit_rate"].append(median)
            print(json.dumps(median))
        for cameras in (64, 1500):
            refresh = counters_refresh(db_url, cameras=cameras, runs=5)
            result.setdefault("counters_refresh", []).append(refresh)
            print(json.dumps(refresh))
    # The broker runs time the broker: their messages are committed beforehand, to a SQLite file (faster to fill
    # than PostgreSQL here; the store is read only to fill gaps).
    with redis_server() as broker_url, tempfile.TemporaryDirectory(prefix="xl-bench-store-") as folder:
        sqlite_url = f"sqlite:///{folder}/bench.db"
        Store(sqlite_url).migrate()
        for rate in rates:
            seconds = min(40.0, max(args.broker_seconds, args.min_messages / rate))  # enough samples for p99
            run = broker_latency(sqlite_url, broker_url, rate=rate, seconds=seconds, publishers=args.publishers)
            result["broker_latency"].append(run)
            print(json.dumps(run))
    result["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}; medians: {statistics.median(r['changes_per_s'] for r in result['commit_rate'])}")


if __name__ == "__main__":
    main()
