"""The public JSON views: what REST responses and websocket messages show of an incident, a step, a camera.

Server paths never show (snapshots and clips are referred to by their API URL); the deadline state is as of the
time asked, or the incident's own last update (so a replayed message is the same every time).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from models.incident import CameraStatusRecord, GridRef, Incident, IncidentTransition, Severity
from models.views import (
    camera_status_view,
    incident_feature,
    incident_feature_collection,
    incident_view,
    transition_message_view,
    transition_view,
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
LIMIT = timedelta(hours=2)


def incident(**changes: object) -> Incident:
    fields: dict[str, object] = {
        "id": "a1",
        "rule": "crowd",
        "category_code": "crowd_gathering",
        "category_name": "人员聚集",
        "category_group": "社会治安",
        "severity": Severity.B,
        "grid_code": "330106001001001",
        "grid_path": [GridRef(code="330106", name="西湖区"), GridRef(code="330106001001001", name="宝石山第一网格")],
        "camera_id": "cam-1",
        "camera_name": "宝石山下步行道",
        "lat": 30.265,
        "lon": 120.135,
        "opened_at": T0,
        "updated_at": T0,
        "owner_department": "西湖区公安分局",
        "deadline": T0 + LIMIT,
    }
    return Incident(**{**fields, **changes})


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.mark.parametrize(
    ("changes", "now", "light", "overdue", "seconds_left"),
    [
        ({}, None, "green", False, 7200.0),  # as of its own update (opening): the whole time limit is left
        ({}, minutes(59), "green", False, 3660.0),
        ({}, minutes(60), "yellow", False, 3600.0),  # half the limit left: yellow
        ({}, minutes(119.5), "yellow", False, 30.0),
        ({}, minutes(120), "red", True, 0.0),  # the deadline: overdue
        ({}, minutes(150), "red", True, -1800.0),
        ({"updated_at": minutes(90)}, None, "yellow", False, 1800.0),  # a message as of its update
        # resolved after 30 min: the clock stopped there, whatever the time now
        ({"resolved_at": minutes(30), "status": "handled"}, minutes(600), "green", False, 5400.0),
        ({"resolved_at": minutes(130), "status": "handled"}, minutes(600), "red", True, -600.0),
    ],
)
def test_an_incident_shows_its_deadline_state_as_of_the_time_asked(
    changes: dict, now: datetime | None, light: str, overdue: bool, seconds_left: float
) -> None:
    view = incident_view(incident(**changes), now)

    assert (view["light"], view["overdue"], view["seconds_left"]) == (light, overdue, seconds_left)


@pytest.mark.parametrize(
    ("paths", "snapshot_url", "clip_url"),
    [
        ({}, None, None),  # no evidence yet
        ({"snapshot_path": "/var/lib/xueliang/snapshots/20260301/a1.jpg"}, "/incidents/a1/snapshot", None),
        (
            {"snapshot_path": "/var/lib/xueliang/snapshots/a1.jpg", "clip_path": "/var/lib/xueliang/clips/a1.mp4"},
            "/incidents/a1/snapshot",
            "/incidents/a1/clip.mp4",
        ),
    ],
)
def test_evidence_is_shown_by_its_api_url_never_its_server_path(
    paths: dict, snapshot_url: str | None, clip_url: str | None
) -> None:
    view = incident_view(incident(**paths))

    assert (view["snapshot_url"], view["clip_url"]) == (snapshot_url, clip_url)
    assert "snapshot_path" not in view and "clip_path" not in view
    assert "/var/lib" not in json.dumps(view)


def test_an_incident_view_is_json_with_utc_times_and_its_fields() -> None:
    view = incident_view(incident(closed_at=minutes(10), updated_at=minutes(10), peak_count=9))

    assert json.loads(json.dumps(view)) == view  # plain JSON: what a websocket sends
    assert (view["opened_at"], view["closed_at"], view["deadline"]) == (
        "2026-03-01T08:00:00Z", "2026-03-01T08:10:00Z", "2026-03-01T10:00:00Z"
    )  # fmt: skip
    assert (view["id"], view["severity"], view["peak_count"], view["status"]) == ("a1", "B", 9, "reported")
    assert view["grid_path"] == [
        {"code": "330106", "name": "西湖区"}, {"code": "330106001001001", "name": "宝石山第一网格"}
    ]  # fmt: skip


def step(**changes: object) -> IncidentTransition:
    fields: dict[str, object] = {
        "incident_id": "a1", "seq": 7, "at": minutes(100), "action": "file", "from_status": "reported",
        "to_status": "filed", "actor": "beishan", "actor_role": "operator",
    }  # fmt: skip
    return IncidentTransition(**{**fields, **changes})


def test_a_transition_view_is_the_whole_step() -> None:
    view = transition_view(step(note="已到场", attachments=["https://example.org/p.jpg"]))

    assert view == {
        "incident_id": "a1", "seq": 7, "at": "2026-03-01T09:40:00Z", "action": "file", "from_status": "reported",
        "to_status": "filed", "actor": "beishan", "actor_role": "operator", "note": "已到场", "reason": None,
        "attachments": ["https://example.org/p.jpg"], "department": None, "staff": None, "rating": None,
    }  # fmt: skip


def test_a_transition_message_is_the_incident_as_of_the_step_and_the_step() -> None:
    filed = incident(status="filed", status_changed_at=minutes(100))

    message = transition_message_view(filed, step())

    # as of the step (100 of 120 min gone), not as of the incident's last update (opening: green)
    assert (message["light"], message["seconds_left"], message["status"]) == ("yellow", 1200.0, "filed")
    assert message["transition"] == {
        "at": "2026-03-01T09:40:00Z", "action": "file", "from_status": "reported", "to_status": "filed",
        "actor": "beishan", "actor_role": "operator", "note": None, "reason": None, "attachments": [],
        "department": None, "staff": None, "rating": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("last_error", "grid_code"),
    [(None, "330106001001001"), ("connection refused", None)],  # a camera on no cell has grid_code null
)
def test_a_camera_status_view_adds_its_name_and_cell(last_error: str | None, grid_code: str | None) -> None:
    status = CameraStatusRecord(
        camera_id="cam-1", state="offline" if last_error else "online", since=T0, last_error=last_error,
        updated_at=minutes(1), frames_decoded=120, frames_dropped=3, analysed_fps=None if last_error else 2.0,
    )  # fmt: skip

    view = camera_status_view(status, name="宝石山下步行道", grid_code=grid_code)

    assert view == {
        "camera_id": "cam-1", "state": status.state, "since": "2026-03-01T08:00:00Z", "last_error": last_error,
        "updated_at": "2026-03-01T08:01:00Z", "frames_decoded": 120, "frames_dropped": 3,
        "analysed_fps": status.analysed_fps, "name": "宝石山下步行道", "grid_code": grid_code,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("lat", "lon", "geometry"),
    [
        (30.265, 120.135, {"type": "Point", "coordinates": [120.135, 30.265]}),  # RFC 7946: longitude first
        (None, None, None),  # a camera without coordinates: a null geometry, still a feature
        (30.265, None, None),
    ],
)
def test_an_incident_feature_is_a_point_at_its_camera(
    lat: float | None, lon: float | None, geometry: dict | None
) -> None:
    feature = incident_feature(incident(lat=lat, lon=lon), minutes(70))

    assert (feature["type"], feature["id"], feature["geometry"]) == ("Feature", "a1", geometry)
    assert feature["properties"] == incident_view(incident(lat=lat, lon=lon), minutes(70))


@pytest.mark.parametrize("ids", [[], ["a1"], ["a1", "b2", "c3"]])
def test_a_feature_collection_keeps_the_incidents_order(ids: list[str]) -> None:
    collection = incident_feature_collection([incident(id=i) for i in ids], minutes(70))

    assert collection["type"] == "FeatureCollection"
    assert [f["id"] for f in collection["features"]] == ids
    assert all(f["properties"]["light"] == "yellow" for f in collection["features"])  # all as of `now`
