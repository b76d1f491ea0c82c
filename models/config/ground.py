"""`cameras.<id>.ground` in the service config: a camera's ground calibration (image pixels ↔ map points)."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class GroundCalibrationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    image_points: list[tuple[float, float]] = Field(
        min_length=4, description="Points on the ground in the camera's frame, in pixels (x, y) of the analysed frame."
    )
    map_points: list[tuple[float, float]] = Field(
        min_length=4, description="The same points on the map, (longitude, latitude) in WGS 84, in the same order."
    )

    @model_validator(mode="after")
    def verify_homography(self) -> GroundCalibrationConfig:
        if len(self.image_points) != len(self.map_points):
            raise ValueError(
                f"image_points ({len(self.image_points)}) and map_points ({len(self.map_points)}) must pair up"
            )
        if self.homography() is None:
            raise ValueError("image_points: no homography fits (three or more of the points lie on one line)")
        return self

    def homography(self) -> np.ndarray | None:
        """The 3x3 image → map homography (least squares over every pair), or None when the points are degenerate."""
        image = np.array(self.image_points, dtype=np.float64)
        ground = np.array(self.map_points, dtype=np.float64)
        for points in (image, ground):
            centred = points - points.mean(axis=0)
            if np.linalg.matrix_rank(centred, tol=1e-9 * max(1.0, float(np.abs(centred).max()))) < 2:
                return None
        matrix, _ = cv2.findHomography(image, ground, 0)
        if matrix is None or not np.all(np.isfinite(matrix)) or abs(np.linalg.det(matrix)) < 1e-18:
            return None
        return np.asarray(matrix, dtype=np.float64)
