"""What a rule is built with: the camera's zones and lines (by name) and its analysis fps."""

from __future__ import annotations

from dataclasses import dataclass

from analytics.zones import Line, Zone
from models.config import CameraConfig


@dataclass(frozen=True)
class RuleSite:
    zones: dict[str, Zone]
    lines: dict[str, Line]
    analysis_fps: float

    def zone(self, name: str | None) -> Zone | None:
        return self.zones[name] if name is not None else None

    @classmethod
    def of(cls, camera: CameraConfig) -> RuleSite:
        """Fresh zones and lines of `camera` (a line remembers which side each track was on: one per rule)."""
        return cls(
            zones={name: Zone.from_config(name, zone) for name, zone in camera.zones.items()},
            lines={name: Line.from_config(name, line) for name, line in camera.lines.items()},
            analysis_fps=camera.analysis_fps,
        )
