"""The per-model inference queue (analytics/scheduler.py): fair turns, newest frame wins, late frames dropped and
counted, a dropped frame skips its step cleanly, workers stop with the service. The model is not the point of the
queue tests: a deterministic slow detector stands in where noted; the service test runs the real people model."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from analytics.detector import InputSize
from analytics.pipeline import CameraPipeline, CameraRunner
from analytics.scheduler import FrameDropped, InferenceScheduler, ScheduledDetector
from analytics.service import AnalyticsService
from ingest.demo.footage import pedestrian_clip
from ingest.rtsp_server import LocalRtspServer
from ingest.testing import wait_for_result
from models.clock import ManualClock
from models.config import parse_config
from models.push import LocalBroker, PushJournal
from models.store import Store
from tests.analytics.helpers import ListSink, people
from tests.analytics.test_pipeline import ListFeed, camera, frame
from tests.conftest import demo_raw_config

IMAGE = np.zeros((48, 64, 3), dtype=np.uint8)


class SlowDetector:
    """Takes `seconds` per call and finds `found` people (deterministic: the queue, not the model, is tested)."""

    def __init__(self, seconds: float = 0.01, found: int = 6) -> None:
        self.name = "people"
        self.seconds = seconds
        self.found = found
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()

    def detect(self, image: np.ndarray, input_size: InputSize | None = None) -> sv.Detections:
        self.gate.wait()
        time.sleep(self.seconds)
        self.calls += 1
        return people(self.found)


def test_cameras_submitting_continuously_are_served_in_turn() -> None:
    scheduler = InferenceScheduler(SlowDetector(0.005), deadline_factor=None)
    stop = threading.Event()

    def camera_thread(camera_id: str) -> None:
        while not stop.is_set():
            try:
                scheduler.submit(camera_id, IMAGE, None, frame_time=time.time(), slot_s=0.5)
            except FrameDropped:
                return

    threads = [threading.Thread(target=camera_thread, args=(f"cam-{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    wait_for_result(lambda: scheduler.stats().served >= 90 or None, 20, "90 frames served")
    stop.set()
    scheduler.stop()
    for thread in threads:
        thread.join(5)
    served = scheduler.stats().served_by_camera
    assert len(served) == 3 and max(served.values()) - min(served.values()) <= 1, served
    assert not scheduler.running and not any(t.is_alive() for t in threads)


def test_a_newer_frame_of_a_camera_replaces_its_waiting_one() -> None:
    detector = SlowDetector()
    scheduler = InferenceScheduler(detector, deadline_factor=None)
    detector.gate.clear()  # the worker is held inside the first call (camera a)
    results: dict[str, object] = {}

    def submit(key: str, camera_id: str) -> None:
        try:
            results[key] = scheduler.submit(camera_id, IMAGE, None, frame_time=time.time(), slot_s=1)
        except FrameDropped as dropped:
            results[key] = dropped.reason

    first = threading.Thread(target=submit, args=("a", "a"))
    first.start()
    wait_for_result(lambda: scheduler.stats().served == 1 or None, 5, "camera a's frame running")
    older = threading.Thread(target=submit, args=("b-old", "b"))
    older.start()
    wait_for_result(lambda: scheduler.stats().pending == 1 or None, 5, "camera b's frame waiting")
    newer = threading.Thread(target=submit, args=("b-new", "b"))
    newer.start()
    wait_for_result(lambda: results.get("b-old"), 5, "the older frame dropped")
    detector.gate.set()
    for thread in (first, older, newer):
        thread.join(5)
    scheduler.stop()
    assert results["b-old"] == "replaced"
    assert isinstance(results["b-new"], sv.Detections) and len(results["b-new"]) == 6
    assert scheduler.stats().replaced == 1 and detector.calls == 2  # the replaced frame never ran


def test_a_frame_older_than_its_slot_at_its_turn_is_dropped_and_counted_then_the_camera_is_served() -> None:
    clock = ManualClock(100.0)
    detector = SlowDetector()
    scheduler = InferenceScheduler(detector, deadline_factor=1.0, now=clock.time)
    with pytest.raises(FrameDropped) as dropped:
        scheduler.submit("cam", IMAGE, None, frame_time=99.0, slot_s=0.5)  # 1 s old, slot 0.5 s
    assert dropped.value.reason == "late" and dropped.value.age_s == pytest.approx(1.0)
    # the next one is served whatever its age: a camera always late (overload) never starves
    assert len(scheduler.submit("cam", IMAGE, None, frame_time=99.0, slot_s=0.5)) == 6
    assert len(scheduler.submit("cam", IMAGE, None, frame_time=99.8, slot_s=0.5)) == 6  # fresh enough
    scheduler.stop()
    assert scheduler.late_dropped("cam") == 1 and detector.calls == 2
    assert scheduler.stats().served_by_camera == {"cam": 2}


def test_the_runner_skips_a_dropped_frame_without_a_rule_step_and_the_next_frame_detects() -> None:
    clock = ManualClock(100.0)
    detector = SlowDetector(0.0, found=6)
    scheduler = InferenceScheduler(detector, deadline_factor=1.0, now=clock.time)
    crowd = {"min_people": 5, "open_after_s": 0, "count_window_s": 0, "dip_tolerance_s": 0}
    pipeline = CameraPipeline("cam", camera({"crowd": crowd}, motion={"enabled": True}),
                              {"people": ScheduledDetector(scheduler, "cam", 0.5)})  # fmt: skip
    sink = ListSink()
    runner = CameraRunner(pipeline, ListFeed([]), sink, clock=clock)  # type: ignore[arg-type]

    assert runner.run_step(frame(0, 98.0)) == []  # 2 s old at its turn: dropped
    assert runner.frames_late_dropped == 1 and runner.frames_analysed == 0
    assert pipeline.last_observation is None and sink.events == [] and detector.calls == 0
    assert pipeline.analysed_fps is None  # the dropped frame is not an analysed one

    events = runner.run_step(frame(1, 100.0))  # the same still picture: the gate was reset, so it detects
    assert detector.calls == 1 and runner.frames_analysed == 1
    assert pipeline.motion.frames_skipped == 0  # not judged still against the dropped frame's picture
    assert [e.count for e in events] == [6] and len(sink.events) == 1
    scheduler.stop()


@pytest.mark.slow
def test_the_service_stops_its_inference_workers_and_reports_late_drops(tmp_path: Path, real_detectors) -> None:
    with LocalRtspServer() as server:
        server.add_stream("walkway", pedestrian_clip())
        server.start()
        server.wait_ready(30)
        raw = demo_raw_config()
        raw["cameras"] = {
            camera_id: {"name": camera_id, "url": server.url("walkway"), "grid_cell": "330106001001001",
                        "analysis_fps": 2, "rules": {"crowd": {"min_people": 3}}}
            for camera_id in ("a", "b")
        }  # fmt: skip
        raw["store"] = {"url": f"sqlite:///{tmp_path / 'x.db'}", "data_dir": str(tmp_path / "data")}
        raw["scheduling"] = {"mode": "queue"}
        config = parse_config(raw)
        with Store(config.store.url.get_secret_value()) as store:
            store.migrate()
            service = AnalyticsService(config, PushJournal(store, LocalBroker()),
                                       detectors={"people": real_detectors["people"]})  # fmt: skip
            try:
                service.start()
                wait_for_result(lambda: all(c.analysed >= 3 for c in service.frame_counts().values()) or None,
                                60, "both cameras analysing through the queue")  # fmt: skip
                stats = service.queue_stats()["people"]
                assert set(stats.served_by_camera) == {"a", "b"}
                counts = service.frame_counts()
                assert all(c.late_dropped == stats.late_by_camera.get(i, 0) for i, c in counts.items())
            finally:
                service.stop()
            worker = service.schedulers["people"]
            assert not worker.running
            assert not [t for t in threading.enumerate() if t.name.startswith(("inference-", "analysis-"))]


def test_a_wrong_scheduling_mode_names_the_field() -> None:
    raw = demo_raw_config()
    raw["scheduling"] = {"mode": "fifo"}
    with pytest.raises(Exception, match=r"scheduling\.mode"):
        parse_config(raw, environ={"XUELIANG_DEMO_RTSP": "rtsp://127.0.0.1:9"})
