"""One camera's analysis: frames → detections per model → tracking (for rules that need it) → rules → events →
incident sink.

A camera pipeline is a self-contained unit: config in, incidents out through the sink (store + publisher).
It never reaches into the web app.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
import supervision as sv

from analytics.detector import Detector, InputSize, choose_input, with_label
from analytics.events import Event, Observation
from analytics.incident_sink import IncidentSink
from analytics.model_gate import ModelGate
from analytics.motion import MotionGate
from analytics.motion_crop import CropPlanner, Region, detect_in
from analytics.rules import Rule, analysis_fps, build_rules
from analytics.rules.base import RuleState
from analytics.scheduler import FrameDropped, ScheduledDetector
from analytics.tracking import make_tracker
from ingest.frames import VideoFrame
from ingest.health import CameraHealth
from models.clock import SYSTEM_CLOCK, Clock
from models.config import CameraConfig

log = logging.getLogger(__name__)


class FrameFeed(Protocol):
    """What the pipeline needs of a stream (ingest.camera_stream.CameraStream provides it)."""

    def next_frame(self, timeout: float) -> VideoFrame | None: ...

    @property
    def health(self) -> CameraHealth: ...

    @property
    def finished(self) -> bool: ...


@runtime_checkable
class DecodeControl(Protocol):
    """A feed that can decode keyframes only while the scene is still (CameraStream can)."""

    def decode_keyframes_only(self, enabled: bool, *, after_frame: int | None = None) -> None: ...


class CameraPipeline:
    """Pure analysis steps for one camera; no threads, no I/O besides the detectors."""

    def __init__(
        self, camera_id: str, camera: CameraConfig, detectors: Mapping[str, Detector], rules: list[Rule] | None = None
    ) -> None:
        self.camera_id = camera_id
        self.camera = camera
        self.rules = rules if rules is not None else build_rules(camera)
        needed = {rule.model for rule in self.rules if rule.model is not None}
        self.detectors = {name: detectors[name] for name in sorted(needed)}
        self.analysis_fps = analysis_fps(camera, self.rules)
        # The models a people-counting rule reads: `image_size: auto` enlarges HD frames for them.
        self.people_models = {rule.model for rule in self.rules if rule.counts_people and rule.model is not None}
        # The models that a rule reads tracks of get a tracker (analytics/tracking.py), fed every label any rule
        # asks of that model; it returns every detection (tracker id -1 while unconfirmed), so counting rules see
        # the same detections as without it.
        self.labels_asked: dict[str, set[str]] = {}
        for rule in self.rules:
            if rule.model is not None:
                self.labels_asked.setdefault(rule.model, set()).update(rule.labels)
        # Only the labels tracked rules ask for go through the tracker: a model class with two labels (a fallen
        # person is a `person` and a `fall`) gives two identical boxes, which would make the tracker swap ids.
        self.labels_tracked: dict[str, set[str]] = {}
        for rule in self.rules:
            if rule.model is not None and rule.needs_tracks:
                self.labels_tracked.setdefault(rule.model, set()).update(rule.labels)
        tracked = sorted(self.labels_tracked)
        self.trackers: dict[str, Any] = {
            name: make_tracker(camera.tracking, self.analysis_fps) for name in tracked
        }
        self._frame_times: deque[float] = deque(maxlen=20)
        # What the last step saw, for observers that record it (replays score the rules' per-frame counts).
        self.last_observation: Observation | None = None
        # the last step that had a frame: evidence drawn after the fact needs pixels, and a step may have none
        self.last_analysed: Observation | None = None
        # Motion gating: while the picture matches the one the last detections came from, they are reused.
        self.motion = MotionGate(camera.motion)
        self._last_detections: dict[str, sv.Detections] | None = None
        # Detecting where it moves (analytics/motion_crop.py, `motion.crop`): each model's last detections before
        # tracking, merged with a crop's.
        self.crop = CropPlanner(camera.motion)
        self._last_found: dict[str, sv.Detections] = {}
        # Told how long each model took on each frame, in seconds (the service's metrics).
        self.on_inference: Callable[[str, float], None] | None = None
        # Per model, the input this camera's frames go in at, by frame size (chosen at the first frame of a size).
        self._inputs: dict[tuple[str, int, int], InputSize | None] = {}
        # Rate gates (`cameras.<id>.inference.<model>.gate`): a gated model runs at its idle rate until a cue.
        self.gates: dict[str, ModelGate] = {
            name: ModelGate(name, settings.gate, self.rules)
            for name, settings in camera.inference.items()
            if settings.gate is not None and name in self.detectors
        }

    def detect(self, frame: VideoFrame) -> dict[str, sv.Detections]:
        if not self.detectors:
            return {}
        decision = self.motion.decide(frame.image, frame.timestamp)
        if not decision.detect and self._last_detections is not None:
            return self._last_detections
        region = None
        if self.camera.motion.crop:  # off by default: no planning (nor its list of previous detections) per frame
            previous = list(self._last_found.values()) if self._last_detections is not None else None
            region = self.crop.plan(self.motion.last_mask, decision.reason, frame.image, frame.timestamp, previous)
        try:
            self._last_detections = self._run_detectors(frame, region)
        except Exception:
            self.motion.reset()  # the gate took this frame as detected: make the next one detect
            for gate in self.gates.values():
                gate.reset()
            self.crop.reset()
            raise
        if region is not None:
            height, width = frame.image.shape[:2]
            self.motion.renew_reference_within(region.x0, region.y0, region.x1, region.y1, width, height)
        return self._last_detections

    @property
    def keyframes_suffice(self) -> bool:
        """Whether the camera may decode keyframes only now: `still_decode: keyframes`, the last frame was still
        (see analytics.motion), no rule is pending or open (their persistence counts frames at full rate) and no
        rule needs tracks (a tracker loses every object over a keyframe gap: measured on vtest, a 9 s gap while one
        man stood still)."""
        return (
            self.camera.motion.enabled
            and self.camera.motion.still_decode == "keyframes"
            and bool(self.detectors)
            and not self.trackers
            and self.motion.scene_still
            and all(rule.state is RuleState.IDLE for rule in self.rules)
        )

    def _run_detectors(self, frame: VideoFrame, region: Region | None = None) -> dict[str, sv.Detections]:
        """Each model on the frame (or on the motion region `region`, merged with what lies outside it)."""
        # Every model first, then the trackers: a frame a model's scheduler drops (FrameDropped) leaves no
        # tracker fed with half of it.
        raw: dict[str, sv.Detections] = {}
        reused: dict[str, sv.Detections] = {}  # throttled by the model's gate: its last detections, already tracked
        for name, detector in self.detectors.items():
            gate = self.gates.get(name)
            previous = self._last_detections.get(name) if self._last_detections is not None else None
            if gate is not None and not gate.decide(frame.image, frame.timestamp).run and previous is not None:
                reused[name] = previous  # as motion gating does (tracked models included)
                continue
            started = time.perf_counter()
            size = self.input_size(name, frame)
            if region is not None:
                found = detect_in(detector, frame.image, region, size, self._last_found.get(name))
            elif isinstance(detector, ScheduledDetector):  # waits for its turn; may drop a frame too old by then
                found = detector.detect(frame.image, size, frame_time=frame.timestamp)
            else:
                found = detector.detect(frame.image, size)
            self._last_found[name] = found
            if gate is not None:
                gate.ran(found, frame.timestamp)
            raw[name] = found
            if self.on_inference is not None:
                self.on_inference(name, time.perf_counter() - started)
        detections: dict[str, sv.Detections] = dict(reused)
        for name, found in raw.items():
            if name in self.trackers:
                tracked = with_label(found, *sorted(self.labels_tracked[name]))
                tracked = self.trackers[name].update(tracked, timestamp=frame.timestamp)
                untracked = with_label(found, *sorted(self.labels_asked[name] - self.labels_tracked[name]))
                found = with_untracked(tracked, untracked)
            detections[name] = found
        return detections

    def input_size(self, model: str, frame: VideoFrame) -> InputSize | None:
        """The input `model` gets this camera's frames at (`cameras.<id>.inference`; None: the model's own size)."""
        height, width = frame.image.shape[:2]
        key = (model, width, height)
        if key not in self._inputs:
            size = choose_input(
                self.camera.inference.get(model), width, height, counts_people=model in self.people_models
            )
            self._inputs[key] = size
            log.info("camera %s: %dx%d frames go into model %r at %s", self.camera_id, width, height, model,
                     size.describe() if size else "its image_size")  # fmt: skip
        return self._inputs[key]

    def input_notes(self) -> list[str]:
        """The inputs chosen so far, one line per model and frame size (replays put them in their notes)."""
        return [
            f"model {model!r}: {width}x{height} frames at {size.describe() if size else 'its image_size'}"
            for (model, width, height), size in self._inputs.items()
        ]

    def step(self, frame: VideoFrame | None, health: CameraHealth, now: float) -> list[Event]:
        """One analysis step: a frame (or None when none came) through every rule."""
        detections = self.detect(frame) if frame is not None else {}  # raises FrameDropped before any rule runs
        if frame is not None:
            self._frame_times.append(frame.timestamp)
        observation = Observation(
            camera_id=self.camera_id,
            timestamp=frame.timestamp if frame is not None else now,
            frame=frame,
            detections=detections,
            health=health,
        )
        self.last_observation = observation
        if frame is not None:
            self.last_analysed = observation
        return [event for rule in self.rules if (event := rule.observe(observation)) is not None]

    @property
    def analysed_fps(self) -> float | None:
        if len(self._frame_times) < 2:
            return None
        span = self._frame_times[-1] - self._frame_times[0]
        return round((len(self._frame_times) - 1) / span, 2) if span > 0 else None


def with_untracked(tracked: sv.Detections, untracked: sv.Detections) -> sv.Detections:
    """The tracker's detections and those of labels no tracked rule reads (tracker id -1: never tracked)."""
    if len(untracked) == 0:
        return tracked
    untracked.tracker_id = np.full(len(untracked), -1, dtype=int)
    if len(tracked) == 0:
        return untracked
    if tracked.tracker_id is None:
        tracked.tracker_id = np.full(len(tracked), -1, dtype=int)
    return sv.Detections.merge([tracked, untracked])


class CameraRunner:
    """Runs one camera's pipeline on its own thread, reading from its stream, writing to the sink."""

    def __init__(
        self,
        pipeline: CameraPipeline,
        feed: FrameFeed,
        sink: IncidentSink,
        *,
        clock: Clock = SYSTEM_CLOCK,
        poll_s: float = 0.5,
        on_frame: Callable[[VideoFrame], None] | None = None,
        on_step: Callable[[CameraPipeline, VideoFrame | None, float], None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.on_step = on_step  # told after each step, with its time (the video checks of closures)
        self.on_frame = on_frame  # told of each analysed frame (the camera wall's thumbnails)
        self._on_frame_failing = False
        self.feed = feed
        self.sink = sink
        self.clock = clock
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"analysis-{pipeline.camera_id}", daemon=True)
        self._decode_control = feed if isinstance(feed, DecodeControl) else None
        self.frames_analysed = 0
        # frames a model's scheduler dropped as too old when their turn came (`scheduling.deadline_factor`)
        self.frames_late_dropped = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def _run(self) -> None:
        camera_id = self.pipeline.camera_id
        while not self._stop.is_set():
            frame = self.feed.next_frame(timeout=self.poll_s)
            if frame is None and self.feed.finished:
                break
            try:
                self.run_step(frame)
            except Exception:
                # One bad frame or one failing rule must not kill the camera; it is logged and analysis goes on.
                log.exception("camera %s: analysis step failed", camera_id)

    def _steer_decoding(self, frame: VideoFrame | None, *, keyframes: bool) -> None:
        """Tell the feed, right after each frame's step (its decode thread may be waiting for this), whether a
        still scene lets it decode keyframes only (`cameras.<id>.motion.still_decode`)."""
        if frame is not None and self._decode_control is not None:
            self._decode_control.decode_keyframes_only(keyframes, after_frame=frame.frame_id)

    def _tell_on_frame(self, frame: VideoFrame) -> None:
        """The frame's listener (the camera wall's thumbnail) is a nicety: its failure (a full disk) never costs an
        event; it is logged once until it works again."""
        assert self.on_frame is not None
        try:
            self.on_frame(frame)
        except Exception:
            if not self._on_frame_failing:
                log.exception("camera %s: the frame listener failed (logged once until it recovers)", frame.camera_id)
            self._on_frame_failing = True
        else:
            self._on_frame_failing = False

    def run_step(self, frame: VideoFrame | None) -> list[Event]:
        now = self.clock.time()
        try:
            events = self.pipeline.step(frame, self.feed.health, now)
        except FrameDropped as dropped:
            # Not run (too old by its turn, or the camera is stopping): no rule saw it, the motion gate detects
            # the next frame, and the next step takes the feed's newest frame.
            self._steer_decoding(frame, keyframes=False)
            if dropped.reason == "late":
                self.frames_late_dropped += 1
            return []
        except Exception:
            self._steer_decoding(frame, keyframes=False)  # a failed step: decode everything
            raise
        self._steer_decoding(frame, keyframes=self.pipeline.keyframes_suffice)
        if frame is not None:
            self.frames_analysed += 1
        for event in events:
            self.sink.handle(event)
        if frame is not None and self.on_frame is not None:
            self._tell_on_frame(frame)
        timestamp = frame.timestamp if frame is not None else now
        for rule in self.pipeline.rules:
            grace = rule.adoption_grace_s(self.pipeline.analysis_fps)
            self.sink.settle_adopted(self.pipeline.camera_id, rule.name, rule.state, timestamp, grace)
            for count in rule.take_line_counts():
                self.sink.line_count(self.pipeline.camera_id, count, timestamp)
        if self.on_step is not None:
            try:
                self.on_step(self.pipeline, frame, timestamp)
            except Exception:
                log.exception("camera %s: the step listener failed", self.pipeline.camera_id)
        return events
