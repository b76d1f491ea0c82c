"""Where on the map an event really is: a calibrated camera's image → map homography, applied to the bottom-centre
of the event's objects (where they stand), as supervision's speed-estimation example does with its ViewTransformer
(cv2.perspectiveTransform over a homography; here fitted over four or more pairs with cv2.findHomography)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import supervision as sv

from models.config import GroundCalibrationConfig


@dataclass(frozen=True, kw_only=True)
class MapPoint:
    lon: float
    lat: float


class GroundPlane:
    def __init__(self, calibration: GroundCalibrationConfig) -> None:
        matrix = calibration.homography()
        if matrix is None:  # the config's validator refused it already
            raise ValueError("degenerate ground calibration")
        self._matrix = matrix

    def to_map(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 2) image pixels → (N, 2) map points (lon, lat)."""
        if len(pixels) == 0:
            return np.empty((0, 2))
        points = np.asarray(pixels, dtype=np.float64).reshape(-1, 1, 2)
        return cv2.perspectiveTransform(points, self._matrix).reshape(-1, 2)

    def locate(self, detections: sv.Detections) -> MapPoint | None:
        """The map point of the event: the bottom-centre of its most confident object; None without objects."""
        if len(detections) == 0:
            return None
        anchors = detections.get_anchors_coordinates(sv.Position.BOTTOM_CENTER)
        best = int(np.argmax(detections.confidence)) if detections.confidence is not None else 0
        lon, lat = self.to_map(anchors[best : best + 1])[0]
        return MapPoint(lon=float(lon), lat=float(lat))
