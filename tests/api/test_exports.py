"""Exports: an incident as OASIS CAP 1.2 XML, incidents as GeoJSON, and the Open311 GeoReport v2 view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.cap import CAP_NS
from models.clock import ManualClock
from models.config import ServiceConfig
from tests.api.camera_feed import (
    CAM_FIRE_LANE,
    CAM_WALKWAY,
    CAM_YUQUAN,
    CELL_FIRE_LANE,
    STREET_LINGYIN,
    CameraFeed,
    minutes,
)
from tests.api.cap_schema import validate


def text(root: Any, path: str) -> str | None:
    element = root.find(path.replace("cap:", f"{{{CAP_NS}}}"))
    return None if element is None else element.text


def texts(root: Any, path: str) -> list[str]:
    return [e.text for e in root.findall(path.replace("cap:", f"{{{CAP_NS}}}"))]


def pairs(root: Any, path: str) -> dict[str, str]:
    found = root.findall(path.replace("cap:", f"{{{CAP_NS}}}"))
    return {e.find(f"{{{CAP_NS}}}valueName").text: e.find(f"{{{CAP_NS}}}value").text for e in found}


# ---------------------------------------------------------------------------------------------------------- CAP


def test_cap_alert_of_a_new_incident(client: TestClient, feed: CameraFeed) -> None:
    fire = feed.open_incident(
        CAM_FIRE_LANE, "fire_smoke", minutes(10), magnitude=6, confidence=0.9, snapshot=True, clip=True
    )

    response = client.get(f"/incidents/{fire.id}/cap")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/cap+xml")
    assert response.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    alert = validate(response.content)
    assert text(alert, "cap:identifier") == f"xueliang-{fire.id}-{int(minutes(10).timestamp())}"
    assert text(alert, "cap:sender") == "xueliang@330106.demo"
    assert text(alert, "cap:sent") == "2026-03-01T08:10:00+00:00"
    assert (text(alert, "cap:status"), text(alert, "cap:msgType"), text(alert, "cap:scope")) == (
        "Actual", "Alert", "Restricted"
    )  # fmt: skip
    assert text(alert, "cap:references") is None
    assert text(alert, "cap:incidents") == fire.id
    info = alert.find(f"{{{CAP_NS}}}info")
    assert texts(info, "cap:category") == ["Fire"]
    assert text(info, "cap:event") == "火灾隐患"
    assert (text(info, "cap:urgency"), text(info, "cap:severity"), text(info, "cap:certainty")) == (
        "Immediate", "Extreme", "Likely"  # grade A; only the camera has seen it
    )  # fmt: skip
    assert pairs(info, "cap:parameter")["xueliang:grade"] == "A"
    assert pairs(info, "cap:eventCode") == {"xueliang:category": "fire_hazard"}
    resource, clip = info.findall(f"{{{CAP_NS}}}resource")
    assert (text(resource, "cap:mimeType"), text(resource, "cap:uri")) == (
        "image/jpeg", f"/incidents/{fire.id}/snapshot"
    )  # fmt: skip
    assert fire.snapshot_path is not None and fire.clip_path is not None
    assert text(resource, "cap:size") == str(Path(fire.snapshot_path).stat().st_size)
    assert (text(clip, "cap:mimeType"), text(clip, "cap:uri"), text(clip, "cap:size")) == (
        "video/mp4", f"/incidents/{fire.id}/clip.mp4", str(Path(fire.clip_path).stat().st_size)
    )  # fmt: skip
    area = info.find(f"{{{CAP_NS}}}area")
    assert text(area, "cap:areaDesc") == "西湖区 / 北山街道 / 宝石山社区 / 宝石山第二网格 · 宝石山仓库消防通道"
    # the cell's polygon, lat,lon order, closed
    assert texts(area, "cap:polygon") == ["30.26,120.14 30.26,120.15 30.27,120.15 30.27,120.14 30.26,120.14"]
    assert texts(area, "cap:circle") == ["30.265,120.145 0.1"]
    assert pairs(area, "cap:geocode") == {"xueliang:grid_code": CELL_FIRE_LANE}


@pytest.mark.parametrize(
    ("magnitude", "severity"), [(8, "Moderate"), (25, "Severe"), (60, "Extreme")]  # C, B, A for crowds
)
def test_cap_severity_by_grade(client: TestClient, feed: CameraFeed, magnitude: float, severity: str) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=magnitude)

    alert = validate(client.get(f"/incidents/{incident.id}/cap").content)

    assert text(alert, "cap:info/cap:severity") == severity
    assert texts(alert, "cap:info/cap:category") == ["Security"]
    assert text(alert, "cap:info/cap:resource") is None  # no snapshot


def test_cap_after_steps_is_an_update_referencing_the_alert(
    client: TestClient, feed: CameraFeed, clock: ManualClock
) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)
    clock.set(minutes(3))
    assert client.post(f"/incidents/{incident.id}/transitions", json={"to": "filed"}).status_code == 201
    feed.close_incident(incident, minutes(5))

    alert = validate(client.get(f"/incidents/{incident.id}/cap").content)

    assert (text(alert, "cap:msgType"), text(alert, "cap:sent")) == ("Update", "2026-03-01T08:05:00+00:00")
    first = f"xueliang-{incident.id}-{int(minutes(0).timestamp())}"
    assert text(alert, "cap:references") == f"xueliang@330106.demo,{first},2026-03-01T08:00:00+00:00"
    assert (text(alert, "cap:info/cap:certainty"), text(alert, "cap:info/cap:urgency")) == ("Observed", "Past")
    assert texts(alert, "cap:info/cap:responseType") == ["AllClear"]


def test_cap_of_a_false_alarm_is_a_cancel(client: TestClient, feed: CameraFeed, clock: ManualClock) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)
    clock.set(minutes(2))
    step = client.post(f"/incidents/{incident.id}/transitions", json={"to": "rejected", "reason": "排队"})
    assert (step.status_code, step.json()["incident"]["status"]) == (201, "rejected")

    alert = validate(client.get(f"/incidents/{incident.id}/cap").content)

    assert (text(alert, "cap:msgType"), text(alert, "cap:sent")) == ("Cancel", "2026-03-01T08:02:00+00:00")
    # the cancel names the alert it withdraws: sender, that alert's identifier, its sent time
    first = f"xueliang-{incident.id}-{int(minutes(0).timestamp())}"
    assert text(alert, "cap:references") == f"xueliang@330106.demo,{first},2026-03-01T08:00:00+00:00"
    assert text(alert, "cap:identifier") == f"xueliang-{incident.id}-{int(minutes(2).timestamp())}"
    assert text(alert, "cap:info/cap:certainty") == "Unlikely"


def test_cap_of_a_test_incident_and_of_a_cell_without_a_boundary(client: TestClient, feed: CameraFeed) -> None:
    drill = feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(0), magnitude=1, is_test=True)
    yuquan = feed.open_incident(CAM_YUQUAN, "crowd", minutes(0), magnitude=8)  # 玉泉第一网格 has no polygon

    drill_alert = validate(client.get(f"/incidents/{drill.id}/cap").content)
    yuquan_alert = validate(client.get(f"/incidents/{yuquan.id}/cap").content)

    assert text(drill_alert, "cap:status") == "Test"
    assert texts(yuquan_alert, "cap:info/cap:area/cap:polygon") == []
    assert texts(yuquan_alert, "cap:info/cap:area/cap:circle") == []  # the camera has no coordinates


def test_the_validator_catches_a_broken_alert() -> None:
    broken = (
        f'<alert xmlns="{CAP_NS}"><sender>x</sender><identifier>a b</identifier>'
        "<sent>2026-03-01T08:00:00Z</sent><status>Real</status><msgType>Update</msgType><scope>Public</scope>"
        "<info><event>e</event><urgency>Now</urgency><severity>Minor</severity><certainty>Likely</certainty>"
        "<area><areaDesc>a</areaDesc><polygon>1,2 3,4 1,2</polygon></area></info></alert>"
    ).encode()

    with pytest.raises(AssertionError) as caught:
        validate(broken)

    for problem in ("out of schema order", "missing required 'category'", "Real", "Now", "not a CAP dateTime",
                    "closed ring", "has spaces", "needs <references>"):  # fmt: skip
        assert problem in str(caught.value)


# ------------------------------------------------------------------------------------------------------ GeoJSON


def test_incidents_geojson_has_the_list_filters(client: TestClient, feed: CameraFeed) -> None:
    walkway = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)
    fire = feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(10), magnitude=6)
    yuquan = feed.open_incident(CAM_YUQUAN, "crowd", minutes(20), magnitude=8)

    everything = client.get("/incidents/geojson")
    crowds = client.get("/incidents/geojson", params={"category": "crowd_gathering"}).json()
    lingyin = client.get("/incidents/geojson", params={"grid": STREET_LINGYIN}).json()
    paged = client.get("/incidents/geojson", params={"limit": 1, "offset": 1}).json()

    assert everything.headers["content-type"].startswith("application/geo+json")
    collection = everything.json()
    assert collection["type"] == "FeatureCollection"
    assert [f["id"] for f in collection["features"]] == [yuquan.id, fire.id, walkway.id]
    assert collection["total"] == 3
    by_id = {f["id"]: f for f in collection["features"]}
    assert by_id[fire.id]["geometry"] == {"type": "Point", "coordinates": [120.145, 30.265]}  # lon, lat
    assert by_id[yuquan.id]["geometry"] is None  # the camera has no coordinates
    assert by_id[fire.id]["properties"]["category_code"] == "fire_hazard"
    assert by_id[fire.id]["properties"]["light"] == "green"
    assert [f["id"] for f in crowds["features"]] == [yuquan.id, walkway.id]
    assert [f["id"] for f in lingyin["features"]] == [yuquan.id]
    assert ([f["id"] for f in paged["features"]], paged["total"]) == ([fire.id], 3)


def test_incidents_geojson_of_an_empty_store(client: TestClient) -> None:
    assert client.get("/incidents/geojson").json() == {
        "type": "FeatureCollection", "features": [], "total": 0, "limit": 50, "offset": 0
    }  # fmt: skip


# ------------------------------------------------------------------------------------------------------ Open311


def test_open311_services_are_the_event_categories(client: TestClient, config: ServiceConfig) -> None:
    services = client.get("/open311/v2/services.json").json()

    assert [s["service_code"] for s in services] == list(config.event_categories)
    assert services[0] == {
        "service_code": "crowd_gathering",
        "service_name": "人员聚集",
        "description": "社会治安/人员聚集; 西湖区公安分局; time limit 2 h",
        "metadata": False,
        "type": "realtime",
        "keywords": "社会治安,人员聚集",
        "group": "社会治安",
    }


def test_open311_request_fields(client: TestClient, feed: CameraFeed, clock: ManualClock) -> None:
    fire = feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(10), magnitude=6, snapshot=True)
    clock.set(minutes(12))
    client.post(f"/incidents/{fire.id}/transitions", json={"to": "filed"})
    clock.set(minutes(13))
    client.post(f"/incidents/{fire.id}/transitions", json={"to": "dispatched", "department": "北山消防站"})

    [request] = client.get("/open311/v2/requests.json").json()

    assert request == {
        "service_request_id": fire.id,
        "status": "open",
        "status_notes": "dispatched (北山消防站)",
        "service_name": "火灾隐患",
        "service_code": "fire_hazard",
        "description": "安全生产/火灾隐患, grade A, camera 宝石山仓库消防通道",
        "agency_responsible": "北山消防站",
        "service_notice": None,
        "requested_datetime": "2026-03-01T08:10:00+00:00",
        "updated_datetime": "2026-03-01T08:13:00+00:00",
        "expected_datetime": "2026-03-01T09:10:00+00:00",
        "address": "西湖区 北山街道 宝石山社区 宝石山第二网格 · 宝石山仓库消防通道",
        "address_id": CELL_FIRE_LANE,
        "zipcode": None,
        "lat": 30.265,
        "long": 120.145,
        "media_url": f"/incidents/{fire.id}/snapshot",
    }
    assert client.get(f"/open311/v2/requests/{fire.id}.json").json() == [request]


def test_open311_request_filters(client: TestClient, feed: CameraFeed) -> None:
    walkway = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)
    fire = feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(10), magnitude=6)
    client.post(f"/incidents/{walkway.id}/transitions", json={"to": "rejected", "reason": "误报"})

    def ids(**params: Any) -> list[str]:
        response = client.get("/open311/v2/requests.json", params=params)
        assert response.status_code == 200, response.text
        return [r["service_request_id"] for r in response.json()]

    assert ids() == [fire.id, walkway.id]
    assert ids(status="closed") == [walkway.id]  # a rejected false alarm is closed
    assert ids(status="open") == [fire.id]
    assert ids(service_code="fire_hazard") == [fire.id]
    assert ids(start_date="2026-03-01T08:05:00Z") == [fire.id]
    assert ids(end_date="2026-03-01T08:05:00Z") == [walkway.id]
    assert ids(service_request_id=f"{walkway.id}, nope") == [walkway.id]
    assert client.get("/open311/v2/requests.json", params={"status": "pending"}).status_code == 422
    assert client.get("/open311/v2/requests.json", params={"service_code": "arson"}).status_code == 422
    assert client.get("/open311/v2/requests/nope.json").status_code == 404
