"""Event → Incident: locate on the camera's grid cell, categorise, grade, set the deadline. Pure: no I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from analytics.events import Event, EventPhase
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

    def open(self, event: Event) -> Incident:
        camera = self.config.cameras[event.camera_id]
        category = self.config.event_categories[event.category]
        grid_code = self.config.camera_grid_cell(event.camera_id)
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
            lat=camera.lat,
            lon=camera.lon,
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


    def _bands(self, camera_id: str, rule: str) -> list[SeverityBand] | None:
        """The rule's own severity bands on that camera (`rules.<rule>.severity_bands`), else None (its category's)."""
        camera = self.config.cameras.get(camera_id)
        config = getattr(camera.rules, rule, None) if camera is not None else None
        return config.severity_bands if isinstance(config, RuleConfig) else None


def _max(a: float | int | None, b: float | int | None):  # type: ignore[no-untyped-def]
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)
