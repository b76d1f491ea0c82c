"""CameraPipeline and CameraRunner: which models and rules a camera runs, frames through them to events.

No camera: frames are in memory, and the feed is an in-memory list. The models are either a scripted one (the
detections a test names for each frame: the pipeline's logic does not depend on what found them) or, where what
the model sees matters, the real fire model on a real still.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import supervision as sv

from analytics.detector import LABEL_KEY, Detector, InputSize
from analytics.events import EventPhase
from analytics.pipeline import CameraPipeline, CameraRunner, with_untracked
from ingest.frames import VideoFrame
from ingest.health import CameraHealth, CameraState
from ingest.testing import wait_until
from models.clock import ManualClock
from models.config import CameraConfig
from tests.analytics.helpers import ListSink, detections, online, people

ZONES = {"door": {"polygon": [[0, 0], [640, 0], [640, 480], [0, 480]]}}
LINES = {"gate": {"points": [[0, 240], [640, 240]]}}
# Motion gating off unless a test turns it on: every frame is detected (these frames are blank; the gate would skip)
NO_MOTION_GATE = {"enabled": False}
FIRE_STILLS = Path(__file__).resolve().parents[2] / "ingest" / "demo" / "fire_stills"


def camera(rules: dict, *, motion: dict | None = None, **fields: object) -> CameraConfig:
    return CameraConfig.model_validate(
        {"name": "cam", "url": "rtsp://127.0.0.1/x", "zones": ZONES, "lines": LINES, "rules": rules,
         "motion": NO_MOTION_GATE if motion is None else motion, **fields}
    )  # fmt: skip


def frame(i: int, t: float, image: np.ndarray | None = None, width: int = 640, height: int = 480) -> VideoFrame:
    pixels = image if image is not None else np.zeros((height, width, 3), dtype=np.uint8)
    return VideoFrame(camera_id="cam", frame_id=i, timestamp=t, pts=t, image=pixels)


class ScriptedDetector:
    """A model that finds, on the n-th frame it is asked about, the n-th detections of its script (then none)."""

    def __init__(self, name: str, script: list[sv.Detections] | None = None) -> None:
        self.name = name
        self.script = list(script or [])
        self.seen: list[InputSize | None] = []  # the input size of each call

    def detect(self, image: np.ndarray, input_size: InputSize | None = None) -> sv.Detections:
        self.seen.append(input_size)
        n = len(self.seen) - 1
        return self.script[n] if n < len(self.script) else detections([], "person")


def models(**scripts: list[sv.Detections]) -> dict[str, ScriptedDetector]:
    names = {"people", "fire_smoke", "vehicles"}
    return {name: ScriptedDetector(name, scripts.get(name)) for name in sorted(names)}


# ------------------------------------------------------------------------------------------ what a camera runs


@pytest.mark.parametrize(
    ("rules", "expected_rules", "expected_models", "fps", "tracked"),
    [
        ({}, ["camera_offline"], [], 2.0, []),  # nothing configured: camera health only, no model runs
        ({"camera_offline": {"enabled": False}, "camera_tamper": {}}, ["camera_tamper"], [], 2.0, []),
        ({"crowd": {}}, ["crowd", "camera_offline"], ["people"], 2.0, []),
        ({"crowd": {}, "fire_smoke": {}}, ["crowd", "fire_smoke", "camera_offline"], ["fire_smoke", "people"], 2.0, []),
        ({"intrusion": {"zone": "door"}}, ["camera_offline", "intrusion"], ["people"], 2.0, []),
        # a track-based rule raises the fps to tracking.min_fps and gets its model a tracker
        ({"loitering": {"zone": "door"}}, ["camera_offline", "loitering"], ["people"], 5.0, ["people"]),
        ({"line_crossing": {"line": "gate"}}, ["camera_offline", "line_crossing"], ["people"], 5.0, ["people"]),
    ],
)
def test_a_camera_runs_the_rules_models_and_fps_its_config_asks_for(
    rules: dict, expected_rules: list[str], expected_models: list[str], fps: float, tracked: list[str]
) -> None:
    pipeline = CameraPipeline("cam", camera(rules), models())

    assert [rule.name for rule in pipeline.rules] == expected_rules
    assert sorted(pipeline.detectors) == expected_models  # a loaded model no rule reads is never run
    assert pipeline.analysis_fps == fps
    assert sorted(pipeline.trackers) == tracked


def test_a_camera_at_a_higher_fps_than_tracking_needs_keeps_its_own() -> None:
    pipeline = CameraPipeline("cam", camera({"loitering": {"zone": "door"}}, analysis_fps=8), models())

    assert pipeline.analysis_fps == 8.0


# ------------------------------------------------------------------------------------------------- one step


def test_a_step_without_a_frame_runs_no_model_and_is_stamped_with_the_clock() -> None:
    detectors = models()
    pipeline = CameraPipeline("cam", camera({"crowd": {}}), detectors)
    health = CameraHealth("cam", CameraState.STALLED, 3.0, last_error="no frame for 5 s")

    events = pipeline.step(None, health, now=12.5)

    assert events == []
    assert detectors["people"].seen == []
    observation = pipeline.last_observation
    assert observation is not None
    assert (observation.timestamp, observation.frame, observation.detections) == (12.5, None, {})
    assert observation.health == health


def test_the_last_analysed_step_keeps_its_frame_when_a_later_step_has_none() -> None:
    """Evidence drawn after the fact (a video check's after snapshot) needs the pixels of the last analysed frame,
    also when the step that decides came without one."""
    pipeline = CameraPipeline("cam", camera({"crowd": {}}), models(people=[people(2)]))
    pipeline.step(frame(0, 1.0), online("cam"), 1.0)
    pipeline.step(None, online("cam"), 1.5)

    assert pipeline.last_observation is not None and pipeline.last_observation.frame is None
    analysed = pipeline.last_analysed
    assert analysed is not None and analysed.frame is not None and analysed.timestamp == 1.0
    assert len(analysed.detections["people"]) == 2


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([], []),  # no frames, no events
        ([9, 9], []),  # a crowd seen for 0.5 s only: not yet an incident (open_after_s 1)
        ([6, 6, 6, 6], [(1.0, EventPhase.OPENED, 6)]),
        ([6, 6, 6, 9], [(1.0, EventPhase.OPENED, 6), (1.5, EventPhase.UPDATED, 9)]),  # the peak grew
        ([6, 6, 6, 0, 0, 0], [(1.0, EventPhase.OPENED, 6), (2.5, EventPhase.CLOSED, 6)]),
        ([4, 4, 4, 4], []),  # never 5
    ],
)
def test_frames_through_the_crowd_rule_give_its_events(counts: list[int], expected: list[tuple]) -> None:
    config = {"min_people": 5, "open_after_s": 1, "close_after_s": 1, "count_window_s": 0, "dip_tolerance_s": 0}
    pipeline = CameraPipeline("cam", camera({"crowd": config}), models(people=[people(n) for n in counts]))

    events = [event for i in range(len(counts)) for event in pipeline.step(frame(i, i * 0.5), online("cam"), i * 0.5)]

    assert [(e.timestamp, e.phase, e.count) for e in events] == expected
    assert all(e.camera_id == "cam" and e.category == "crowd_gathering" for e in events)


def test_only_the_labels_a_tracked_rule_reads_get_track_ids() -> None:
    """Loitering tracks people; the fall rule reads the same model's `fall` boxes untracked (tracker id -1): a fallen
    person is both a `person` and a `fall` box, and tracking both would swap ids between them."""
    found = detections([(100, 100, 140, 220), (300, 100, 340, 220)], "person")
    fallen = detections([(100, 100, 140, 220)], "fall")
    script = [sv.Detections.merge([found, fallen])] * 3
    rules = {"loitering": {"zone": "door"}, "fall": {}}
    pipeline = CameraPipeline("cam", camera(rules), models(people=script))

    for i in range(3):
        pipeline.step(frame(i, i * 0.2), online("cam"), i * 0.2)

    observation = pipeline.last_observation
    assert observation is not None
    seen = observation.detections["people"]
    by_label = {label: seen.tracker_id[seen.data[LABEL_KEY] == label].tolist() for label in ("person", "fall")}
    assert len(by_label["person"]) == 2 and all(i >= 0 for i in by_label["person"]) and len(set(by_label["person"])) == 2
    assert by_label["fall"] == [-1]


@pytest.mark.parametrize(
    ("width", "height", "people_input", "fire_input"),
    [
        (640, 480, None, None),  # SD: every model at its own size
        (1280, 720, "3072 px", None),  # HD: people are enlarged (image_size auto), fire is not
        (3840, 2160, "3072 px", None),
    ],
)
def test_the_input_size_each_model_gets_follows_the_frame_size(
    width: int, height: int, people_input: str | None, fire_input: str | None
) -> None:
    detectors = models()
    pipeline = CameraPipeline("cam", camera({"crowd": {}, "fire_smoke": {}}), detectors)

    pipeline.step(frame(0, 0.0, width=width, height=height), online("cam"), 0.0)

    described = {name: (d.seen[0].describe() if d.seen[0] else None) for name, d in detectors.items() if d.seen}
    assert described == {"people": people_input, "fire_smoke": fire_input}
    assert sorted(pipeline.input_notes()) == sorted(
        f"model {name!r}: {width}x{height} frames at {size or 'its image_size'}" for name, size in described.items()
    )


def test_an_inference_listener_is_told_each_model_and_its_time() -> None:
    pipeline = CameraPipeline("cam", camera({"crowd": {}, "fire_smoke": {}}), models())
    told: list[tuple[str, float]] = []
    pipeline.on_inference = lambda model, seconds: told.append((model, seconds))

    pipeline.step(frame(0, 0.0), online("cam"), 0.0)
    pipeline.step(None, online("cam"), 0.5)

    assert sorted(model for model, _ in told) == ["fire_smoke", "people"]  # once per frame, not for the empty step
    assert all(0 <= seconds < 1 for _, seconds in told)


@pytest.mark.parametrize(
    ("timestamps", "fps"),
    [
        ([], None),  # nothing analysed yet
        ([0.0], None),  # one frame is no rate
        ([5.0, 5.0], None),  # no time passed
        ([0.0, 0.5, 1.0, 1.5], 2.0),
        ([0.0, 0.2, 0.4], 5.0),
        ([float(i) for i in range(30)], 1.0),  # over the last 20 frames
    ],
)
def test_analysed_fps_is_measured_on_frame_times(timestamps: list[float], fps: float | None) -> None:
    pipeline = CameraPipeline("cam", camera({}), models())

    for i, t in enumerate(timestamps):
        pipeline.step(frame(i, t), online("cam"), t)

    assert pipeline.analysed_fps == fps


def tracked_boxes(ids: list[int]) -> sv.Detections:
    found = detections([(10.0 * i, 0, 10.0 * i + 5, 5) for i in range(len(ids))], "person")
    found.tracker_id = np.array(ids, dtype=int) if ids else None
    return found


@pytest.mark.parametrize(
    ("tracked_ids", "untracked", "expected_ids"),
    [
        ([], 0, []),  # nothing found
        ([3, 4], 0, [3, 4]),
        ([], 2, [-1, -1]),  # only untracked labels: never tracked
        ([7], 1, [7, -1]),
    ],
)
def test_untracked_detections_join_the_tracked_with_id_minus_one(
    tracked_ids: list[int], untracked: int, expected_ids: list[int]
) -> None:
    others = detections([(0, 0, 5, 5)] * untracked, "fall")

    merged = with_untracked(tracked_boxes(tracked_ids), others)

    assert (merged.tracker_id.tolist() if merged.tracker_id is not None else []) == expected_ids
    assert merged.data[LABEL_KEY].tolist() == ["person"] * len(tracked_ids) + ["fall"] * untracked


# ----------------------------------------------------------------------------------------------- the runner


class ListFeed:
    """An in-memory stream: its frames in order, then finished. Records what analysis asked it to decode."""

    def __init__(self, frames: list[VideoFrame]) -> None:
        self.frames = list(frames)
        self.health = CameraHealth("cam", CameraState.ONLINE, 0.0)
        self.decode_requests: list[tuple[bool, int | None]] = []

    def next_frame(self, timeout: float) -> VideoFrame | None:
        return self.frames.pop(0) if self.frames else None

    @property
    def finished(self) -> bool:
        return not self.frames

    def decode_keyframes_only(self, enabled: bool, *, after_frame: int | None = None) -> None:
        self.decode_requests.append((enabled, after_frame))


def test_the_runner_hands_events_to_the_sink_and_counts_analysed_frames() -> None:
    config = {"min_people": 5, "open_after_s": 0, "count_window_s": 0, "dip_tolerance_s": 0}
    pipeline = CameraPipeline("cam", camera({"crowd": config}), models(people=[people(2), people(6)]))
    feed = ListFeed([frame(0, 0.0), frame(1, 0.5)])
    sink = ListSink()
    runner = CameraRunner(pipeline, feed, sink, clock=ManualClock(100.0))  # type: ignore[arg-type]

    steps = [runner.run_step(feed.next_frame(0.1)) for _ in range(2)] + [runner.run_step(None)]

    assert [[(e.phase, e.count) for e in step] for step in steps] == [[], [(EventPhase.OPENED, 6)], []]
    assert [(e.phase, e.timestamp) for e in sink.events] == [(EventPhase.OPENED, 0.5)]
    assert runner.frames_analysed == 2  # the empty step is not a frame


def test_the_runner_thread_analyses_every_frame_until_the_feed_finishes() -> None:
    config = {"min_people": 5, "open_after_s": 0, "close_after_s": 0, "count_window_s": 0, "dip_tolerance_s": 0}
    counts = [6, 6, 0, 7]
    pipeline = CameraPipeline("cam", camera({"crowd": config}), models(people=[people(n) for n in counts]))
    sink = ListSink()
    runner = CameraRunner(pipeline, ListFeed([frame(i, i * 0.5) for i in range(4)]), sink, poll_s=0.01)  # type: ignore[arg-type]

    runner.start()
    finished = wait_until(lambda: runner.done, timeout=10.0)  # the feed finished: the thread ends by itself
    runner.stop()

    assert finished and runner.frames_analysed == 4
    assert [(e.phase, e.timestamp) for e in sink.events] == [
        (EventPhase.OPENED, 0.0), (EventPhase.CLOSED, 1.0), (EventPhase.OPENED, 1.5)
    ]  # fmt: skip


def test_a_failing_frame_listener_costs_no_event_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    config = {"min_people": 5, "open_after_s": 1, "count_window_s": 0, "dip_tolerance_s": 0}
    pipeline = CameraPipeline("cam", camera({"crowd": config}), models(people=[people(6)] * 3))
    sink = ListSink()

    def full_disk(_frame: VideoFrame) -> None:
        raise OSError("No space left on device")

    runner = CameraRunner(pipeline, ListFeed([]), sink, on_frame=full_disk)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="analytics.pipeline"):
        for i in range(3):
            runner.run_step(frame(i, i * 0.5))

    assert [(e.phase, e.timestamp) for e in sink.events] == [(EventPhase.OPENED, 1.0)]
    assert [r.getMessage() for r in caplog.records] == [
        "camera cam: the frame listener failed (logged once until it recovers)"
    ]


@pytest.mark.parametrize(
    ("still_decode", "rules", "expected"),
    [
        # a still scene with no rule pending: keyframes only from the second frame (the first has nothing to
        # compare with)
        ("keyframes", {"fire_smoke": {}}, [(False, 0), (True, 1), (True, 2)]),
        ("all", {"fire_smoke": {}}, [(False, 0), (False, 1), (False, 2)]),  # configured to decode everything
        ("keyframes", {"loitering": {"zone": "door"}}, [(False, 0), (False, 1), (False, 2)]),  # a tracker needs all
        ("keyframes", {}, [(False, 0), (False, 1), (False, 2)]),  # no model: nothing to save
    ],
)
def test_the_runner_tells_the_feed_when_keyframes_suffice(still_decode: str, rules: dict, expected: list) -> None:
    pipeline = CameraPipeline("cam", camera(rules, motion={"still_decode": still_decode}), models())
    feed = ListFeed([])
    runner = CameraRunner(pipeline, feed, ListSink())  # type: ignore[arg-type]

    for i in range(3):
        runner.run_step(frame(i, i * 0.5))
    runner.run_step(None)  # no frame: nothing to say

    assert feed.decode_requests == expected


# ------------------------------------------------------------------------------------------ the real model


def test_a_fire_still_opens_a_fire_incident_through_the_real_model(real_detectors: dict[str, Detector]) -> None:
    image = cv2.imread(str(FIRE_STILLS / "01_fire2_mp4-29.jpg"))
    assert image is not None
    blank = np.full_like(image, 127)
    pipeline = CameraPipeline("cam", camera({"fire_smoke": {}}), real_detectors)

    on_blank = [e for i in range(6) for e in pipeline.step(frame(i, i * 0.5, blank), online("cam"), i * 0.5)]
    on_fire = [e for i in range(6, 12) for e in pipeline.step(frame(i, i * 0.5, image), online("cam"), i * 0.5)]

    assert on_blank == []
    assert [(e.phase, e.rule, e.category) for e in on_fire] == [(EventPhase.OPENED, "fire_smoke", "fire_hazard")]
    assert on_fire[0].timestamp == 4.5  # k = 4 hits of the last n = 6 frames: the 4th fire frame
    assert on_fire[0].confidence is not None and on_fire[0].confidence >= 0.4
