"""Detect where it moves: crops around the changed pixels, boxes back in frame coordinates, merged with the
detections that did not move, and the whole frame still detected when due."""

from __future__ import annotations

import numpy as np
import supervision as sv

from analytics.detector import LABEL_KEY, InputSize
from analytics.motion_crop import CropPlanner, Region, changed_box, crop_input, detect_in, merge, to_frame
from ingest.demo.footage import pedestrian_clip
from ingest.sampling import sampled_frames
from models.config import MotionConfig
from tests.analytics.helpers import detections


def test_boxes_found_on_the_crop_land_on_the_same_pixels_of_the_frame():
    found = to_frame(detections([(0, 0, 10, 20), (5.5, 7.25, 30, 40)], "person"), Region(100, 50, 300, 250))
    assert found.xyxy.tolist() == [[100, 50, 110, 70], [105.5, 57.25, 130, 90]]


def test_merge_keeps_what_lies_outside_and_replaces_what_lies_inside():
    previous = detections([(0, 0, 40, 80), (200, 100, 240, 180), (500, 300, 540, 380)], "person")
    found = detections([(210, 110, 250, 190)], "person")  # the one inside moved a little
    merged = merge(previous, found, Region(150, 50, 400, 250))
    assert sorted(merged.xyxy.tolist()) == [[0, 0, 40, 80], [210, 110, 250, 190], [500, 300, 540, 380]]
    assert list(merged.data[LABEL_KEY]) == ["person"] * 3
    assert len(merge(previous, detections([], "person"), Region(150, 50, 400, 250))) == 2  # it left the crop


def test_the_crop_runs_at_the_cameras_own_scale():
    region = Region(0, 0, 300, 200)
    assert crop_input(None, 640, 768, 576, region) == InputSize(256)  # 640/768 x 300 = 250 -> 256
    assert crop_input(InputSize(3072), 640, 1920, 1080, region) == InputSize(480)  # 1.6 x 300
    assert crop_input(InputSize(1024, 640), 640, 1920, 1080, region) == InputSize(480)  # 1.6 x 300, one tile
    assert crop_input(InputSize(1024, 640), 640, 1920, 1080, Region(0, 0, 900, 500)) == InputSize(1024, 640)


def blob_mask(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((144, 192), np.uint8)
    mask[y0:y1, x0:x1] = 255
    return mask


def test_a_small_change_is_cropped_a_large_one_and_the_interval_detect_the_frame():
    planner = CropPlanner(MotionConfig(crop=True, max_interval_s=10, crop_max_area=0.5))
    image = np.zeros((576, 768, 3), np.uint8)
    none: list[sv.Detections] = []
    assert planner.plan(None, "first", image, 0.0, None) is None  # the first frame: whole
    region = planner.plan(blob_mask(90, 60, 100, 80), "motion", image, 1.0, none)
    assert region is not None and region.x0 < 360 and region.x1 > 400 and region.y0 < 240 and region.y1 > 320
    assert region.area_fraction(768, 576) < 0.1
    assert planner.plan(blob_mask(0, 0, 150, 144), "motion", image, 2.0, none) is None  # too large
    assert planner.plan(blob_mask(90, 60, 100, 80), "motion", image, 5.0, none) is not None
    assert planner.plan(blob_mask(90, 60, 100, 80), "motion", image, 12.0, none) is None  # 10 s since the last whole
    assert planner.plan(blob_mask(90, 60, 100, 80), "motion", image, 13.0, none) is not None
    assert planner.frames_full == 3 and planner.frames_cropped == 3


def test_a_new_frame_size_detects_the_whole_frame():
    planner = CropPlanner(MotionConfig(crop=True))
    planner.plan(None, "first", np.zeros((576, 768, 3), np.uint8), 0.0, None)
    mask = blob_mask(90, 60, 100, 80)
    assert planner.plan(mask, "motion", np.zeros((576, 768, 3), np.uint8), 1.0, []) is not None
    assert planner.plan(mask, "motion", np.zeros((720, 1280, 3), np.uint8), 2.0, []) is None
    assert planner.plan(mask, "motion", np.zeros((720, 1280, 3), np.uint8), 3.0, []) is not None


def test_the_crop_grows_to_take_in_a_box_it_cuts():
    planner = CropPlanner(MotionConfig(crop=True))
    image = np.zeros((576, 768, 3), np.uint8)
    planner.plan(None, "first", image, 0.0, None)
    standing = detections([(300, 200, 500, 300)], "person")  # cut by the crop around the blob
    region = planner.plan(blob_mask(90, 60, 100, 80), "motion", image, 1.0, [standing])
    assert region is not None and region.x0 <= 300 and region.x1 >= 500 and region.y0 <= 200 and region.y1 >= 300


def test_changed_box_is_in_frame_pixels():
    box = changed_box(blob_mask(96, 72, 97, 73), 1920, 1440)
    assert box is not None and box.x0 < 960 < box.x1 and box.y0 < 720 < box.y1 and box.width < 200


def iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_the_people_model_finds_a_walker_in_a_crop_where_it_finds_him_in_the_frame(real_detectors):
    people = real_detectors["people"]
    _, image = next(iter(sampled_frames(pedestrian_clip(), fps=2, limit=1)))
    height, width = image.shape[:2]
    whole = people.detect(image, None)
    assert len(whole) >= 3
    checked = 0
    for box, label in zip(whole.xyxy, whole.data[LABEL_KEY], strict=True):
        x0, y0, x1, y1 = box
        if label != "person" or y1 - y0 < x1 - x0:
            continue  # upright walkers (a wide half-figure at the frame's bottom edge matches at IoU 0.62 only)
        region = Region(max(0, int(x0) - 64), max(0, int(y0) - 64), min(width, int(x1) + 64), min(height, int(y1) + 64))
        found = detect_in(people, image, region, None, None)
        assert len(found), f"no one found in the crop {region}"
        assert max(iou(box, other) for other in found.xyxy) >= 0.8
        checked += 1
    assert checked >= 3




def test_after_a_crop_a_change_outside_it_still_counts_against_the_old_picture():
    """Only the crop's part of the gate's reference is renewed: what changed outside is detected at the next frame."""
    from analytics.motion import MotionGate

    gate = MotionGate(MotionConfig(crop=True, max_interval_s=60))
    image = np.full((576, 768, 3), 128, np.uint8)
    gate.decide(image, 0.0)
    moved = image.copy()
    moved[100:200, 100:200] = 0  # the walker, cropped
    moved[400:440, 600:640] = 60  # a change elsewhere, outside the crop
    assert gate.decide(moved, 0.5).reason == "motion"
    gate.renew_reference_within(50, 50, 250, 250, 768, 576)
    after = gate.decide(moved, 1.0)
    assert after.reason == "motion"  # the change outside is still against the old picture
    assert gate.last_mask is not None and gate.last_mask[:72].max() == 0  # the crop's part is up to date


def test_a_camera_with_crop_on_counts_the_walkers_as_the_whole_frame_does(real_detectors):
    from analytics.pipeline import CameraPipeline
    from ingest.frames import VideoFrame
    from models.config import CameraConfig

    def camera(motion: dict) -> CameraConfig:
        return CameraConfig.model_validate(
            {"name": "c", "url": "file:///dev/null", "grid_cell": "1", "analysis_fps": 5,
             "rules": {"crowd": {"min_people": 1000}}, "motion": motion}
        )  # fmt: skip

    whole = CameraPipeline("c", camera({"enabled": False}), real_detectors)
    cropped = CameraPipeline("c", camera({"crop": True}), real_detectors)
    differences = []
    for i, (t, image) in enumerate(sampled_frames(pedestrian_clip(), fps=5, limit=10)):
        frame = VideoFrame(camera_id="c", frame_id=i, timestamp=t, pts=t, image=image)
        count = [int(np.count_nonzero(p.detect(frame)["people"].data[LABEL_KEY] == "person")) for p in (whole, cropped)]
        differences.append(count[1] - count[0])
    assert cropped.crop.frames_cropped >= 5  # walkers in part of the view: most frames are cropped
    assert max(abs(d) for d in differences) <= 1 and abs(sum(differences)) <= 3
