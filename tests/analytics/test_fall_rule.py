"""Fall: k of n frames with a person down, synthetic detections, an explicit clock (1 frame a second)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from analytics.detector import LABEL_KEY
from analytics.events import EventPhase
from analytics.pipeline import with_untracked
from analytics.rules.fall import FallRule
from analytics.rules.site import RuleSite
from analytics.zones import Zone
from models.config import FallRuleConfig, ZoneConfig
from tests.analytics.helpers import detections, observe

SITE = RuleSite({"hall": Zone.from_config("hall", ZoneConfig(polygon=[(0, 0), (200, 0), (200, 480), (0, 480)]))},
                {}, 1.0)  # fmt: skip


def down(count: int, x: float = 50, confidence: float = 0.8):
    boxes = [(x - 40 + 5 * i, 400, x + 40 + 5 * i, 440) for i in range(count)]  # lying: wide, low boxes
    return detections(boxes, "fall", confidence)


def run(rule, frames, start: float = 0.0):
    """One observation per second; each frame: how many people are down (or a Detections)."""
    out = []
    for i, frame in enumerate(frames):
        found = down(frame) if isinstance(frame, int) else frame
        event = rule.observe(observe(start + i, {"people": found}))
        if event is not None:
            out.append((start + i, event.phase, event.count, event.magnitude))
    return out


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        ([], []),  # nothing observed
        ([0] * 10, []),  # nobody down
        ([1, 1, 1, 0, 0, 0, 1, 1, 1], []),  # sitting down, bending: never 4 of 6
        ([1, 1, 0, 1, 1], [(4.0, EventPhase.OPENED, 1, 0.067)]),  # 4 of 5; down since 0 s: 4 s = 0.067 min
        # two down: the count grows in the open incident without an update; 10 frames with nobody down close
        ([1, 1, 1, 2] + [0] * 10, [(3.0, EventPhase.OPENED, 2, 0.05), (13.0, EventPhase.CLOSED, 2, 0.217)]),
    ],
)  # fmt: skip
def test_fall(frames, expected):
    assert run(FallRule(FallRuleConfig(), SITE), frames) == expected


def test_still_down_a_minute_later_updates_so_the_severity_can_rise():
    events = run(FallRule(FallRuleConfig(), SITE), [1] * 125)
    assert [(t, phase) for t, phase, _, _ in events] == [
        (3.0, EventPhase.OPENED), (60.0, EventPhase.UPDATED), (120.0, EventPhase.UPDATED)
    ]  # fmt: skip
    assert events[1][3] == 1.0  # minutes down: band A from 1 in the demo


def test_low_confidence_other_labels_and_outside_the_zone_are_not_falls():
    rule = FallRule(FallRuleConfig(min_confidence=0.5, zone="hall"), SITE)
    assert run(rule, [down(1, confidence=0.45)] * 6) == []
    assert run(rule, [detections([(10, 400, 90, 440)], "person")] * 6, start=10) == []
    assert run(rule, [down(1, x=400)] * 6, start=20) == []  # outside the hall
    assert run(rule, [down(1, x=100)] * 4, start=30)[0][1] is EventPhase.OPENED


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"min_hits": 7, "window_frames": 6}, "min_hits"), ({"min_confidence": 1.2}, "min_confidence"),
     ({"labels": []}, "labels"), ({"window_frames": 0}, "window_frames")],
)  # fmt: skip
def test_bad_thresholds_name_their_field(fields, field):
    with pytest.raises(ValidationError, match=field):
        FallRuleConfig(**fields)


def test_a_fall_label_stays_out_of_the_tracker_and_reaches_the_rules_untracked():
    tracked = detections([(10, 100, 50, 200)], "person")
    tracked.tracker_id = np.array([7])
    merged = with_untracked(tracked, down(1))
    assert list(merged.data[LABEL_KEY]) == ["person", "fall"] and list(merged.tracker_id) == [7, -1]
    assert len(with_untracked(detections([], "person"), down(2))) == 2


def test_a_model_without_the_fall_label_fails_the_config_naming_the_field():
    from models.config import ConfigError, parse_config
    from tests.conftest import demo_raw_config

    raw = demo_raw_config()
    camera_id = next(iter(raw["cameras"]))
    raw["cameras"][camera_id]["rules"]["fall"] = {}
    env = {"XUELIANG_DEMO_RTSP": "rtsp://127.0.0.1:9"}
    assert parse_config(raw, environ=env).models["people"].labels_of("Fall") == ("person", "fall")
    raw["models"]["people"]["labels"] = {"Normal": "person", "Fall": "person"}
    with pytest.raises(ConfigError, match=rf"cameras\.{camera_id}\.rules\.fall\.model: model 'people' gives no \['fall'\]"):
        parse_config(raw, environ=env)


def test_the_real_people_model_gives_a_fall_as_a_fall_and_as_a_person(real_detectors):
    """vtest's first frame: the jacket lying on the lawn is the model's `Fall` (bench/replay/RESULTS.md). With the
    demo's `Fall: [person, fall]` it is one `fall` box and the same box once as a `person`, never twice."""
    import cv2

    from ingest.demo.footage import pedestrian_clip

    capture = cv2.VideoCapture(str(pedestrian_clip()))
    ok, image = capture.read()
    capture.release()
    assert ok
    found = real_detectors["people"].detect(image)
    labels = list(found.data[LABEL_KEY])
    falls = [box for box, label in zip(found.xyxy.tolist(), labels, strict=True) if label == "fall"]
    persons = [box for box, label in zip(found.xyxy.tolist(), labels, strict=True) if label == "person"]
    assert len(falls) == 1 and falls[0] in persons
    assert len(persons) == len({tuple(box) for box in persons})  # no person counted twice


def test_on_a_tracked_camera_the_fall_boxes_bypass_the_tracker_and_reach_the_fall_rule():
    """A camera with line_crossing (tracked) and fall on one model that gives a fallen walker as a `person` and a
    `fall` box: the tracker sees only the persons (one id per walker), the fall rule its fall box."""
    from analytics.pipeline import CameraPipeline
    from ingest.frames import VideoFrame
    from models.config import CameraConfig
    from tests.analytics.helpers import HEIGHT, WIDTH, online

    class FallenWalker:
        name = "people"

        def detect(self, image, input_size=None):  # type: ignore[no-untyped-def]
            found = detections([(100.0, 300.0, 180.0, 340.0)] * 2, "person")  # one walker down, as the detector
            found.data[LABEL_KEY] = np.array(["person", "fall"], dtype=object)  # gives `Fall: [person, fall]`
            return found

    camera = CameraConfig.model_validate({
        "name": "cam", "url": "rtsp://127.0.0.1/x", "lines": {"gate": {"points": [[0, 100], [640, 100]]}},
        "rules": {"line_crossing": {"line": "gate"}, "fall": {}}, "motion": {"enabled": False},
    })  # fmt: skip
    pipeline = CameraPipeline("cam", camera, {"people": FallenWalker()})
    events = []
    for i in range(6):
        t = i / 5
        image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        frame = VideoFrame(camera_id="cam", frame_id=i, timestamp=t, pts=t, image=image)
        events += pipeline.step(frame, online("cam"), t)
    found = pipeline.last_observation.detections["people"]  # type: ignore[union-attr]
    by_label = dict(zip(found.data[LABEL_KEY], found.tracker_id, strict=True))
    assert by_label["person"] >= 0 and by_label["fall"] == -1  # the person is tracked, the fall never is
    assert [(e.rule, e.phase) for e in events] == [("fall", EventPhase.OPENED)]
