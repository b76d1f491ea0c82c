"""The closed loop through the API: steps by the roles that take them, their history and websocket push, refusals
(409 with the allowed statuses, 403, 422), the pipeline never undoing a step, deadlines (traffic lights, overdue
flag and push on an injected clock) and /stats."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from models.clock import ManualClock
from models.config import ServiceConfig
from models.incident import Incident
from models.push import LocalBroker, PushJournal
from models.store import Store
from tests.api.access import api_key, bearer
from tests.api.camera_feed import (
    CAM_FIRE_LANE,
    CAM_WALKWAY,
    CAM_YUQUAN,
    T0,
    CameraFeed,
    demo_config,
    minutes,
)
from tests.api.live_client import assert_quiet, messages, next_message, next_push


def post_step(client: TestClient, incident: Incident | str, headers: dict[str, str] | None = None, **body: Any):  # type: ignore[no-untyped-def]
    incident_id = incident if isinstance(incident, str) else incident.id
    return client.post(f"/incidents/{incident_id}/transitions", json=body, headers=headers or {})


def test_the_whole_loop_by_the_roles_that_take_each_step(
    client: TestClient, feed: CameraFeed, config: ServiceConfig, clock: ManualClock
) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8, count=8)
    beishan = bearer(config, "beishan", clock.now())
    steps = [  # (who, minutes, body)
        (beishan, 2, {"to": "filed", "note": "画面核实: 确有聚集", "attachments": ["/incidents/x/snapshot"]}),
        (beishan, 4, {"to": "dispatched", "department": "北山派出所", "staff": "张警官"}),
        (api_key(), 30, {"to": "handled", "note": "已疏散", "attachments": ["https://oa.example/photo/1.jpg"]}),
        (beishan, 35, {"to": "checked", "note": "复看画面, 已无聚集"}),
        (beishan, 36, {"to": "closed"}),
        (bearer(config, "admin", clock.now()), 60, {"to": "evaluated", "rating": 5, "note": "处置及时"}),
    ]

    with client.websocket_connect("/ws") as ws:
        results = []
        for headers, at, body in steps:
            clock.set(minutes(at))
            response = post_step(client, incident, headers, **body)
            assert response.status_code == 201, response.text
            results.append(response.json())
        pushed = messages(ws, len(steps))
        assert_quiet(ws)

    assert [r["incident"]["status"] for r in results] == [
        "filed", "dispatched", "handled", "checked", "closed", "evaluated"
    ]  # fmt: skip
    history = client.get(f"/incidents/{incident.id}/transitions").json()
    assert [(h["action"], h["from_status"], h["to_status"], h["actor"], h["actor_role"]) for h in history] == [
        ("file", "reported", "filed", "beishan", "operator"),
        ("dispatch", "filed", "dispatched", "beishan", "operator"),
        ("handle", "dispatched", "handled", "incident-system", "incident-system"),
        ("check", "handled", "checked", "beishan", "operator"),
        ("close", "checked", "closed", "beishan", "operator"),
        ("evaluate", "closed", "evaluated", "admin", "admin"),
    ]
    assert [h["at"] for h in history] == [f"2026-03-01T08:{m:02d}:00Z" for m in (2, 4, 30, 35, 36)] + [
        "2026-03-01T09:00:00Z"
    ]
    assert history[0]["attachments"] == ["/incidents/x/snapshot"]
    assert (history[1]["department"], history[1]["staff"]) == ("北山派出所", "张警官")
    assert history[2]["note"] == "已疏散"
    assert history[5]["rating"] == 5
    # each step pushed once, as incident.transition, with the seq its history row names
    assert [m["type"] for m in pushed] == ["incident.transition"] * len(steps)
    assert [m["seq"] for m in pushed] == [h["seq"] for h in history]
    assert [m["data"]["transition"]["to_status"] for m in pushed] == [h["to_status"] for h in history]
    assert all(m["data"]["id"] == incident.id for m in pushed)
    detail = client.get(f"/incidents/{incident.id}").json()
    assert (detail["status"], detail["assignee_department"], detail["assignee_staff"]) == (
        "evaluated", "北山派出所", "张警官"
    )  # fmt: skip
    assert (detail["resolved_at"], detail["status_changed_at"]) == ("2026-03-01T08:30:00Z", "2026-03-01T09:00:00Z")
    assert detail["next_statuses"] == []


@pytest.mark.parametrize(
    ("before", "body", "status", "allowed"),
    [
        ([], {"to": "closed"}, "reported", ["filed", "rejected"]),
        ([], {"to": "reported"}, "reported", ["filed", "rejected"]),
        ([{"to": "filed"}], {"to": "rejected", "reason": "x"}, "filed", ["dispatched"]),
        ([{"to": "rejected", "reason": "施工人员"}], {"to": "filed"}, "rejected", []),
    ],
)
def test_an_illegal_step_is_409_with_the_allowed_statuses(
    client: TestClient, feed: CameraFeed, before: list[dict[str, Any]], body: dict[str, Any], status: str,
    allowed: list[str],
) -> None:  # fmt: skip
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)
    for earlier in before:
        assert post_step(client, incident, **earlier).status_code == 201

    response = post_step(client, incident, **body)

    assert response.status_code == 409
    assert response.json()["detail"]["status"] == status
    assert response.json()["detail"]["allowed"] == allowed
    assert len(client.get(f"/incidents/{incident.id}/transitions").json()) == len(before)


@pytest.mark.parametrize(
    ("body", "needs"),
    [
        ({"to": "rejected"}, "reason"),
        ({"to": "rejected", "reason": "  "}, "reason"),
    ],
)
def test_a_step_without_what_it_needs_is_422(
    client: TestClient, feed: CameraFeed, body: dict[str, Any], needs: str
) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)

    response = post_step(client, incident, **body)

    assert response.status_code == 422
    [problem] = response.json()["detail"]  # the documented shape: a list of {loc, msg, type}
    assert problem["loc"] == ["body", needs]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "verified"}, ["body", "to"]),  # not a status
        ({}, ["body", "to"]),
        ({"to": "filed", "attachments": ["not a url"]}, ["body", "attachments", 0]),
        ({"to": "filed", "attachments": ["javascript:alert(1)"]}, ["body", "attachments", 0]),
        ({"to": "filed", "rating": 6}, ["body", "rating"]),
        ({"to": "filed", "surprise": 1}, ["body", "surprise"]),
        ({"to": "filed", "note": "x" * 4001}, ["body", "note"]),
    ],
)
def test_a_malformed_step_is_422_naming_its_field(
    client: TestClient, feed: CameraFeed, body: dict[str, Any], field: list[str | int]
) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)

    response = post_step(client, incident, **body)

    assert response.status_code == 422
    assert [problem["loc"] for problem in response.json()["detail"]] == [field]
    assert client.get(f"/incidents/{incident.id}").json()["status"] == "reported"  # no step was taken


def test_a_step_of_another_role_is_403(client: TestClient, feed: CameraFeed, config: ServiceConfig) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)
    beishan = bearer(config, "beishan", T0)
    assert post_step(client, incident, beishan, to="filed").status_code == 201
    assert post_step(client, incident, beishan, to="dispatched", department="d").status_code == 201

    response = post_step(client, incident, beishan, to="handled", note="done")  # the department's feedback

    assert response.status_code == 403
    viewer = post_step(client, incident, bearer(config, "viewer", T0), to="handled", note="x")
    assert viewer.status_code == 403
    assert client.get(f"/incidents/{incident.id}").json()["status"] == "dispatched"


def test_the_next_statuses_depend_on_the_caller(client: TestClient, feed: CameraFeed, config: ServiceConfig) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)
    path = f"/incidents/{incident.id}"

    assert client.get(path).json()["next_statuses"] == ["filed", "rejected"]
    assert client.get(path, headers=bearer(config, "viewer", T0)).json()["next_statuses"] == []


def test_the_lifecycle_is_published(client: TestClient) -> None:
    steps = client.get("/incidents/lifecycle").json()

    assert {"action": "reject", "label": "误报驳回", "source": "reported", "target": "rejected",
            "roles": ["admin", "incident-system", "operator"], "requires": ["reason"]} in steps  # fmt: skip
    assert len(steps) == 9


def test_camera_updates_after_a_step_keep_the_loops_status(
    client: TestClient, feed: CameraFeed, config: ServiceConfig
) -> None:
    incident = feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(0), magnitude=2)
    assert post_step(client, incident, to="filed").status_code == 201

    with client.websocket_connect("/ws") as ws:
        feed.close_incident(incident, minutes(7))  # the camera's copy still says reported
        closed = next_message(ws)

    detail = client.get(f"/incidents/{incident.id}").json()
    assert (detail["status"], detail["closed_at"]) == ("filed", "2026-03-01T08:07:00Z")
    assert (closed["type"], closed["data"]["status"]) == ("incident.closed", "filed")


def test_rejection_keeps_the_reason_per_camera_and_rule(client: TestClient, feed: CameraFeed) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)

    response = post_step(client, incident, to="rejected", reason="画面中为排队候车, 非聚集")

    assert response.status_code == 201
    assert response.json()["transition"]["reason"] == "画面中为排队候车, 非聚集"
    assert response.json()["incident"]["resolved_at"] == "2026-03-01T08:00:00Z"
    stats = client.get("/stats").json()
    assert {"camera_id": CAM_WALKWAY, "rule": "crowd", "rejected": 1, "decided": 1, "rate": 1.0} in stats[
        "false_alarms_by_camera_rule"
    ]


# ------------------------------------------------------------------------------------------------ deadlines


@pytest.mark.parametrize(
    ("now", "light", "overdue"),
    [
        (0, "green", False),
        (59, "green", False),
        (60, "yellow", False),  # half of the 2 h limit left
        (119, "yellow", False),
        (120, "red", True),
        (500, "red", True),
    ],
)
def test_traffic_light_in_the_incident_view(
    client: TestClient, feed: CameraFeed, clock: ManualClock, now: float, light: str, overdue: bool
) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)  # limit 2 h
    clock.set(minutes(now))

    detail = client.get(f"/incidents/{incident.id}").json()
    [listed] = client.get("/incidents").json()["items"]

    assert (detail["light"], detail["overdue"]) == (light, overdue)
    assert (listed["light"], listed["overdue"]) == (light, overdue)
    assert detail["seconds_left"] == (120 - now) * 60


def test_a_resolved_incident_keeps_its_light(client: TestClient, feed: CameraFeed, clock: ManualClock) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)
    clock.set(minutes(70))
    post_step(client, incident, to="rejected", reason="误报")
    clock.set(minutes(1000))

    detail = client.get(f"/incidents/{incident.id}").json()

    assert (detail["light"], detail["overdue"], detail["seconds_left"]) == ("yellow", False, 50 * 60)


CHECK_S = 0.02


@pytest.fixture
def quick_deadlines(tmp_path: Path) -> Iterator[tuple[TestClient, CameraFeed, ManualClock]]:
    """The API with its overdue check every CHECK_S of the clock the test moves."""
    config = demo_config(tmp_path)
    config = config.model_copy(
        update={"closed_loop": config.closed_loop.model_copy(update={"overdue_check_s": CHECK_S})}
    )
    broker, clock = LocalBroker(), ManualClock(T0)
    app = create_app(config, run_cameras=False, broker=broker, clock=clock)
    with Store(config.store.url.get_secret_value()) as store, TestClient(app, headers=bearer(config, "admin", T0)) as c:
        yield c, CameraFeed(config, PushJournal(store, broker)), clock


def test_overdue_incidents_are_flagged_and_pushed_once(
    quick_deadlines: tuple[TestClient, CameraFeed, ManualClock],
) -> None:
    client, feed, clock = quick_deadlines
    fire = feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(0), magnitude=2)  # limit 1 h
    crowd = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)  # limit 2 h
    false_alarm = feed.open_incident(CAM_YUQUAN, "crowd", minutes(0), magnitude=8)
    feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(0), magnitude=2, is_test=True)
    assert post_step(client, false_alarm, to="rejected", reason="误报").status_code == 201

    with client.websocket_connect("/ws") as ws:
        assert_quiet(ws)  # nothing is due at 08:00
        clock.advance(minutes(61) - clock.now())  # the check runs as its interval passes on the service's clock
        first = next_push(ws)
        for _ in range(3):  # once, though the check keeps running
            clock.advance(CHECK_S)
            assert_quiet(ws)
        clock.advance(minutes(200) - clock.now())
        second = next_push(ws)
        clock.advance(CHECK_S)
        assert_quiet(ws)

    assert (first["type"], first["data"]["id"], first["at"]) == ("incident.overdue", fire.id, "2026-03-01T09:01:00+00:00")
    assert (first["data"]["light"], first["data"]["overdue"]) == ("red", True)
    assert (second["type"], second["data"]["id"]) == ("incident.overdue", crowd.id)
    assert client.get(f"/incidents/{fire.id}").json()["overdue"] is True
    assert client.get(f"/incidents/{false_alarm.id}").json()["overdue"] is False


# ---------------------------------------------------------------------------------------------------- stats


def test_stats_on_a_hand_made_set(client: TestClient, feed: CameraFeed, clock: ManualClock, config: ServiceConfig) -> None:
    walkway = [feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8) for _ in range(3)]
    fire = feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(10), magnitude=6)
    yuquan = feed.open_incident(CAM_YUQUAN, "crowd", minutes(20), magnitude=30)
    feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(10), magnitude=6, is_test=True)  # never counted
    for incident, at, body in [
        (walkway[0], 5, {"to": "filed"}),
        (walkway[0], 15, {"to": "dispatched", "department": "北山派出所"}),
        (walkway[1], 10, {"to": "rejected", "reason": "排队"}),
        (fire, 14, {"to": "filed"}),
        (yuquan, 40, {"to": "rejected", "reason": "演出散场"}),
    ]:
        clock.set(minutes(at))
        assert post_step(client, incident, **body).status_code == 201
    clock.set(minutes(90))  # the fire (limit 1 h) is overdue; the crowds (2 h) are not

    stats = client.get("/stats").json()

    assert (stats["grid"], stats["total"], stats["overdue"], stats["now"]) == ("330106", 5, 1, "2026-03-01T09:30:00Z")
    assert {row["code"]: row["incidents"] for row in stats["by_grid"]} == {
        "330106": 5, "330106001": 4, "330106001001": 4, "330106001001001": 3, "330106001001002": 1,
        "330106002": 1, "330106002001": 1, "330106002001001": 1,
    }  # fmt: skip
    assert stats["by_category"] == {"crowd_gathering": 4, "fire_hazard": 1}
    assert stats["by_status"] == {"dispatched": 1, "filed": 1, "rejected": 2, "reported": 1}
    assert stats["false_alarms"] == {"rejected": 2, "decided": 4, "rate": 0.5}
    assert stats["false_alarms_by_camera_rule"] == [
        {"camera_id": CAM_WALKWAY, "rule": "crowd", "rejected": 1, "decided": 2, "rate": 0.5},
        {"camera_id": CAM_FIRE_LANE, "rule": "fire_smoke", "rejected": 0, "decided": 1, "rate": 0.0},
        {"camera_id": CAM_YUQUAN, "rule": "crowd", "rejected": 1, "decided": 1, "rate": 1.0},
    ]
    assert stats["mean_seconds_to"]["filed"] == (5 + 4) / 2 * 60
    assert stats["mean_seconds_to"]["rejected"] == (10 + 20) / 2 * 60
    assert stats["mean_seconds_to"]["dispatched"] == 15 * 60
    assert stats["mean_seconds_to"]["closed"] is None

    # the street 北山街道 only, and a time range
    beishan = client.get("/stats", params={"grid": "330106001"}).json()
    assert (beishan["total"], beishan["false_alarms"]["rate"]) == (4, 1 / 3)
    assert [row["code"] for row in beishan["by_grid"]][0] == "330106001"
    later = client.get("/stats", params={"opened_from": "2026-03-01T08:05:00Z"}).json()
    assert (later["total"], later["by_category"]) == (2, {"crowd_gathering": 1, "fire_hazard": 1})
    # an operator sees its own street, whatever it asks for
    as_operator = client.get("/stats", headers=bearer(config, "lingyin", T0)).json()
    assert (as_operator["grid"], as_operator["total"]) == ("330106002", 1)


def test_stats_of_an_empty_store(client: TestClient) -> None:
    stats = client.get("/stats").json()

    assert (stats["total"], stats["overdue"]) == (0, 0)
    assert stats["false_alarms"] == {"rejected": 0, "decided": 0, "rate": None}
    assert stats["by_status"] == {} and stats["false_alarms_by_camera_rule"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"grid": "999999"}, "unknown grid cell '999999'"),
        ({"grid": "abc"}, "String should match pattern"),
        ({"opened_from": "2026-03-01T08:00:00"}, "opened_from needs a time zone"),
        ({"opened_to": "x"}, "valid datetime"),
    ],
)
def test_stats_bad_query_is_422_naming_its_field(client: TestClient, params: dict[str, str], message: str) -> None:
    response = client.get("/stats", params=params)

    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["query", *params] and message in problem["msg"]

