"""Event → Incident: locate on the camera's grid cell (or, on a calibrated camera, in the cell where its objects
stand), categorise, grade, set the deadline. Pure: no I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TypeVar

from analytics.events import Event, EventPhase
from analytics.ground_plane import GroundPlane, MapPoint
from models.config import RuleConfig, ServiceConfig, SeverityBand
from models.grid import GridTree
from models.incident import GridRef, Incident, Severity

SEVERITY_RANK = {Severity.C: 0, Severity.B: 1, Severity.A: 2}


def event_time(event: Event) -> datetime:
    return datetime.fromtimestamp(event.timestamp, UTC)


class IncidentBuilder:
    def __init__(self, config: ServiceConfig, *, is_test: bool = False) -> None:
        self.config = config
        self.tree: GridTree = config.grid_tree()
        self.is_test = is_test
        self._planes: dict[str, GroundPlane] = {}  # calibrated cameras' ground planes, made on first use

    def open(self, event: Event) -> Incident:
        camera = self.config.cameras[event.camera_id]
        category = self.config.event_categories[event.category]
        grid_code = self.config.camera_grid_cell(event.camera_id)
        lat, lon = camera.lat, camera.lon
        located = self._map_point(event)
        if located is not None:  # a calibrated camera: where its objects stand, in that point's cell
            cell = self.tree.locate(located.lon, located.lat)
            if cell is not None:
                grid_code, lat, lon = cell.code, located.lat, located.lon
        at = event_time(event)
        return Incident(
            id=uuid.uuid4().hex,
            rule=event.rule,
            category_code=event.category,
            category_name=category.name,
            category_group=category.group,
            severity=Severity(category.severity_for(event.magnitude, self._bands(event.camera_id, event.rule))),
            grid_code=grid_code,
            grid_path=[GridRef(code=c.code, name=c.name) for c in self.tree.path(grid_code)],
            camera_id=event.camera_id,
            camera_name=camera.name,
            lat=lat,
            lon=lon,
            opened_at=at,
            updated_at=at,
            peak_count=event.count,
            peak_confidence=event.confidence,
            owner_department=category.owner_department,
            deadline=at + category.time_limit,
            is_test=self.is_test,
        )

    def apply(self, incident: Incident, event: Event) -> Incident:
        """An update or the end of an open incident. Peaks and severity only ever grow."""
        category = self.config.event_categories[incident.category_code]
        severity = Severity(category.severity_for(event.magnitude, self._bands(incident.camera_id, incident.rule)))
        if SEVERITY_RANK[severity] < SEVERITY_RANK[incident.severity]:
            severity = incident.severity
        at = event_time(event)
        return incident.model_copy(
            update={
                "severity": severity,
                "updated_at": at,
                "peak_count": _max(incident.peak_count, event.count),
                "peak_confidence": _max(incident.peak_confidence, event.confidence),
                "closed_at": at if event.phase is EventPhase.CLOSED else None,
            }
        )


    def _map_point(self, event: Event) -> MapPoint | None:
        """The map point of the event's objects on a calibrated camera (analytics/ground_plane.py), else None."""
        camera = self.config.cameras[event.camera_id]
        if camera.ground is None or event.evidence is None:
            return None
        plane = self._planes.get(event.camera_id)
        if plane is None:
            plane = self._planes[event.camera_id] = GroundPlane(camera.ground)
        return plane.locate(event.evidence.detections)

    def _bands(self, camera_id: str, rule: str) -> list[SeverityBand] | None:
        """The rule's own severity bands on that camera (`rules.<rule>.severity_bands`), else None (its category's)."""
        camera = self.config.cameras.get(camera_id)
        config = getattr(camera.rules, rule, None) if camera is not None else None
        return config.severity_bands if isinstance(config, RuleConfig) else None


Number = TypeVar("Number", int, float)


def _max(a: Number | None, b: Number | None) -> Number | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)
