"""All cameras of a configuration: load the models once, start one stream and one pipeline per camera."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass

from analytics.clips import ClipRecorder
from analytics.detector import Detector
from analytics.detector_backends import load_detectors
from analytics.incident_builder import IncidentBuilder
from analytics.incident_sink import IncidentSink
from analytics.line_counts import LineCounts
from analytics.pipeline import CameraPipeline, CameraRunner
from analytics.rules import analysis_fps, build_rules
from analytics.scheduler import InferenceScheduler, QueueStats, ScheduledDetector
from analytics.thumbnails import CameraThumbnails
from analytics.video_check import VideoChecker
from ingest.camera_stream import CameraStream
from ingest.health import CameraHealth, CameraState
from ingest.packet_ring import PacketRing
from ingest.record_stream import RecordStream
from models import lifecycle
from models.clock import SYSTEM_CLOCK, Clock
from models.config import ServiceConfig
from models.push import PushJournal, Subscriber
from models.repositories.camera_status import CameraCounters

log = logging.getLogger(__name__)

COUNTERS_REFRESH_S = 5.0


def models_needed(config: ServiceConfig) -> set[str]:
    return {
        model
        for _, camera in config.enabled_cameras()
        for _, rule in camera.rules.enabled()
        if (model := rule.model_name) is not None
    }


@dataclass(frozen=True)
class FrameCounts:
    decoded: int
    dropped: int
    analysed: int
    late_dropped: int = 0  # taken from the stream but dropped by a model's queue as too old (scheduling: queue)


class AnalyticsService:
    def __init__(
        self,
        config: ServiceConfig,
        journal: PushJournal,
        *,
        detectors: dict[str, Detector] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        counters_refresh_s: float = COUNTERS_REFRESH_S,
        on_inference: Callable[[str, str, float], None] | None = None,
        subscribe: Callable[[Subscriber], Callable[[], None]] | None = None,
        camera_ids: Collection[str] | None = None,
    ) -> None:
        """`camera_ids`: the enabled cameras `start()` runs (None: all of them; a cluster node's host starts
        with none and is given cameras with `start_camera`). `on_inference(camera_id, model, seconds)` is told how long each model took on each frame. `subscribe`
        is the broker's: the cameras learn there that an incident of theirs was reported handled (video checks).
        `clock` is the service's (models/clock.py): frame and incident times, clip and counter timing."""
        self.config = config
        self.journal = journal
        self.clock = clock
        enabled = [camera_id for camera_id, _ in config.enabled_cameras()]
        if camera_ids is not None and (unknown := sorted(set(camera_ids) - set(enabled))):
            raise ValueError(f"not an enabled camera of the config: {', '.join(unknown)}")
        self._initial = enabled if camera_ids is None else [c for c in enabled if c in camera_ids]
        self._all_cameras = camera_ids is None
        self._cameras_lock = threading.Lock()  # start_camera / stop_camera against each other and the counters
        # Loading fails here, at startup, with a message that says how to install a missing model.
        self.detectors = detectors if detectors is not None else load_detectors(config.models, models_needed(config))
        # `scheduling.mode: queue`: one inference worker per model, shared by the cameras (analytics/scheduler.py)
        self.schedulers: dict[str, InferenceScheduler] = {}
        if config.scheduling.mode == "queue":
            self.schedulers = {
                name: InferenceScheduler(detector, deadline_factor=config.scheduling.deadline_factor, now=clock.time)
                for name, detector in self.detectors.items()
            }
        self.sink = IncidentSink(
            IncidentBuilder(config),
            journal,
            config.store.data_dir / "snapshots",
            LineCounts.in_data_dir(config.store.data_dir),
        )
        self.streams: dict[str, CameraStream] = {}
        # Event clips: a packet ring per camera, cut by the recorder's thread (analytics/clips.py).
        clips = config.clips
        # filled as cameras start, emptied as they stop; the recorder and the video checks read this one dict
        self.rings: dict[str, PacketRing] = {}
        self.clips: ClipRecorder | None = None
        if clips.enabled:
            self.clips = ClipRecorder(
                clips, config.store.data_dir, self.rings, on_written=self.sink.attach_clip, is_open=self._is_open,
                clock=clock,
            )  # fmt: skip
            self.sink.clips = self.clips
        # Video checks of closures (analytics/video_check.py): the handled steps come through the broker.
        self.video_checks = VideoChecker(config, journal, rings=self.rings, geometry=self.sink.rule_geometry)
        self._subscribe = subscribe
        self._unsubscribe: Callable[[], None] | None = None
        self.runners: dict[str, CameraRunner] = {}
        self.thumbnails = CameraThumbnails.in_data_dir(config.store.data_dir)
        self.counters_refresh_s = counters_refresh_s
        self.on_inference = on_inference
        self._stop_counters = threading.Event()
        self._counters = threading.Thread(target=self._refresh_counters, name="camera-counters", daemon=True)

    def start(self) -> None:
        """Start the cameras given at construction (adopting the incidents their previous run left open)."""
        if self._all_cameras:
            adopted = self.sink.adopt_open_incidents()  # as before: every configured camera's
        else:
            adopted = self.sink.adopt_open_incidents(camera_ids=self._initial)
        if adopted:
            log.info("adopted %d incidents left open by the previous run", adopted)
        if self._subscribe is not None:
            self._unsubscribe = self._subscribe(self.video_checks.on_message)
        if resumed := self.video_checks.resume(camera_ids=self._initial):
            log.info("%d video check(s) of incidents reported handled meanwhile start again", resumed)
        for camera_id in self._initial:
            self._launch(camera_id)
        self._counters.start()
        if self.clips is not None:
            self.clips.start()

    @property
    def camera_ids(self) -> list[str]:
        """The cameras running here now."""
        with self._cameras_lock:
            return sorted(self.runners)

    def start_camera(self, camera_id: str) -> bool:
        """Start one more enabled camera now (e.g. moved here from another node): its open incidents are adopted
        from the store first, so an ongoing situation continues the incident the other node opened. False if it
        runs here already."""
        if camera_id not in dict(self.config.enabled_cameras()):
            raise ValueError(f"{camera_id!r} is not an enabled camera of the config")
        with self._cameras_lock:
            if camera_id in self.runners:
                return False
        if adopted := self.sink.adopt_open_incidents(camera_ids=[camera_id]):
            log.info("camera %s: adopted %d open incident(s) from the store", camera_id, adopted)
        self.video_checks.resume(camera_ids=[camera_id])
        self._launch(camera_id)
        return True

    def stop_camera(self, camera_id: str) -> bool:
        """Stop one camera (stream and pipeline), write its pending clips with what its ring holds, and forget
        its open incidents here (they stay open in the store for the node that runs it next). False if it was
        not running here."""
        with self._cameras_lock:
            stream, runner = self.streams.pop(camera_id, None), self.runners.pop(camera_id, None)
        if stream is None or runner is None:
            return False
        stream.stop()
        for scheduler in self.schedulers.values():
            scheduler.forget(camera_id)  # a frame of it still waiting for its turn ends now
        if stream.record is not None:
            stream.record.stop()
        runner.stop()
        if self.clips is not None:
            self.clips.write_camera(camera_id)
        with self._cameras_lock:
            self.rings.pop(camera_id, None)
            self.sink.main_rings.pop(camera_id, None)
        self.video_checks.forget(camera_id)
        self.sink.release_camera(camera_id)
        log.info("camera %s stopped", camera_id)
        return True

    def _launch(self, camera_id: str) -> None:
        camera = self.config.cameras[camera_id]
        rules = build_rules(camera)
        detectors: dict[str, Detector] = dict(self.detectors)
        if self.schedulers:
            slot_s = 1.0 / analysis_fps(camera, rules)
            detectors = {name: ScheduledDetector(s, camera_id, slot_s) for name, s in self.schedulers.items()}
        pipeline = CameraPipeline(camera_id, camera, detectors, rules)
        if self.on_inference is not None:
            pipeline.on_inference = functools.partial(self.on_inference, camera_id)
        clips = self.config.clips
        ring = None
        if clips.enabled:
            ring = PacketRing(max_seconds=clips.ring_seconds, max_bytes=int(clips.ring_max_mb * 2**20), clock=self.clock)
        stream = CameraStream(
            camera_id,
            camera.url.get_secret_value(),
            analysis_fps=pipeline.analysis_fps,
            stream=camera.stream,
            realtime=True,
            loop=camera.loop,
            on_health=self._on_health_of(pipeline),
            clock=self.clock,
            packet_ring=ring,
        )
        if ring is not None and camera.record_url is not None:
            # analyse `url` (the sub-stream), clip from `record_url` (the main stream): ingest/record_stream.py
            stream.packet_ring = None
            stream.record = RecordStream(
                camera_id, camera.record_url.get_secret_value(), ring, stream=camera.stream,
                on_change=stream.republish_health,
            )  # fmt: skip
            self.sink.main_rings[camera_id] = ring  # snapshots at main resolution (analytics/main_snapshot.py)
        runner = CameraRunner(
            pipeline, stream, self.sink, clock=self.clock, on_frame=self.thumbnails.offer,
            on_step=self.video_checks.observe,
        )  # fmt: skip
        with self._cameras_lock:
            if ring is not None:
                self.rings[camera_id] = ring
            self.streams[camera_id], self.runners[camera_id] = stream, runner
        runner.start()
        stream.start()
        if stream.record is not None:
            stream.record.start()
        log.info("camera %s (%s) started", camera_id, camera.name)

    def _is_open(self, incident_id: str) -> bool:
        """Whether the incident is still open in the closed loop (its clip is kept whatever its age)."""
        incident = self.journal.store.incidents.get(incident_id)
        return incident is not None and lifecycle.LoopStatus(incident.status) not in lifecycle.OPEN311_CLOSED

    def _on_health_of(self, pipeline: CameraPipeline) -> Callable[[CameraHealth], None]:
        def on_health(health: CameraHealth) -> None:
            try:
                # a camera that is not online analyses nothing: no fps (not the last one it had), as the counters
                fps = pipeline.analysed_fps if health.state is CameraState.ONLINE else None
                self.sink.camera_health(health, fps)
            except Exception:
                log.exception("camera %s: could not record health %s", health.camera_id, health.state)

        return on_health

    def _refresh_counters(self) -> None:
        """Every `counters_refresh_s`, write each camera's frame counters and analysed fps to its status.

        Health changes are recorded and pushed as they happen (`camera.status`); between them the counters would
        stand still, so they are refreshed here, in the store only (one transaction for all cameras, no message):
        the camera wall reads them with `GET /cameras`."""
        while not self.clock.wait(self._stop_counters, self.counters_refresh_s):
            counters = []
            with self._cameras_lock:
                running = [(camera_id, stream, self.runners[camera_id]) for camera_id, stream in self.streams.items()]
            for camera_id, stream, runner in running:
                health = stream.health
                # a camera that is down analyses nothing: no fps (not the last one it had)
                fps = runner.pipeline.analysed_fps if health.state is CameraState.ONLINE else None
                counters.append(
                    CameraCounters(
                        camera_id=camera_id, frames_decoded=health.frames_decoded,
                        frames_dropped=health.frames_dropped, analysed_fps=fps,
                    )
                )  # fmt: skip
            try:
                self.journal.store.cameras.refresh_counters(counters, self.clock.now())
            except Exception:
                log.exception("could not refresh the camera counters; retrying in %.0f s", self.counters_refresh_s)

    def frame_counts(self) -> dict[str, FrameCounts]:
        """Each camera's frames decoded, dropped and analysed since start, as they stand now."""
        counts = {}
        with self._cameras_lock:
            running = [(camera_id, stream, self.runners[camera_id]) for camera_id, stream in self.streams.items()]
        for camera_id, stream, runner in running:
            health = stream.health
            analysed = runner.frames_analysed
            counts[camera_id] = FrameCounts(
                health.frames_decoded, health.frames_dropped, analysed, runner.frames_late_dropped
            )
        return counts

    def queue_stats(self) -> dict[str, QueueStats]:
        """Each model's inference queue (`scheduling.mode: queue`; empty with `lock`)."""
        return {name: scheduler.stats() for name, scheduler in self.schedulers.items()}

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._stop_counters.set()
        if self._counters.is_alive():
            self._counters.join(5)
        with self._cameras_lock:
            streams, runners = list(self.streams.values()), list(self.runners.values())
        for stream in streams:
            stream.stop()
            if stream.record is not None:
                stream.record.stop()
        for scheduler in self.schedulers.values():
            scheduler.stop()  # camera threads waiting for a turn end their step now (FrameDropped: stopped)
        for runner in runners:
            runner.stop()
        if self.clips is not None:
            self.clips.stop()  # pending clips are written with what the rings hold
