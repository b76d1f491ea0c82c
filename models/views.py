"""The public JSON views of domain objects, shared by REST responses and websocket messages.

Never includes secrets (stream URLs) or server paths (snapshots are referred to by their API URL).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.deadlines import is_overdue, seconds_left, traffic_light
from models.incident import CameraStatusRecord, Incident, IncidentTransition


def incident_view(incident: Incident, now: datetime | None = None) -> dict[str, Any]:
    """The incident with its deadline state as of `now` (default: its `updated_at`, the pipeline's clock, so a
    replayed message is the same every time)."""
    at = now if now is not None else incident.updated_at
    data = incident.model_dump(mode="json", exclude={"snapshot_path", "clip_path"})
    data["snapshot_url"] = f"/incidents/{incident.id}/snapshot" if incident.snapshot_path else None
    data["clip_url"] = f"/incidents/{incident.id}/clip.mp4" if incident.clip_path else None
    data["light"] = traffic_light(incident, at).value
    data["overdue"] = is_overdue(incident, at)
    data["seconds_left"] = round(seconds_left(incident, at), 3)
    return data


def transition_view(transition: IncidentTransition) -> dict[str, Any]:
    return transition.model_dump(mode="json")


def transition_message_view(incident: Incident, transition: IncidentTransition) -> dict[str, Any]:
    """An `incident.transition` message's data: the incident after the step (as of the step), and the step."""
    data = incident_view(incident, transition.at)
    data["transition"] = transition.model_dump(mode="json", exclude={"seq", "incident_id"})
    return data


def camera_status_view(status: CameraStatusRecord, *, name: str, grid_code: str | None) -> dict[str, Any]:
    data = status.model_dump(mode="json")
    data.update(name=name, grid_code=grid_code)
    return data


def incident_feature(incident: Incident, now: datetime | None = None) -> dict[str, Any]:
    """The incident as a GeoJSON Feature: a point at its camera (RFC 7946: [longitude, latitude]), or a null
    geometry when the camera has no coordinates."""
    geometry = (
        {"type": "Point", "coordinates": [incident.lon, incident.lat]}
        if incident.lat is not None and incident.lon is not None
        else None
    )
    return {"type": "Feature", "id": incident.id, "geometry": geometry, "properties": incident_view(incident, now)}


def incident_feature_collection(incidents: list[Incident], now: datetime | None = None) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [incident_feature(i, now) for i in incidents]}
