"""Evidence snapshots read at 320 px wide: boxes at least 2 px, labels with their confidence, the rule's zone or
line drawn; the snapshot shows the rule's best frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from analytics.events import Evidence
from analytics.evidence import LABEL_COLORS, ZONE_COLOR, RuleGeometry, render_snapshot
from ingest.frames import VideoFrame
from tests.analytics.helpers import detections

GRAY = 90


def shrunk(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    height = round(image.shape[0] * 320 / image.shape[1])
    return cv2.resize(image, (320, height), interpolation=cv2.INTER_AREA)


def near(image: np.ndarray, bgr: tuple[int, int, int], tolerance: int = 60) -> np.ndarray:
    return np.all(np.abs(image.astype(int) - np.array(bgr)) <= tolerance, axis=2)


def evidence(width: int, height: int, boxes, label="fire", confidence=0.87) -> Evidence:
    image = np.full((height, width, 3), GRAY, dtype=np.uint8)
    frame = VideoFrame(camera_id="cam", frame_id=1, timestamp=0.0, pts=None, image=image)
    return Evidence(frame, detections(boxes, label, confidence))


@pytest.mark.parametrize(("width", "height"), [(640, 360), (1280, 720), (1920, 1080), (2560, 1440)])
def test_a_box_edge_is_at_least_2_px_and_its_label_readable_at_320_px(width, height):
    s = width / 320
    box = (0.4 * width, 0.45 * height, 0.6 * width, 0.8 * height)
    small = shrunk(render_snapshot(evidence(width, height, [box])))
    red = near(small, LABEL_COLORS["fire"].as_bgr())
    x_mid = round((box[0] + box[2]) / 2 / s)
    # the box's left edge, halfway down: a run of red pixels at least 2 wide
    y_mid = round((box[1] + box[3]) / 2 / s)
    assert red[y_mid, round(box[0] / s) - 3: round(box[0] / s) + 4].sum() >= 2
    # the label above the box: a red band with white text, at least 9 px high at 320 px
    above = red[: round(box[1] / s) + 1, x_mid - 5: x_mid + 5].any(axis=1)
    assert above.sum() >= 9
    label_rows = slice(max(0, round(box[1] / s) - 25), round(box[1] / s))
    white = near(small[label_rows, round(box[0] / s): round(box[2] / s) + 30], (255, 255, 255), 80)
    assert white.sum() >= 20  # the text "fire 0.87"


def test_the_label_says_what_and_how_sure():
    from unittest import mock

    import supervision as sv

    def keep(self, image, found, labels):  # type: ignore[no-untyped-def]
        return image

    with mock.patch.object(sv.LabelAnnotator, "annotate", autospec=True, side_effect=keep) as annotate:
        render_snapshot(evidence(640, 360, [(10, 10, 100, 100), (200, 50, 300, 200)], "person", 0.5))
    assert annotate.call_args.kwargs["labels"] == ["person 0.50", "person 0.50"]


def test_the_rules_zone_and_line_are_drawn():
    width, height = 1280, 720
    zone = np.array([[100, 100], [600, 100], [600, 500], [100, 500]], dtype=float)
    line = np.array([[900, 100], [900, 650]], dtype=float)
    plain = shrunk(render_snapshot(evidence(width, height, [])))
    drawn = shrunk(render_snapshot(evidence(width, height, []), geometry=RuleGeometry(zones=(zone,), lines=(line,))))
    yellow = near(drawn, ZONE_COLOR.as_bgr(), 50)
    assert not near(plain, ZONE_COLOR.as_bgr(), 50).any()
    assert yellow[round(300 / 4), round(100 / 4) - 2: round(100 / 4) + 3].sum() >= 2  # the zone's left edge
    assert yellow[round(400 / 4), round(900 / 4) - 2: round(900 / 4) + 3].sum() >= 2  # the line
    inside = drawn[round(300 / 4), round(350 / 4)].astype(int)
    assert inside[2] > GRAY + 10 and inside[0] < GRAY  # the zone is shaded yellow, the frame still shows through


def test_an_empty_frame_renders():
    assert shrunk(render_snapshot(evidence(640, 360, []))).shape == (180, 320, 3)


def test_every_domain_label_has_its_own_colour_apart_from_the_zone():
    from models.labels import DOMAIN_LABELS

    assert set(LABEL_COLORS) == set(DOMAIN_LABELS)
    colours = [LABEL_COLORS[label].as_bgr() for label in DOMAIN_LABELS] + [ZONE_COLOR.as_bgr()]
    assert len(set(colours)) == len(colours)


@pytest.mark.parametrize("label", ["car", "fall", "smoke"])
def test_a_box_is_drawn_in_its_labels_colour(label):
    small = shrunk(render_snapshot(evidence(640, 360, [(200, 100, 400, 300)], label)))
    edge = near(small, LABEL_COLORS[label].as_bgr(), tolerance=40)[75:140, 95:106]  # the box's left edge
    assert edge.sum() >= 2 * 40
