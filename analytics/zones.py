"""Zones: polygons in image coordinates; an object is inside by its bottom-centre point."""

from __future__ import annotations

import numpy as np
import supervision as sv

from analytics.detector import subset
from models.config import LineConfig, ZoneConfig

ZONE_ANCHOR = sv.Position.BOTTOM_CENTER


class Zone:
    """A named polygon; `trigger` returns the mask of detections whose bottom-centre lies inside."""

    def __init__(self, name: str, polygon: np.ndarray) -> None:
        self.name = name
        self.polygon = polygon.astype(np.int64)
        self._zone = sv.PolygonZone(polygon=self.polygon, triggering_anchors=(ZONE_ANCHOR,))

    @classmethod
    def from_config(cls, name: str, config: ZoneConfig) -> Zone:
        return cls(name, np.array(config.polygon, dtype=np.float64))

    def trigger(self, detections: sv.Detections) -> np.ndarray:
        if len(detections) == 0:
            return np.zeros(0, dtype=bool)
        return self._zone.trigger(detections)


def in_zone(detections: sv.Detections, zone: Zone | None) -> sv.Detections:
    """The detections inside `zone`; all of them when there is no zone (the whole frame)."""
    if zone is None or len(detections) == 0:
        return detections
    return subset(detections, zone.trigger(detections))


class Line:
    """A named line or polyline in image coordinates; objects cross it by their bottom-centre point.

    Each segment is a supervision `LineZone` (it remembers each tracker id's side and counts a change of side as a
    crossing). Facing from one point to the next as the image shows it, `in` is a crossing from the right to the
    left (for a line drawn left to right: from below it to above it). Only tracked detections (tracker id >= 0) can
    cross: a crossing is a change of side of one object.
    """

    def __init__(self, name: str, points: np.ndarray) -> None:
        self.name = name
        self.points = points.astype(np.float64)
        self._segments = [
            sv.LineZone(sv.Point(*a), sv.Point(*b), triggering_anchors=(ZONE_ANCHOR,))
            for a, b in zip(self.points[:-1].tolist(), self.points[1:].tolist(), strict=True)
        ]

    @classmethod
    def from_config(cls, name: str, config: LineConfig) -> Line:
        return cls(name, np.array(config.points, dtype=np.float64))

    def trigger(self, detections: sv.Detections) -> tuple[np.ndarray, np.ndarray]:
        """(crossed in, crossed out) masks over `detections`: which crossed this step, by segment, either way."""
        crossed_in = np.zeros(len(detections), dtype=bool)
        crossed_out = np.zeros(len(detections), dtype=bool)
        ids = detections.tracker_id
        if len(detections) == 0 or ids is None:
            return crossed_in, crossed_out
        tracked = ids >= 0
        if not tracked.any():
            return crossed_in, crossed_out
        found = subset(detections, tracked)
        for segment in self._segments:
            seg_in, seg_out = segment.trigger(found)
            crossed_in[tracked] |= seg_in
            crossed_out[tracked] |= seg_out
        return crossed_in, crossed_out
