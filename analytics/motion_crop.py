"""Detect where it moves (as Frigate does): when the motion gate's changed pixels cover a small part of the frame,
the models run on a crop around them instead of the whole frame, and the detections outside the crop are reused.

Region: the changed pixels of the gate's small gray copy (against its reference), dilated so that nearby blobs join,
their bounding box in full-frame pixels plus `crop_margin` of its side (at least MIN_MARGIN_PX). The box then grows
to take in every previous detection it cuts, so a previous box is either wholly inside (detected again) or wholly
outside (kept: that thing did not move). The crop runs at the camera's native scale for the model (the pixels per
object the whole frame gets): scale = full input long side / frame long side, crop input = stride 32 of scale x
crop long side; a tiled camera's crop is tiled likewise when larger than a tile.

Whole-frame detection still runs on the gate's first frame and interval frames, at least every `max_interval_s` of
frame time, and whenever the region exceeds `crop_max_area` of the frame. Only the crop's part of the gate's
reference is renewed after a crop detection, so a slow change outside it still adds up against the picture the
kept detections came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import supervision as sv

from analytics.detector import Detector, InputSize, _stride32, empty_detections, subset
from models.config import MotionConfig

MIN_MARGIN_PX = 32
DILATE_FRACTION = 0.03  # of the small copy's height: blobs this close join


@dataclass(frozen=True, slots=True)
class Region:
    """A crop in full-frame pixels, [x0, x1) x [y0, y1)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def area_fraction(self, width: int, height: int) -> float:
        return self.width * self.height / float(width * height)


def changed_box(mask: np.ndarray, frame_w: int, frame_h: int) -> Region | None:
    """The bounding box (full-frame pixels) of the changed pixels of the small `mask`, after a dilation."""
    k = max(1, round(mask.shape[0] * DILATE_FRACTION)) * 2 + 1
    dilated = cv2.dilate(mask, np.ones((k, k), np.uint8))
    points = cv2.findNonZero(dilated)
    if points is None:
        return None
    x, y, w, h = cv2.boundingRect(points)
    sx, sy = frame_w / mask.shape[1], frame_h / mask.shape[0]
    return Region(int(x * sx), int(y * sy), min(frame_w, int(np.ceil((x + w) * sx))),
                  min(frame_h, int(np.ceil((y + h) * sy))))  # fmt: skip


def with_margin(box: Region, margin: float, frame_w: int, frame_h: int) -> Region:
    mx = max(MIN_MARGIN_PX, round(box.width * margin))
    my = max(MIN_MARGIN_PX, round(box.height * margin))
    return Region(max(0, box.x0 - mx), max(0, box.y0 - my), min(frame_w, box.x1 + mx), min(frame_h, box.y1 + my))


def take_in_cut_boxes(region: Region, previous: list[sv.Detections]) -> Region:
    """Grow `region` until no previous box is cut by its border (each is wholly inside or wholly outside)."""
    boxes = [d.xyxy for d in previous if len(d)]
    if not boxes:
        return region
    xyxy = np.concatenate(boxes)
    while True:
        x0, y0, x1, y1 = region.x0, region.y0, region.x1, region.y1
        meets = (xyxy[:, 0] < x1) & (xyxy[:, 2] > x0) & (xyxy[:, 1] < y1) & (xyxy[:, 3] > y0)
        if not meets.any():
            return region
        hit = xyxy[meets]
        grown = Region(min(x0, int(np.floor(hit[:, 0].min()))), min(y0, int(np.floor(hit[:, 1].min()))),
                       max(x1, int(np.ceil(hit[:, 2].max()))), max(y1, int(np.ceil(hit[:, 3].max()))))  # fmt: skip
        if grown == region:
            return region
        region = grown


def crop_input(full: InputSize | None, model_side: int, frame_w: int, frame_h: int, region: Region) -> InputSize:
    """The crop's input at the model's native scale for this camera (the same pixels per object as the frame)."""
    crop_long = max(region.width, region.height)
    if full is not None and full.tile is not None:
        if crop_long > full.tile:
            return full
        return InputSize(_stride32(full.long_side / full.tile * crop_long))
    long_side = full.long_side if full is not None else model_side
    return InputSize(_stride32(long_side / max(frame_w, frame_h) * crop_long))


def to_frame(detections: sv.Detections, region: Region) -> sv.Detections:
    """Boxes found on the crop, moved to full-frame coordinates."""
    if len(detections):
        detections.xyxy = detections.xyxy + np.array([region.x0, region.y0, region.x0, region.y0], dtype=float)
    return detections


def merge(previous: sv.Detections | None, found: sv.Detections, region: Region) -> sv.Detections:
    """The crop's detections (frame coordinates) and the previous ones wholly outside the crop."""
    if previous is None or len(previous) == 0:
        return found
    xyxy = previous.xyxy
    outside = (xyxy[:, 2] <= region.x0) | (xyxy[:, 0] >= region.x1) | (xyxy[:, 3] <= region.y0) | (
        xyxy[:, 1] >= region.y1)  # fmt: skip
    kept = subset(previous, outside)
    kept.tracker_id = None
    if len(kept) == 0:
        return found if len(found) else empty_detections()
    if len(found) == 0:
        return kept
    found.tracker_id = None
    return sv.Detections.merge([kept, found])


class CropPlanner:
    """One camera's choice per detected frame: the whole frame, or a crop (and its region)."""

    def __init__(self, config: MotionConfig) -> None:
        self.config = config
        self._full_time: float | None = None
        self._shape: tuple[int, ...] | None = None
        self.frames_full = 0
        self.frames_cropped = 0
        self.last_region: Region | None = None  # the last plan's crop (None: the whole frame)

    def plan(self, mask: np.ndarray | None, reason: str, image: np.ndarray, timestamp: float,
             previous: list[sv.Detections] | None) -> Region | None:  # fmt: skip
        """The region to detect on, or None for the whole frame (which this records)."""
        height, width = image.shape[:2]
        due = (
            self._full_time is None
            or self._shape != image.shape
            or timestamp - self._full_time >= self.config.max_interval_s
            or timestamp < self._full_time
        )
        region = None
        if self.config.crop and not due and reason == "motion" and mask is not None and previous is not None:
            box = changed_box(mask, width, height)
            if box is not None:
                region = take_in_cut_boxes(with_margin(box, self.config.crop_margin, width, height), previous)
                if region.area_fraction(width, height) > self.config.crop_max_area:
                    region = None
        self.last_region = region
        if region is None:
            self._full_time, self._shape = timestamp, image.shape
            self.frames_full += 1
        else:
            self.frames_cropped += 1
        return region

    def reset(self) -> None:
        self._full_time = self._shape = None


def detect_in(
    detector: Detector, image: np.ndarray, region: Region, full_input: InputSize | None, previous: sv.Detections | None
) -> sv.Detections:
    """`detector` on the crop at the camera's native scale, boxes in frame coordinates, merged with the previous
    detections outside the crop."""
    height, width = image.shape[:2]
    model_side = int(getattr(getattr(detector, "config", None), "image_size", 640))
    size = crop_input(full_input, model_side, width, height, region)
    crop = np.ascontiguousarray(image[region.y0 : region.y1, region.x0 : region.x1])
    return merge(previous, to_frame(detector.detect(crop, size), region), region)
