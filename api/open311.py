"""Incidents as Open311 GeoReport v2 service requests, where the fields fit.

- a service is an event category (`service_code` = category code);
- `status` is `closed` once the case is finished (closed, evaluated, or rejected as a false alarm), else `open`;
  `status_notes` gives the closed-loop status and, when dispatched, to whom;
- `agency_responsible` is the department it was dispatched to, else the category's owner department;
- `requested_datetime` = opened, `updated_datetime` = the latest change, `expected_datetime` = the deadline;
- `address` is the grid path and the camera's name, `address_id` the grid code; `lat`/`long` the camera's;
- `media_url` is the evidence snapshot (absolute with `exports.public_base_url`).
"""

from __future__ import annotations

from typing import Any

from api.cap import last_change
from models.config import EventCategoryConfig
from models.incident import Incident
from models.lifecycle import OPEN311_CLOSED, LoopStatus

OPEN311_CLOSED_STATUSES = sorted(s.value for s in OPEN311_CLOSED)
OPEN311_OPEN_STATUSES = sorted(s.value for s in LoopStatus if s not in OPEN311_CLOSED)


def _time(moment: Any) -> str:
    return str(moment.replace(microsecond=0).isoformat())


def open311_service(code: str, category: EventCategoryConfig) -> dict[str, Any]:
    return {
        "service_code": code,
        "service_name": category.name,
        "description": f"{category.group}/{category.name}; {category.owner_department}; "
        f"time limit {category.time_limit_hours:g} h",
        "metadata": False,
        "type": "realtime",
        "keywords": f"{category.group},{category.name}",
        "group": category.group,
    }


def open311_request(incident: Incident, base_url: str | None = None) -> dict[str, Any]:
    notes = incident.status
    assignee = " / ".join(a for a in (incident.assignee_department, incident.assignee_staff) if a)
    if assignee:
        notes += f" ({assignee})"
    media = f"/incidents/{incident.id}/snapshot" if incident.snapshot_path else None
    return {
        "service_request_id": incident.id,
        "status": "closed" if incident.status in OPEN311_CLOSED_STATUSES else "open",
        "status_notes": notes,
        "service_name": incident.category_name,
        "service_code": incident.category_code,
        "description": f"{incident.category_group}/{incident.category_name}, grade {incident.severity}, "
        f"camera {incident.camera_name}",
        "agency_responsible": incident.assignee_department or incident.owner_department,
        "service_notice": None,
        "requested_datetime": _time(incident.opened_at),
        "updated_datetime": _time(last_change(incident)),
        "expected_datetime": _time(incident.deadline),
        "address": " ".join(ref.name for ref in incident.grid_path) + f" · {incident.camera_name}",
        "address_id": incident.grid_code,
        "zipcode": None,
        "lat": incident.lat,
        "long": incident.lon,
        "media_url": (f"{base_url}{media}" if base_url else media) if media else None,
    }
