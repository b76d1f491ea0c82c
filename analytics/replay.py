"""Replay a recorded clip through the live pipeline: the same CameraStream, CameraPipeline, CameraRunner step and
IncidentSink as a live camera, with the clock pinned so that the same clip, config and models give the same
incidents at the same frame times on every run.

How a replay differs from a live camera, and nothing else:
- The source is the clip: a file read as fast as analysis takes frames (`realtime=False`, `DropPolicy.BLOCK`: no
  frame is dropped, whatever the speed), or, with `rtsp=True`, the clip served by a local RTSP server and read as
  a live camera (newest frame wins, as live).
- Time: every frame is stamped `epoch + pts` (`epoch` defaults to REPLAY_EPOCH, 2000-01-01T00:00:00Z), so an
  incident's `opened_at - epoch` is its second in the clip. Frame selection is by pts only; `speed` only paces the
  wall clock (None: as fast as analysis goes) and never changes which frames are analysed.
- The camera is a test camera: a configured camera's zones, rules and analysis fps under a replay camera id,
  incidents marked `is_test=True`, no camera-offline rule (a clip's health is not a camera's), no camera status
  records. Incidents still open when the clip ends are closed at the last analysed frame.
- Every analysed frame is recorded (`FrameRecord`): what each rule records of it (`Rule.record`: the crowd rule's
  count, the fire rule's best confidence and whether it was a hit, ...) and every detection, for scoring and plots.
- The camera is analysed at the fps the live camera would be (`analytics.rules.analysis_fps`: raised for
  track-based rules).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
import supervision as sv
from pydantic import SecretStr

from analytics.detector import LABEL_KEY, Detector, confidences
from analytics.events import Event, EventPhase, Observation
from analytics.incident_builder import IncidentBuilder
from analytics.incident_sink import IncidentSink
from analytics.pipeline import CameraPipeline, CameraRunner
from analytics.rules import analysis_fps
from analytics.rules.base import RecordValue, ReplaySeries
from analytics.scoring import CountSample, DetectedEvent
from ingest.camera_stream import CameraStream, DropPolicy
from ingest.frames import VideoFrame
from ingest.health import CameraHealth, CameraState
from ingest.sampling import FrameSampler
from models.clock import SYSTEM_CLOCK, ManualClock, OffsetClock
from models.config import CameraConfig, ServiceConfig, StreamConfig
from models.incident import Incident
from models.push import PushJournal

log = logging.getLogger(__name__)

REPLAY_EPOCH = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".ts", ".m4v", ".webm", ".mpg", ".mpeg", ".flv"})
_POLL_S = 0.5
_RTSP_READY_TIMEOUT_S = 30.0


class ReplayInputError(ValueError):
    """The replay cannot start: a missing or unreadable clip, an unknown camera, a bad speed. The caller's fault."""


class ReplayFailedError(RuntimeError):
    """The replay started but could not finish (the clip stopped decoding, the RTSP server failed)."""


def parse_speed(text: str) -> float | None:
    """'max' → None (as fast as analysis goes), 'realtime' → 1.0, '2x' → 2.0, '0.5x' → 0.5."""
    value = text.strip().lower()
    if value == "max":
        return None
    if value == "realtime":
        return 1.0
    try:
        speed = float(value.removesuffix("x"))
    except ValueError:
        speed = math.nan
    if not (math.isfinite(speed) and speed > 0) or not value.endswith("x"):
        raise ReplayInputError(f"speed must be realtime, max or a factor like 2x, got {text!r}")
    return speed


def clip_files(paths: list[Path]) -> list[Path]:
    """The clips named: files as given, folders expanded to their video files (by suffix, sorted)."""
    clips: list[Path] = []
    for path in paths:
        if path.is_dir():
            clips += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        else:
            clips.append(path)
    return clips


# --------------------------------------------------------------------------------------------------------------
# The clip
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ClipInfo:
    path: Path
    duration_s: float
    frames: int
    analysed_frames: int  # frames the sampler will take at the camera's analysis fps (the progress total)


def probe_clip(path: Path, analysis_fps: float, epoch: float = REPLAY_EPOCH) -> ClipInfo:
    """Check that `path` is a readable video and measure it (demuxes, does not decode). ReplayInputError if not."""
    if not path.is_file():
        raise ReplayInputError(f"clip not found: {path}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ReplayInputError(f"{path.name}: no video track")
            stream = container.streams.video[0]
            ticks = [
                t
                for packet in container.demux(stream)
                if packet.size and (t := packet.pts if packet.pts is not None else packet.dts) is not None
            ]
            time_base = stream.time_base
            rate = stream.average_rate or stream.guessed_rate
            stream_duration = float(stream.duration * time_base) if stream.duration and time_base else None
            container_duration = container.duration / 1e6 if container.duration else None
    except ReplayInputError:
        raise
    except Exception as exc:  # PyAV raises many FFmpeg error types for files that are not video
        raise ReplayInputError(f"{path.name}: not a readable video ({type(exc).__name__}: {exc})") from None
    if not ticks or time_base is None:
        raise ReplayInputError(f"{path.name}: no video frames")
    origin = min(ticks)
    seconds = sorted(float((t - origin) * time_base) for t in ticks)
    interval = float(1 / rate) if rate else 0.0
    duration = stream_duration or container_duration or seconds[-1] + interval
    sampler = FrameSampler(analysis_fps)
    analysed = sum(1 for s in seconds if sampler.due(epoch + s))
    return ClipInfo(path=path, duration_s=round(duration, 3), frames=len(seconds), analysed_frames=analysed)


# --------------------------------------------------------------------------------------------------------------
# What a replay produces
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedDetection:
    """One detection on a recorded frame: its box (pixels), confidence and label.

    In frames.jsonl it is the list `[x1, y1, x2, y2, confidence, label]` (`as_list`, `from_list`).
    """

    x1: float
    y1: float
    x2: float
    y2: float
    confidence: float
    label: str

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    def as_list(self) -> list[float | str]:
        return [self.x1, self.y1, self.x2, self.y2, self.confidence, self.label]

    @classmethod
    def from_list(cls, row: list[float | str] | tuple[float | str, ...]) -> RecordedDetection:
        """A detection as frames.jsonl writes it. ValueError when the row is not four numbers, a confidence and a
        label."""
        try:
            x1, y1, x2, y2, confidence, label = row
            return cls(
                x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2), confidence=float(confidence), label=str(label)
            )
        except (TypeError, ValueError):
            raise ValueError(f"a recorded detection is [x1, y1, x2, y2, confidence, label], got {row!r}") from None


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One analysed frame of a replay."""

    t: float  # seconds from the clip's start
    frame_id: int
    width: int
    height: int
    detections: dict[str, list[RecordedDetection]]  # by model
    # What the rules recorded (Rule.record), e.g. people (crowd), fire_confidence and fire_hit (fire_smoke),
    # intruders, longest_in_zone_s, crossed_in / crossed_out. A key is absent when no rule records it.
    values: dict[str, RecordValue] = field(default_factory=dict)

    @property
    def people(self) -> int | None:
        """What the crowd rule counted (None: the camera has no crowd rule)."""
        people = self.values.get("people")
        return int(people) if people is not None else None

    def as_dict(self) -> dict[str, object]:
        return {
            "t": self.t,
            "frame_id": self.frame_id,
            "width": self.width,
            "height": self.height,
            **self.values,
            "detections": {name: [d.as_list() for d in found] for name, found in self.detections.items()},
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayPlan:
    """What to replay and how."""

    clip: Path
    camera_id: str  # the configured camera whose zones, rules and analysis fps are used
    replay_camera_id: str  # the id incidents carry (the configured id itself in a dedicated store)
    camera_name: str | None = None  # the name incidents carry; the camera's own name when None
    speed: float | None = None  # None: as fast as analysis goes; 1.0: real time
    rtsp: bool = False  # serve the clip over a local RTSP server and read it as a live camera
    epoch: float = REPLAY_EPOCH  # the instant the clip's first frame is stamped with


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedReplay:
    """A plan checked and ready to run: the replay camera and its clip, measured."""

    camera: CameraConfig  # the configured camera as replayed (replay_camera)
    info: ClipInfo


@dataclass(kw_only=True)
class ClipReplay:
    """What one clip's replay produced: the incidents (final states), every analysed frame, how long it took."""

    plan: ReplayPlan
    camera: CameraConfig  # the replay camera (the configured camera as replayed)
    info: ClipInfo
    incidents: list[Incident]  # final states, in opening order
    ended_with_clip: set[str]  # ids of incidents still open at the clip's end (closed there by the replay)
    frames: list[FrameRecord]
    frames_dropped: int
    wall_s: float
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)
    series: dict[str, ReplaySeries] = field(default_factory=dict)  # by rule: its timeline panel in the report

    def clip_seconds(self, at: datetime) -> float:
        return round(at.timestamp() - self.plan.epoch, 3)

    def zone_of(self, rule: str) -> str | None:
        config = getattr(self.camera.rules, rule, None)
        zones = config.zone_refs() if config is not None else {}
        return zones.get("zone")

    def detected_events(self) -> list[DetectedEvent]:
        events = []
        for incident in self.incidents:
            end = incident.closed_at if incident.closed_at is not None else incident.updated_at
            end_s = self.info.duration_s if incident.id in self.ended_with_clip else self.clip_seconds(end)
            start_s = self.clip_seconds(incident.opened_at)
            events.append(
                DetectedEvent(
                    type=incident.rule, start=start_s, end=max(start_s, end_s), zone=self.zone_of(incident.rule),
                    confidence=incident.peak_confidence,
                )
            )  # fmt: skip
        return events

    def count_samples(self) -> list[CountSample]:
        return [CountSample(t=f.t, people=f.people) for f in self.frames if f.people is not None]


# --------------------------------------------------------------------------------------------------------------
# The replay camera
# --------------------------------------------------------------------------------------------------------------


def replay_camera(config: ServiceConfig, plan: ReplayPlan) -> CameraConfig:
    """The configured camera as a replay runs it (see the module docstring). ReplayInputError if unknown."""
    camera = config.cameras.get(plan.camera_id)
    if camera is None:
        raise ReplayInputError(f"unknown camera {plan.camera_id!r} (configured: {', '.join(config.cameras)})")
    off = {
        name: rule.model_copy(update={"enabled": False})
        for name, rule in camera.rules.enabled()
        if not rule.RUNS_IN_REPLAYS
    }
    rules = camera.rules.model_copy(update=off)
    if not any(True for _ in rules.enabled()):
        raise ReplayInputError(f"camera {plan.camera_id!r} has no rule a replay can run (camera health cannot be)")
    replayed = camera.model_copy(
        update={
            "name": plan.camera_name or camera.name,
            "url": SecretStr(str(plan.clip)),
            "loop": False,
            "enabled": True,
            "rules": rules,
        }
    )
    return replayed.model_copy(update={"analysis_fps": analysis_fps(replayed)})


def replay_config(config: ServiceConfig, replay_camera_id: str, camera: CameraConfig) -> ServiceConfig:
    """`config` with the replay camera as its only camera (the incident builder locates and names incidents from it)."""
    return ServiceConfig(
        grid=config.grid,
        event_categories=config.event_categories,
        models=config.models,
        cameras={replay_camera_id: camera},
        store=config.store,
        server=config.server,
    )


def models_for(camera: CameraConfig) -> set[str]:
    return {model for _, rule in camera.rules.enabled() if (model := rule.model_name) is not None}


# --------------------------------------------------------------------------------------------------------------
# Running one clip
# --------------------------------------------------------------------------------------------------------------


class ClipReplayer:
    """Replays clips through the live pipeline, writing incidents through `journal` (store first, then pushed)."""

    def __init__(
        self, config: ServiceConfig, detectors: Mapping[str, Detector], journal: PushJournal, snapshot_dir: Path
    ) -> None:
        self.config = config
        self.detectors = detectors
        self.journal = journal
        self.snapshot_dir = snapshot_dir

    def prepare(self, plan: ReplayPlan) -> PreparedReplay:
        """Check the plan before running it (ReplayInputError): camera, clip, models."""
        camera = replay_camera(self.config, plan)
        info = probe_clip(plan.clip, camera.analysis_fps, plan.epoch)
        missing = models_for(camera) - set(self.detectors)
        if missing:
            raise ReplayInputError(f"camera {plan.camera_id!r} needs models that are not loaded: {sorted(missing)}")
        return PreparedReplay(camera=camera, info=info)

    def run(
        self,
        plan: ReplayPlan,
        *,
        on_frame: Callable[[FrameRecord], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ClipReplay:
        prepared = self.prepare(plan)
        camera, info = prepared.camera, prepared.info
        cancel = cancel or threading.Event()
        started = time.monotonic()  # how long the replay really took (reported), not the pinned clock's time
        sink = IncidentSink(
            IncidentBuilder(replay_config(self.config, plan.replay_camera_id, camera), is_test=True),
            self.journal,
            self.snapshot_dir,
        )
        pipeline = CameraPipeline(plan.replay_camera_id, camera, self.detectors)
        incident_ids: list[str] = []
        frames: list[FrameRecord] = []
        notes: list[str] = []
        last_timestamp: float | None = None
        frames_dropped = 0
        try:
            with self._frames(plan, camera, cancel, notes) as (stream, frame_iter):
                runner = CameraRunner(pipeline, stream, sink, clock=ManualClock(plan.epoch))  # pinned: never moved
                for frame in frame_iter:
                    runner.run_step(frame)
                    last_timestamp = frame.timestamp
                    for rule in pipeline.rules:
                        open_incident = sink.open_incident(plan.replay_camera_id, rule.name)
                        if open_incident is not None and open_incident.id not in incident_ids:
                            incident_ids.append(open_incident.id)
                    record = frame_record(pipeline, frame, plan.epoch)
                    frames.append(record)
                    if on_frame is not None:
                        on_frame(record)
                frames_dropped = stream.health.frames_dropped
            notes += pipeline.input_notes()
        finally:  # also when the clip fails half way: no test incident is left open in the store
            ended = self._close_open(sink, pipeline, plan, last_timestamp)
        incidents = [i for i in (self.journal.store.incidents.get(x) for x in incident_ids) if i is not None]
        series = {rule.name: found for rule in pipeline.rules if (found := rule.replay_series()) is not None}
        return ClipReplay(
            plan=plan, camera=camera, info=info, incidents=incidents, ended_with_clip=ended, frames=frames,
            frames_dropped=frames_dropped, wall_s=round(time.monotonic() - started, 3), cancelled=cancel.is_set(),
            notes=notes, series=series,
        )  # fmt: skip

    # -- sources ---------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _frames(
        self, plan: ReplayPlan, camera: CameraConfig, cancel: threading.Event, notes: list[str]
    ) -> Iterator[tuple[CameraStream, Iterator[VideoFrame]]]:
        if plan.rtsp:
            with self._rtsp_frames(plan, camera, cancel, notes) as frames:
                yield frames
            return
        stream = CameraStream(
            plan.replay_camera_id,
            str(plan.clip),
            analysis_fps=camera.analysis_fps,
            drop_policy=DropPolicy.BLOCK,
            realtime=False,
            loop=False,
            clock=ManualClock(plan.epoch),  # pinned: a file's frames are stamped epoch + pts
        )
        stream.start()
        try:
            yield stream, self._paced(stream, plan.speed, cancel)
            health = stream.health
            if stream.finished and health.last_error not in (None, "end of file") and not cancel.is_set():
                raise ReplayFailedError(f"{plan.clip.name}: {health.last_error}")
        finally:
            stream.stop()

    @staticmethod
    def _paced(stream: CameraStream, speed: float | None, cancel: threading.Event) -> Iterator[VideoFrame]:
        """Every sampled frame in order; with `speed`, not before its pts (divided by speed) on the wall clock.
        (Media pacing: real monotonic time, not the service's clock, which a replay pins to its epoch.)"""
        anchor: tuple[float, float] | None = None  # (monotonic time, pts) of the first frame
        while not cancel.is_set():
            frame = stream.next_frame(timeout=_POLL_S)
            if frame is None:
                if stream.finished:
                    return
                continue  # slow decode; a replay never steps without a frame (that would read the wall clock)
            if speed is not None:
                pts = frame.pts or 0.0
                if anchor is None:
                    anchor = (time.monotonic(), pts)
                due = anchor[0] + (pts - anchor[1]) / speed
                if cancel.wait(max(0.0, due - time.monotonic())):
                    return
            yield frame

    @contextlib.contextmanager
    def _rtsp_frames(
        self, plan: ReplayPlan, camera: CameraConfig, cancel: threading.Event, notes: list[str]
    ) -> Iterator[tuple[CameraStream, Iterator[VideoFrame]]]:
        """The clip served by a local RTSP server (looping, paced in real time) and read as a live camera.

        The server loops the clip from the moment it starts, so a client joins mid-clip. The replay takes the
        frames of one whole loop, from the first loop start after it joined, and stamps them `epoch` + their
        offset in that loop (measured on the wall clock from the relay's start: ±0.3 s or so, not exact).
        """
        from ingest.rtsp_server import LocalRtspServer, prepare_clip

        loop_s = probe_clip(prepare_clip(plan.clip), camera.analysis_fps).duration_s
        server = LocalRtspServer()
        server.add_stream("replay", plan.clip)
        clock = OffsetClock(SYSTEM_CLOCK, plan.epoch - SYSTEM_CLOCK.time())  # the relay's start is the epoch
        server.start()
        stream: CameraStream | None = None
        try:
            server.wait_ready(_RTSP_READY_TIMEOUT_S)
            url = server.url("replay")  # the port is known once started
            stream = CameraStream(
                plan.replay_camera_id,
                url,
                analysis_fps=camera.analysis_fps,
                stream=StreamConfig(  # the camera's timeouts; a local server's transport (TCP) and backoff
                    open_timeout_s=camera.stream.open_timeout_s,
                    read_timeout_s=camera.stream.read_timeout_s,
                    stall_timeout_s=camera.stream.stall_timeout_s,
                ),
                drop_policy=DropPolicy.KEEP_NEWEST,
                clock=clock,
            )
            stream.start()
            notes.append(f"served over RTSP, one {loop_s:.1f} s loop taken; frame times are ±0.3 s")
            yield stream, self._one_loop(stream, plan.epoch, loop_s, cancel)
        finally:
            if stream is not None:
                stream.stop()
            server.stop()

    @staticmethod
    def _one_loop(stream: CameraStream, epoch: float, loop_s: float, cancel: threading.Event) -> Iterator[VideoFrame]:
        take_loop: int | None = None
        # a real RTSP server's loop: real seconds
        deadline = time.monotonic() + 3 * loop_s + _RTSP_READY_TIMEOUT_S
        while not cancel.is_set():
            if time.monotonic() > deadline:
                raise ReplayFailedError(f"RTSP replay did not get one whole loop: {stream.health.last_error}")
            frame = stream.next_frame(timeout=_POLL_S)
            if frame is None:
                continue
            since_feed = frame.timestamp - epoch
            loop = math.floor(since_feed / loop_s)
            if take_loop is None:
                take_loop = loop + 1  # joined mid-loop: wait for the next start of the clip
            if loop < take_loop:
                continue
            if loop > take_loop:
                return
            yield dataclasses.replace(frame, timestamp=epoch + since_feed - loop * loop_s)

    # -- the end -----------------------------------------------------------------------------------------------

    @staticmethod
    def _close_open(
        sink: IncidentSink, pipeline: CameraPipeline, plan: ReplayPlan, last_timestamp: float | None
    ) -> set[str]:
        """Close what is still open when the clip ends, at its last analysed frame, through the sink."""
        ended: set[str] = set()
        for rule in pipeline.rules:
            incident = sink.open_incident(plan.replay_camera_id, rule.name)
            if incident is None or last_timestamp is None:
                continue
            at = max(last_timestamp, incident.updated_at.timestamp())
            sink.handle(
                Event(
                    phase=EventPhase.CLOSED, rule=rule.name, category=rule.category, camera_id=plan.replay_camera_id,
                    timestamp=at, magnitude=0.0,
                )
            )  # fmt: skip
            ended.add(incident.id)
        return ended


def frame_record(pipeline: CameraPipeline, frame: VideoFrame, epoch: float) -> FrameRecord:
    """What the rules saw on the frame just analysed (no inference: reads the step's observation)."""
    observation = pipeline.last_observation
    assert observation is not None and observation.frame is frame
    values: dict[str, RecordValue] = {}
    for rule in pipeline.rules:
        values.update(rule.record(observation))
    return FrameRecord(
        t=round(frame.timestamp - epoch, 3),
        frame_id=frame.frame_id,
        width=frame.width,
        height=frame.height,
        detections={name: _detection_rows(found) for name, found in observation.detections.items()},
        values=values,
    )


def _detection_rows(detections: sv.Detections) -> list[RecordedDetection]:
    if len(detections) == 0:
        return []
    labels = detections.data.get(LABEL_KEY, [""] * len(detections))
    return [
        RecordedDetection(
            x1=round(float(x1), 1), y1=round(float(y1), 1), x2=round(float(x2), 1), y2=round(float(y2), 1),
            confidence=round(float(conf), 4), label=str(label),
        )  # fmt: skip
        for (x1, y1, x2, y2), conf, label in zip(detections.xyxy, confidences(detections), labels, strict=True)
    ]


def observation_of(record: FrameRecord, camera_id: str, model: str) -> Observation:
    """An Observation rebuilt from a recorded frame (blank pixels), for re-running a rule on recorded detections."""
    rows = record.detections.get(model, [])
    if rows:
        detections = sv.Detections(
            xyxy=np.array([r.xyxy for r in rows], dtype=float),
            confidence=np.array([r.confidence for r in rows], dtype=float),
            class_id=np.zeros(len(rows), dtype=int),
            data={LABEL_KEY: np.array([r.label for r in rows], dtype=object)},
        )
    else:
        detections = sv.Detections.empty()
        detections.data[LABEL_KEY] = np.array([], dtype=object)
    image = np.zeros((record.height, record.width, 3), dtype=np.uint8)
    frame = VideoFrame(camera_id=camera_id, frame_id=record.frame_id, timestamp=record.t, pts=record.t, image=image)
    health = CameraHealth(camera_id, CameraState.ONLINE, 0.0)
    return Observation(camera_id=camera_id, timestamp=record.t, frame=frame, detections={model: detections}, health=health)
