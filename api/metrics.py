"""Prometheus metrics (`GET /metrics`, prometheus-client), one registry per app.

Read from the store at scrape time, so every API replica reports the same numbers for them:
- `xueliang_camera_frames_decoded_total`, `xueliang_camera_frames_dropped_total` {camera}: as the camera's node last
  wrote them (refreshed every 5 s; the node running the camera reports its live counts instead),
  `xueliang_camera_state` {camera, state} (1 for the current state), `xueliang_camera_analysed_fps` {camera};
- `xueliang_incidents_opened_total` {category}: incidents opened (replay/test incidents left out);
- `xueliang_delivery_queue_depth` {endpoint}: changes waiting to be delivered; `xueliang_delivery_dead_letters`.

Counted in this process (so per replica; sum them in PromQL):
- `xueliang_camera_frames_analysed_total` {camera}, `xueliang_inference_seconds` {camera, model} (a histogram; the
  node that runs the cameras); `xueliang_camera_frames_late_dropped_total` {camera}: frames a model's queue dropped
  as too old when their turn came; `xueliang_inference_queue_served_total`, `..._late_dropped_total`,
  `xueliang_inference_queue_mean_wait_seconds`, `xueliang_inference_queue_pending` {model} (`scheduling: queue`);
- `xueliang_delivery_failures_total` {endpoint}: failed delivery attempts (error answers, timeouts, refusals);
- `xueliang_websocket_clients`: websocket clients connected now;
- `xueliang_login_attempts_total` {outcome}: ok, failed, refused (locked out).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from analytics.scheduler import QueueStats
from analytics.service import FrameCounts
from api.delivery.admin import delivery_counts
from api.delivery.outbox import DeliveryState
from ingest.health import CameraState
from models.db import IncidentRow
from models.store import Store

# Inference on 2 CPU cores takes tens to hundreds of milliseconds per frame (bench/speed/RESULTS.md).
INFERENCE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _StoreCollector(Collector):
    """What the store knows, read at each scrape; plus the in-process counts the app hands in as functions."""

    def __init__(
        self,
        store: Store,
        frame_counts: Callable[[], Mapping[str, FrameCounts]],
        delivery_failures: Callable[[], Mapping[str, int]],
        websocket_clients: Callable[[], int],
        inference_queues: Callable[[], Mapping[str, QueueStats]] | None = None,
    ) -> None:
        self._store = store
        self._frame_counts = frame_counts
        self._delivery_failures = delivery_failures
        self._websocket_clients = websocket_clients
        self._inference_queues = inference_queues

    def describe(self) -> Iterable[Metric]:
        return []  # metrics are made at each scrape: nothing to check up front

    def collect(self) -> Iterable[Metric]:
        decoded = CounterMetricFamily(
            "xueliang_camera_frames_decoded", "Frames decoded per camera.", labels=["camera"]
        )
        dropped = CounterMetricFamily(
            "xueliang_camera_frames_dropped",
            "Frames decoded but not analysed (analysis was busy or sampling skipped them) per camera.",
            labels=["camera"],
        )
        state = GaugeMetricFamily(
            "xueliang_camera_state", "The camera's state: 1 for the current one.", labels=["camera", "state"]
        )
        fps = GaugeMetricFamily(
            "xueliang_camera_analysed_fps", "Frames analysed per second (absent while down).", labels=["camera"]
        )
        live = self._frame_counts()
        for status in self._store.cameras.statuses():
            here = live.get(status.camera_id)
            decoded.add_metric([status.camera_id], here.decoded if here else status.frames_decoded)
            dropped.add_metric([status.camera_id], here.dropped if here else status.frames_dropped)
            for candidate in CameraState:
                state.add_metric([status.camera_id, candidate.value], 1.0 if status.state == candidate.value else 0.0)
            if status.analysed_fps is not None:
                fps.add_metric([status.camera_id], status.analysed_fps)
        yield from (decoded, dropped, state, fps)

        analysed = CounterMetricFamily(
            "xueliang_camera_frames_analysed", "Frames run through the rules per camera (this node).", labels=["camera"]
        )
        late = CounterMetricFamily(
            "xueliang_camera_frames_late_dropped",
            "Frames a model's inference queue dropped as too old when their turn came, per camera (this node).",
            labels=["camera"],
        )
        for camera_id, counts in sorted(live.items()):
            analysed.add_metric([camera_id], counts.analysed)
            late.add_metric([camera_id], counts.late_dropped)
        yield from (analysed, late)
        if self._inference_queues is not None:
            yield from _queue_metrics(self._inference_queues())

        opened = CounterMetricFamily(
            "xueliang_incidents_opened", "Incidents opened per event category (tests left out).", labels=["category"]
        )
        with self._store.database.engine.connect() as connection:
            rows = connection.execute(
                select(IncidentRow.category_code, func.count())
                .where(IncidentRow.is_test.is_(False))
                .group_by(IncidentRow.category_code)
                .order_by(IncidentRow.category_code)
            )
            for category, count in rows:
                opened.add_metric([category], count)
        yield opened

        by_endpoint = delivery_counts(self._store)
        depth = GaugeMetricFamily(
            "xueliang_delivery_queue_depth", "Changes waiting to be delivered per endpoint.", labels=["endpoint"]
        )
        dead = GaugeMetricFamily(
            "xueliang_delivery_dead_letters", "Changes given up on (redeliver them) per endpoint.", labels=["endpoint"]
        )
        failures = CounterMetricFamily(
            "xueliang_delivery_failures", "Failed delivery attempts per endpoint (this node).", labels=["endpoint"]
        )
        for endpoint, by_state in sorted(by_endpoint.items()):
            depth.add_metric([endpoint], by_state.get(DeliveryState.PENDING.value, 0))
            dead.add_metric([endpoint], by_state.get(DeliveryState.DEAD.value, 0))
        for endpoint, count in sorted(self._delivery_failures().items()):
            failures.add_metric([endpoint], count)
        yield from (depth, dead, failures)

        clients = GaugeMetricFamily("xueliang_websocket_clients", "Websocket clients connected now (this node).")
        clients.add_metric([], self._websocket_clients())
        yield clients


def _queue_metrics(queues: Mapping[str, QueueStats]) -> Iterable[Metric]:
    served = CounterMetricFamily("xueliang_inference_queue_served", "Frames a model's queue ran.", labels=["model"])
    late = CounterMetricFamily(
        "xueliang_inference_queue_late_dropped", "Frames a model's queue dropped as too old.", labels=["model"]
    )
    wait = GaugeMetricFamily(
        "xueliang_inference_queue_mean_wait_seconds", "Mean wait for a turn of the frames run.", labels=["model"]
    )
    pending = GaugeMetricFamily("xueliang_inference_queue_pending", "Cameras waiting for a turn now.", labels=["model"])
    for model, stats in sorted(queues.items()):
        served.add_metric([model], stats.served)
        late.add_metric([model], stats.late_dropped)
        if stats.mean_wait_s is not None:
            wait.add_metric([model], stats.mean_wait_s)
        pending.add_metric([model], stats.pending)
    return (served, late, wait, pending)


class ServiceMetrics:
    """The app's registry and the metrics its parts feed as things happen."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.inference_seconds = Histogram(
            "xueliang_inference_seconds",
            "Time one detector model took on one frame.",
            labelnames=["camera", "model"],
            buckets=INFERENCE_BUCKETS,
            registry=self.registry,
        )
        self.login_attempts = Counter(
            "xueliang_login_attempts",
            "Login attempts by outcome: ok, failed (wrong name or password), refused (locked out).",
            labelnames=["outcome"],
            registry=self.registry,
        )

    def observe_inference(self, camera_id: str, model: str, seconds: float) -> None:
        self.inference_seconds.labels(camera_id, model).observe(seconds)

    def read_from(
        self,
        store: Store,
        *,
        frame_counts: Callable[[], Mapping[str, FrameCounts]],
        delivery_failures: Callable[[], Mapping[str, int]],
        websocket_clients: Callable[[], int],
        inference_queues: Callable[[], Mapping[str, QueueStats]] | None = None,
    ) -> None:
        self.registry.register(
            _StoreCollector(store, frame_counts, delivery_failures, websocket_clients, inference_queues)
        )
