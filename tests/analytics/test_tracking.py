"""Tracking for the track-based rules: ids that hold at a low analysis fps, every label a rule asks for, and no
keyframe gaps (bench/tracking/RESULTS.md measures the settings on real footage)."""

from __future__ import annotations

import numpy as np
import supervision as sv

from analytics.detector import LABEL_KEY, InputSize
from analytics.pipeline import CameraPipeline
from analytics.tracking import make_tracker
from ingest.frames import VideoFrame
from models.config import CameraConfig, TrackingConfig
from tests.analytics.helpers import online


def walker(t: float, x0: float = 100, speed: float = 15, label: str = "person", confidence: float = 0.45):
    x = x0 + speed * t
    return (x, 200, x + 40, 320), label, confidence


def frame_of(*objects) -> sv.Detections:
    return sv.Detections(
        xyxy=np.array([o[0] for o in objects], dtype=float).reshape(-1, 4),
        confidence=np.array([o[2] for o in objects], dtype=float),
        class_id=np.zeros(len(objects), dtype=int),
        data={LABEL_KEY: np.array([o[1] for o in objects], dtype=object)},
    )


def test_a_walker_keeps_one_id_at_one_frame_a_second():
    """The old setting (lost_track_buffer 3 at 1 fps: 0.1 s, counted in 30-fps frames) dropped every track before
    the next frame, and ByteTrack's default high-confidence threshold (0.6) never started one from a 0.45 box."""
    tracker = make_tracker(TrackingConfig(), 1.0)
    ids = [tracker.update(frame_of(walker(t)), timestamp=1000.0 + t).tracker_id.tolist() for t in range(6)]
    assert ids[0] == [-1] and len({i for [i] in ids[1:]}) == 1 and ids[1][0] >= 0


def test_a_track_survives_a_missed_detection_but_not_keep_lost_s():
    tracker = make_tracker(TrackingConfig(keep_lost_s=3), 2.0)
    seen = [tracker.update(frame_of(walker(t / 2)), timestamp=t / 2).tracker_id[0] for t in range(4)]
    tracker.update(frame_of(), timestamp=2.0)  # missed for 1 s
    again = tracker.update(frame_of(walker(2.5)), timestamp=2.5).tracker_id[0]
    assert again == seen[-1] >= 0
    tracker.update(frame_of(), timestamp=3.0)
    gone = tracker.update(frame_of(walker(7.0)), timestamp=7.0).tracker_id[0]  # 4.5 s later: a new track
    assert gone != seen[-1]


class TwoLabelDetector:
    name = "street"

    def __init__(self) -> None:
        self.t = 0.0

    def detect(self, image: np.ndarray, input_size: InputSize | None = None) -> sv.Detections:
        self.t += 0.2
        return frame_of(walker(self.t), walker(self.t, x0=400, label="car", confidence=0.8),
                        walker(self.t, x0=250, label="dog", confidence=0.9))  # fmt: skip


def street_camera(**rules) -> CameraConfig:
    return CameraConfig.model_validate({
        "name": "street", "url": "rtsp://127.0.0.1/x", "analysis_fps": 1,
        "zones": {"all": {"polygon": [[0, 0], [640, 0], [640, 480], [0, 480]]}},
        "lines": {"kerb": {"points": [[0, 400], [640, 400]]}}, "rules": rules,
    })  # fmt: skip


def test_the_tracker_keeps_every_label_a_rule_asks_for_and_no_other():
    camera = street_camera(loitering={"model": "street", "zone": "all"},
                           line_crossing={"model": "street", "line": "kerb", "labels": ["car"]})  # fmt: skip
    pipeline = CameraPipeline("street", camera, {"street": TwoLabelDetector()})
    rng = np.random.default_rng(1)
    for i in range(5):  # a changing picture: motion gating lets every frame through
        image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        frame = VideoFrame(camera_id="street", frame_id=i, timestamp=i * 0.2, pts=i * 0.2, image=image)
        pipeline.step(frame, online("street"), i * 0.2)
    assert pipeline.last_observation is not None
    tracked = pipeline.last_observation.detections["street"]
    by_label = dict(zip(tracked.data[LABEL_KEY], tracked.tracker_id, strict=True))
    assert set(by_label) == {"person", "car"}  # the dog is asked for by no rule
    assert by_label["person"] >= 0 and by_label["car"] >= 0


def test_a_tracked_camera_is_analysed_at_min_fps_and_never_decodes_keyframes_only():
    still = np.zeros((480, 640, 3), dtype=np.uint8)
    tracked = CameraPipeline("street", street_camera(line_crossing={"model": "street", "line": "kerb"}),
                             {"street": TwoLabelDetector()})  # fmt: skip
    counting = CameraPipeline("street", street_camera(intrusion={"model": "street", "zone": "all", "labels": ["bus"]}),
                              {"street": TwoLabelDetector()})  # fmt: skip
    assert (tracked.analysis_fps, counting.analysis_fps) == (5.0, 1.0)
    for pipeline in (tracked, counting):
        for i in range(3):
            frame = VideoFrame(camera_id="street", frame_id=i, timestamp=float(i), pts=float(i), image=still)
            pipeline.step(frame, online("street"), float(i))
    assert counting.motion.scene_still and tracked.motion.scene_still
    assert not tracked.keyframes_suffice  # a keyframe gap would lose every track
    assert counting.keyframes_suffice  # an untracked camera with idle rules may, as before
