"""Zones: polygons in image coordinates; an object is inside by its bottom-centre point."""

from __future__ import annotations

import numpy as np
import supervision as sv

from analytics.detector import subset
from models.config import ZoneConfig

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
