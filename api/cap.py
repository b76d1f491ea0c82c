"""An incident as an OASIS CAP 1.2 alert (Common Alerting Protocol, urn:oasis:names:tc:emergency:cap:1.2).

One alert describes the incident as it stands now; each change of it is a new message:
- identifier `xueliang-<incident id>-<unix seconds of sent>`; `sent` is the incident's latest change;
- msgType `Alert` while nothing changed since it opened, then `Update`, or `Cancel` once rejected as a false alarm;
  Update and Cancel reference the first Alert (`sender,identifier,sent`);
- status `Test` for an incident raised by a replay (`is_test`), `Actual` otherwise; scope `Restricted` (grid staff);
- info: category from the event category's `cap_category` (config), event = the category's name;
  severity by grade: A → Extreme, B → Severe, C → Moderate;
  urgency Immediate while the situation lasts, Past once it ended (closed_at) or was rejected;
  certainty Likely while only the camera has seen it (reported), Observed once an operator filed it, Unlikely
  when rejected;
- area: the grid cell's polygon(s) (outer rings; none when the cell has no boundary), a circle around the camera
  (`exports.camera_radius_km`), and the grid code as a geocode;
- resource: the evidence snapshot (JPEG), when there is one; the event clip (MP4), once written.
Element order follows the CAP 1.2 schema (tests/api/cap_schema.py checks it).
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.grid import GridTree
from models.incident import Incident
from models.lifecycle import LoopStatus

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_MEDIA_TYPE = "application/cap+xml"
SEVERITY = {"A": "Extreme", "B": "Severe", "C": "Moderate"}


def cap_time(moment: datetime) -> str:
    """CAP's dateTime: no fractional seconds, an explicit offset (`+00:00`; `Z` is not allowed)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def last_change(incident: Incident) -> datetime:
    moments = [incident.updated_at, incident.opened_at]
    if incident.status_changed_at is not None:
        moments.append(incident.status_changed_at)
    return max(moments)


def cap_identifier(incident: Incident, sent: datetime) -> str:
    return f"xueliang-{incident.id}-{int(sent.timestamp())}"


def cap_polygons(geometry: dict[str, Any] | None) -> list[str]:
    """GeoJSON Polygon/MultiPolygon outer rings as CAP polygons: `lat,lon` pairs, first = last, at least four."""
    if not geometry:
        return []
    if geometry.get("type") == "Polygon":
        rings = [geometry["coordinates"][0]]
    elif geometry.get("type") == "MultiPolygon":
        rings = [polygon[0] for polygon in geometry["coordinates"]]
    else:
        return []
    polygons = []
    for ring in rings:
        points = [(float(p[1]), float(p[0])) for p in ring]
        if points and points[0] != points[-1]:
            points.append(points[0])
        if len(points) >= 4:
            polygons.append(" ".join(f"{lat:g},{lon:g}" for lat, lon in points))
    return polygons


def _absolute(base_url: str | None, path: str) -> str:
    return f"{base_url}{path}" if base_url else path


def cap_alert(
    incident: Incident,
    *,
    tree: GridTree,
    cap_category: str,
    sender: str,
    base_url: str | None = None,
    radius_km: float = 0.1,
) -> bytes:
    """The CAP 1.2 XML document (UTF-8, with its declaration)."""

    def sub(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{CAP_NS}}}{name}")
        if text is not None:
            element.text = text
        return element

    def pair(parent: ET.Element, name: str, value_name: str, value: str) -> None:
        element = sub(parent, name)
        sub(element, "valueName", value_name)
        sub(element, "value", value)

    status = incident.status
    rejected = status == LoopStatus.REJECTED.value
    sent = last_change(incident)
    first_sent = incident.opened_at
    msg_type = "Cancel" if rejected else ("Alert" if sent == first_sent else "Update")

    alert = ET.Element(f"{{{CAP_NS}}}alert")
    sub(alert, "identifier", cap_identifier(incident, sent))
    sub(alert, "sender", sender)
    sub(alert, "sent", cap_time(sent))
    sub(alert, "status", "Test" if incident.is_test else "Actual")
    sub(alert, "msgType", msg_type)
    sub(alert, "source", f"camera {incident.camera_id}")
    sub(alert, "scope", "Restricted")
    sub(alert, "restriction", "grid governance staff (网格化服务管理)")
    sub(alert, "code", f"xueliang:rule:{incident.rule}")
    sub(alert, "note", f"closed-loop status: {status}")
    if msg_type != "Alert":
        sub(alert, "references", f"{sender},{cap_identifier(incident, first_sent)},{cap_time(first_sent)}")
    sub(alert, "incidents", incident.id)

    info = sub(alert, "info")
    sub(info, "language", "zh-CN")
    sub(info, "category", cap_category)
    sub(info, "event", incident.category_name)
    ended = incident.closed_at is not None
    sub(info, "responseType", "None" if rejected else ("AllClear" if ended else "Monitor"))
    sub(info, "urgency", "Past" if ended or rejected else "Immediate")
    sub(info, "severity", SEVERITY[str(incident.severity)])
    certainty = "Unlikely" if rejected else ("Likely" if status == LoopStatus.REPORTED.value else "Observed")
    sub(info, "certainty", certainty)
    pair(info, "eventCode", "xueliang:category", incident.category_code)
    sub(info, "onset", cap_time(incident.opened_at))
    sub(info, "senderName", "雪亮 Xueliang")
    sub(info, "headline", f"{incident.category_group}/{incident.category_name}: {incident.camera_name}"[:160])
    grid_names = " / ".join(ref.name for ref in incident.grid_path)
    description = [
        f"{incident.category_group}/{incident.category_name}, grade {incident.severity}, seen by camera "
        f"{incident.camera_name} ({incident.camera_id}) in {grid_names}.",
        f"Opened {cap_time(incident.opened_at)}"
        + (f", ended {cap_time(incident.closed_at)}" if incident.closed_at else ", ongoing")
        + f". Handling deadline {cap_time(incident.deadline)}.",
    ]
    if incident.peak_count is not None:
        description.append(f"Peak count: {incident.peak_count}.")
    sub(info, "description", " ".join(description))
    sub(info, "web", _absolute(base_url, f"/incidents/{incident.id}"))
    sub(info, "contact", incident.owner_department)
    pair(info, "parameter", "xueliang:grade", str(incident.severity))
    pair(info, "parameter", "xueliang:status", status)
    pair(info, "parameter", "xueliang:owner_department", incident.owner_department)
    pair(info, "parameter", "xueliang:deadline", cap_time(incident.deadline))
    if incident.assignee_department or incident.assignee_staff:
        assignee = " / ".join(a for a in (incident.assignee_department, incident.assignee_staff) if a)
        pair(info, "parameter", "xueliang:assignee", assignee)
    if incident.peak_count is not None:
        pair(info, "parameter", "xueliang:peak_count", str(incident.peak_count))
    if incident.peak_confidence is not None:
        pair(info, "parameter", "xueliang:peak_confidence", f"{incident.peak_confidence:.3f}")

    if incident.snapshot_path is not None:
        resource = sub(info, "resource")
        sub(resource, "resourceDesc", "evidence snapshot (证据快照)")
        sub(resource, "mimeType", "image/jpeg")
        with contextlib.suppress(OSError):  # the file may be gone; size is optional
            sub(resource, "size", str(Path(incident.snapshot_path).stat().st_size))
        sub(resource, "uri", _absolute(base_url, f"/incidents/{incident.id}/snapshot"))
    if incident.clip_path is not None:
        resource = sub(info, "resource")
        sub(resource, "resourceDesc", "event clip (事件视频)")
        sub(resource, "mimeType", "video/mp4")
        with contextlib.suppress(OSError):
            sub(resource, "size", str(Path(incident.clip_path).stat().st_size))
        sub(resource, "uri", _absolute(base_url, f"/incidents/{incident.id}/clip.mp4"))

    area = sub(info, "area")
    sub(area, "areaDesc", f"{grid_names} · {incident.camera_name}")
    cell = tree.get(incident.grid_code)
    for polygon in cap_polygons(cell.polygon if cell is not None else None):
        sub(area, "polygon", polygon)
    if incident.lat is not None and incident.lon is not None:
        sub(area, "circle", f"{incident.lat:g},{incident.lon:g} {radius_km:g}")
    pair(area, "geocode", "xueliang:grid_code", incident.grid_code)

    document: bytes = ET.tostring(alert, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)
    return document
