"""The service under measurement: N cameras over a local RTSP server, the real analytics, the real API + websocket.

Cameras are served by ingest.rtsp_server.LocalRtspServer from real clips (several cameras may read one stream;
each decodes it on its own, as separate cameras would). The analytics run in this process (AnalyticsService, as
`xueliang serve` runs them) and publish to a LocalBroker; the API is the real app (create_app, run_cameras=False,
the same broker: the scale seam of DESIGN.md) under uvicorn on loopback, and a real websocket client records each
incident message with its arrival time. Detectors are the configured ones, wrapped to count calls per camera.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import supervision as sv
import yaml

from analytics.detector import Detector, InputSize
from analytics.detector_backends import load_detectors
from analytics.service import AnalyticsService
from bench.speed.common import CLIPS, DEMO_CONFIG
from ingest.demo.footage import cache_dir, fire_clip, pedestrian_clip
from ingest.health import CameraState
from ingest.rtsp_server import LocalRtspServer
from ingest.sampling import sampled_frames
from models.config import ServiceConfig, parse_config
from models.push import LocalBroker, PushJournal
from models.store import Store

BENCH_API_KEY = "xl-bench-speed-key-not-a-secret"
FIRE_CLIPS = ("fire_indoor_cctv_lockers.mp4", "fire_indoor_cctv_home_battery.mp4", "fire_outdoor_grass_burn.mp4")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def quiet_clip(seconds: int = 60) -> Path:
    """An empty still scene: vtest's first frame held, with temporal sensor noise (+-4 gray levels), encoded like
    the busy clip (768x576, 10 fps, H.264), so that decoding costs about the same and only the scene differs."""
    out = cache_dir() / f"quiet_vtest_still_{seconds}s.mp4"
    if out.is_file():
        return out
    still = out.with_suffix(".png")
    _, first = next(sampled_frames(pedestrian_clip(), fps=None, limit=1))
    import cv2

    cv2.imwrite(str(still), first)
    tmp = out.with_suffix(".part.mp4")
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-loop", "1", "-framerate", "10", "-i", str(still), "-t", str(seconds),
         "-vf", "noise=alls=4:allf=t,format=yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-bf", "0", str(tmp)],
        check=True,
    )  # fmt: skip
    tmp.replace(out)
    return out


def stream_clips() -> dict[str, Path]:
    """Stream name -> clip: pedestrians, the fire clips (when ../shared/assets is there), the fire stills, quiet."""
    clips = {"walkway": pedestrian_clip(), "fire-stills": fire_clip(), "quiet": quiet_clip()}
    for name in FIRE_CLIPS:
        if (CLIPS / name).is_file():
            clips[name.removesuffix(".mp4").replace("_", "-")] = CLIPS / name
    return clips


@contextmanager
def clip_server() -> Iterator[LocalRtspServer]:
    """The local RTSP server serving every clip of `stream_clips()` (by stream name), ready."""
    with LocalRtspServer() as server:
        for name, clip in stream_clips().items():
            server.add_stream(name, clip)
        server.wait_ready(timeout=30)
        yield server


def people_camera(url: str, fps: float, motion: bool = True) -> dict[str, Any]:
    """A pedestrian camera whose crowd rule flips often (N = 6, no persistence, no hysteresis, each frame's own
    count): vtest shows 4-9 people, so incidents open and close every few frames and latency gets many samples."""
    return {
        "name": "walkway", "url": url, "grid_cell": "330106001001001", "analysis_fps": fps,
        "rules": {"crowd": {"min_people": 6, "open_after_s": 0, "hysteresis": 0, "close_after_s": 0,
                            "count_window_s": 0, "dip_tolerance_s": 0}},
        "motion": {"enabled": motion},
    }  # fmt: skip


def fire_camera(url: str, fps: float, motion: bool = True) -> dict[str, Any]:
    return {
        "name": "fire", "url": url, "grid_cell": "330106001001002", "analysis_fps": fps,
        "rules": {"fire_smoke": {"window_frames": 4, "min_hits": 2, "clear_frames": 2}}, "motion": {"enabled": motion},
    }  # fmt: skip


def service_config(
    cameras: dict[str, dict[str, Any]], tmp: Path, port: int, overrides: dict[str, Any] | None = None
) -> ServiceConfig:
    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    raw.update(overrides or {})
    raw["cameras"] = cameras
    raw["store"] = {"url": f"sqlite:///{tmp / 'xueliang.db'}", "data_dir": str(tmp / "data")}
    raw["server"] = {"host": "127.0.0.1", "port": port, "websocket_queue": 10000}
    key_sha256 = hashlib.sha256(BENCH_API_KEY.encode()).hexdigest()
    raw["auth"] = {"api_keys": {"bench": {"role": "admin", "key_sha256": key_sha256}}}
    return parse_config(raw, source="bench")


@dataclass
class TimedDetector:
    """A real detector that counts its calls and their time, per calling camera (the runner thread's name)."""

    real: Detector
    name: str = ""
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def __post_init__(self) -> None:
        self.name = self.real.name

    def detect(self, image: np.ndarray, input_size: InputSize | None = None) -> sv.Detections:
        started = time.perf_counter()
        try:
            return self.real.detect(image, input_size)
        finally:
            camera = threading.current_thread().name.removeprefix("analysis-")
            self.calls[camera] += 1
            self.seconds[camera] += time.perf_counter() - started


def load_timed_detectors() -> dict[str, TimedDetector]:
    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    config = parse_config(raw, environ={"XUELIANG_DEMO_RTSP": "rtsp://127.0.0.1:9"})
    return {name: TimedDetector(d) for name, d in load_detectors(config.models, {"people", "fire_smoke"}).items()}


def bound_ms(detectors: dict[str, TimedDetector], rounds: int = 20) -> dict[str, float]:
    """The inference bound measured now, in this process, with nothing else running: median ms per frame at the
    detector's edge on real frames (the same measure as bench.speed.inference)."""
    frames = {
        "people": [i for _, i in sampled_frames(pedestrian_clip(), fps=2, limit=rounds + 3)],
        "fire_smoke": [i for _, i in sampled_frames(stream_clips().get("fire-indoor-cctv-lockers", fire_clip()),
                                                    fps=2, limit=rounds + 3)],  # fmt: skip
    }
    samples: dict[str, list[float]] = defaultdict(list)
    for r in range(rounds + 3):
        for name, detector in detectors.items():
            image = frames[name][r % len(frames[name])]
            t0 = time.perf_counter()
            detector.real.detect(image)
            if r >= 3:
                samples[name].append((time.perf_counter() - t0) * 1000)
    return {name: float(np.median(v)) for name, v in samples.items()}


class WebsocketRecorder:
    """A real websocket client on /ws: every incident message with the time it arrived."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self.received: list[tuple[float, dict[str, Any]]] = []
        self._ws = connect(url, additional_headers={"X-API-Key": BENCH_API_KEY}, open_timeout=10, max_size=None)
        self._thread = threading.Thread(target=self._run, name="bench-ws", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            for raw in self._ws:
                arrived = time.time()
                self.received.append((arrived, json.loads(raw)))
        except ConnectionClosed:
            pass

    def latencies(self, since: float, until: float) -> list[float]:
        """Seconds from a frame's arrival (decode time: the event's and so the incident's `updated_at`) to its
        incident message on this client, for incident messages that arrived in [since, until)."""
        out = []
        for arrived, message in list(self.received):
            if not str(message.get("type", "")).startswith("incident.") or not since <= arrived < until:
                continue
            updated = message.get("data", {}).get("updated_at")
            if updated:
                out.append(arrived - datetime.fromisoformat(updated).timestamp())
        return out

    def close(self) -> None:
        self._ws.close()
        self._thread.join(5)


class ApiServer:
    """The real app (no cameras of its own, the analytics' broker) under uvicorn, in a thread of this process."""

    def __init__(self, config: ServiceConfig, broker: LocalBroker) -> None:
        import uvicorn

        from api.app import create_app

        self.port = config.server.port
        app = create_app(config, run_cameras=False, broker=broker)
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", ws_max_queue=64)
        )
        self.thread = threading.Thread(target=self.server.run, name="bench-uvicorn", daemon=True)

    def __enter__(self) -> ApiServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("API did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@dataclass
class Snapshot:
    at: float
    cpu_s: float
    analysed: dict[str, int]
    decoded: dict[str, int]
    dropped: dict[str, int]
    gated: dict[str, int]
    late: dict[str, int]
    calls: dict[str, dict[str, int]]
    call_s: dict[str, dict[str, float]]


def snapshot(service: AnalyticsService, detectors: dict[str, TimedDetector]) -> Snapshot:
    cpu = psutil.Process().cpu_times()
    return Snapshot(
        at=time.monotonic(),
        cpu_s=cpu.user + cpu.system,
        analysed={c: r.frames_analysed for c, r in service.runners.items()},
        decoded={c: s.health.frames_decoded for c, s in service.streams.items()},
        dropped={c: s.health.frames_dropped for c, s in service.streams.items()},
        gated={c: r.pipeline.motion.frames_skipped for c, r in service.runners.items()},
        late={c: r.frames_late_dropped for c, r in service.runners.items()},
        calls={m: dict(d.calls) for m, d in detectors.items()},
        call_s={m: dict(d.seconds) for m, d in detectors.items()},
    )


def run_cameras(
    server: LocalRtspServer,
    cameras: dict[str, dict[str, Any]],
    detectors: dict[str, TimedDetector],
    bounds: dict[str, float],
    tmp: Path,
    *,
    warmup_s: float,
    measure_s: float,
    with_api: bool = True,
    marks: list[float] | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run these cameras for warm-up + measurement; return what was measured in the measurement window. `marks`, if
    given, gets the window's start and end (time.monotonic()) for observers that measure beside it."""
    tmp.mkdir(parents=True, exist_ok=True)
    # `stream` (the clip a camera watches) is for the report, not the config
    config = service_config({c: {k: v for k, v in cam.items() if k != "stream"} for c, cam in cameras.items()},
                            tmp, free_port(), overrides)  # fmt: skip
    store = Store(config.store.url.get_secret_value())
    store.migrate()
    broker = LocalBroker()
    service = AnalyticsService(config, PushJournal(store, broker), detectors=dict(detectors))  # type: ignore[arg-type]
    api = ApiServer(config, broker) if with_api else None
    recorder: WebsocketRecorder | None = None
    try:
        if api is not None:
            api.__enter__()
            recorder = WebsocketRecorder(f"ws://127.0.0.1:{api.port}/ws")
        service.start()
        deadline = time.monotonic() + 30
        while any(s.health.state is not CameraState.ONLINE for s in service.streams.values()):
            if time.monotonic() > deadline:
                states = {c: s.health.state.value for c, s in service.streams.items()}
                raise RuntimeError(f"cameras not online after 30 s: {states}")
            time.sleep(0.1)
        time.sleep(warmup_s)
        psutil.cpu_percent(None)
        before, wall_before = snapshot(service, detectors), time.time()
        if marks is not None:
            marks.append(time.monotonic())
        time.sleep(measure_s)
        after, wall_after = snapshot(service, detectors), time.time()
        if marks is not None:
            marks.append(time.monotonic())
        system_cpu = psutil.cpu_percent(None)
        rss = psutil.Process().memory_info().rss
        latencies = recorder.latencies(wall_before, wall_after) if recorder is not None else []
    finally:
        service.stop()
        if recorder is not None:
            recorder.close()
        if api is not None:
            api.__exit__(None, None, None)
        store.close()
    span = after.at - before.at
    per_camera = {}
    for camera_id, camera in cameras.items():
        analysed = after.analysed[camera_id] - before.analysed[camera_id]
        dropped = after.dropped[camera_id] - before.dropped[camera_id]
        calls = sum(after.calls[m].get(camera_id, 0) - before.calls[m].get(camera_id, 0) for m in detectors)
        per_camera[camera_id] = {
            "clip": camera["stream"], "target_fps": camera["analysis_fps"], "achieved_fps": analysed / span,
            "decoded_fps": (after.decoded[camera_id] - before.decoded[camera_id]) / span,
            "dropped": dropped, "dropped_share": dropped / max(1, analysed + dropped),
            "late_dropped": after.late[camera_id] - before.late[camera_id],
            "motion_skipped": after.gated[camera_id] - before.gated[camera_id], "model_calls": calls,
        }  # fmt: skip
    model_calls = {m: sum(after.calls[m].values()) - sum(before.calls[m].values()) for m in detectors}
    model_busy_s = {m: sum(after.call_s[m].values()) - sum(before.call_s[m].values()) for m in detectors}
    bound_s = sum(model_calls[m] * bounds[m] / 1000 for m in detectors)  # inference time at the bound's speed
    total_calls = sum(model_calls.values())
    return {
        "cameras": len(cameras),
        "measure_s": span,
        "per_camera": per_camera,
        "min_fps_ratio": min(c["achieved_fps"] / c["target_fps"] for c in per_camera.values()),
        "dropped_total": sum(c["dropped"] for c in per_camera.values()),
        "late_dropped_total": sum(c["late_dropped"] for c in per_camera.values()),
        "model_calls": model_calls,
        "model_frames_per_s": total_calls / span,
        "bound_model_frames_per_s": total_calls / bound_s if bound_s else None,
        "ratio_to_bound": bound_s / span,  # share of the run's time the model would need at the bound's speed
        "in_run_ms_per_call_incl_lock_wait": {m: 1000 * model_busy_s[m] / model_calls[m] for m in detectors if model_calls[m]},
        "process_cpu_pct": 100 * (after.cpu_s - before.cpu_s) / span,
        "system_cpu_pct": system_cpu * (psutil.cpu_count() or 1),
        "rss_mib": rss / 2**20,
        "latency_samples": len(latencies),
        "latency_s": {q: float(np.percentile(latencies, q)) if latencies else None for q in (50, 95, 99)},
    }
