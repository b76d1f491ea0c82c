from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from models.clock import ManualClock
from models.incident import Incident
from models.push import LocalBroker, PushJournal
from models.store import Store
from tests.api.access import bearer
from tests.api.camera_feed import (
    CAM_FIRE_LANE,
    CAM_WALKWAY,
    CAM_YUQUAN,
    CELL_FIRE_LANE,
    CELL_WALKWAY,
    CELL_YUQUAN,
    COMMUNITY_BAOSHISHAN,
    DISTRICT,
    STREET_BEISHAN,
    STREET_LINGYIN,
    CameraFeed,
    demo_config,
    minutes,
)


@dataclass(frozen=True)
class City:
    """The API over a store holding, oldest opened first:

    crowd     walkway crowd, 8 people (C)                 08:00
    fire      fire lane fire, 6 % of the frame (A), JPEG  08:10
    yuquan    yuquan crowd, 25 people (B), filed          08:20
    fault     walkway camera fault, closed at 08:45       08:30
    drill     fire lane fire raised by a replay (test)    08:40
    """

    client: TestClient
    incidents: dict[str, Incident]

    def ids(self, *names: str) -> list[str]:
        return [self.incidents[name].id for name in names]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    config = demo_config(tmp_path_factory.mktemp("city"))
    broker = LocalBroker()
    with Store(config.store.url.get_secret_value()) as store:
        store.migrate()
        feed = CameraFeed(config, PushJournal(store, broker))
        incidents = {
            "crowd": feed.open_incident(
                CAM_WALKWAY, "crowd", minutes(0), magnitude=8, count=8, confidence=0.8
            ),
            "fire": feed.open_incident(
                CAM_FIRE_LANE, "fire_smoke", minutes(10), magnitude=6, confidence=0.9, snapshot=True, clip=True
            ),
            "yuquan": feed.open_incident(
                CAM_YUQUAN, "crowd", minutes(20), magnitude=25, count=25, status="filed"
            ),
            "fault": feed.open_incident(CAM_WALKWAY, "camera_offline", minutes(30), magnitude=1),
            "drill": feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(40), magnitude=1, is_test=True),
        }
        incidents["fault"] = feed.close_incident(incidents["fault"], minutes(45))
    clock = ManualClock(minutes(50))  # the service's now: 08:50
    app = create_app(config, run_cameras=False, broker=broker, clock=clock)
    with TestClient(app, headers=bearer(config, "admin", clock.now())) as client:
        yield City(client, incidents)


def listed(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/incidents", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


NEWEST_FIRST = ("fault", "yuquan", "fire", "crowd")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, NEWEST_FIRST),
        ({"include_tests": "true"}, ("drill", *NEWEST_FIRST)),
        ({"include_tests": "false"}, NEWEST_FIRST),
        # grid: the cell's whole subtree
        ({"grid": DISTRICT}, NEWEST_FIRST),
        ({"grid": STREET_BEISHAN}, ("fault", "fire", "crowd")),
        ({"grid": STREET_LINGYIN}, ("yuquan",)),
        ({"grid": COMMUNITY_BAOSHISHAN}, ("fault", "fire", "crowd")),
        ({"grid": CELL_WALKWAY}, ("fault", "crowd")),
        ({"grid": CELL_FIRE_LANE}, ("fire",)),
        ({"grid": CELL_FIRE_LANE, "include_tests": "true"}, ("drill", "fire")),
        ({"grid": CELL_YUQUAN}, ("yuquan",)),
        ({"grid": "330106002001"}, ("yuquan",)),
        # category
        ({"category": "crowd_gathering"}, ("yuquan", "crowd")),
        ({"category": "fire_hazard"}, ("fire",)),
        ({"category": "camera_fault"}, ("fault",)),
        # status
        ({"status": "reported"}, ("fault", "fire", "crowd")),
        ({"status": "filed"}, ("yuquan",)),
        ({"status": "dispatched"}, ()),
        # camera
        ({"camera": CAM_WALKWAY}, ("fault", "crowd")),
        ({"camera": CAM_YUQUAN}, ("yuquan",)),
        ({"camera": "34020000001320000099"}, ()),
        # opened_from inclusive, opened_to exclusive; any zone, converted
        ({"opened_from": "2026-03-01T08:10:00Z"}, ("fault", "yuquan", "fire")),
        ({"opened_from": "2026-03-01T16:10:00+08:00"}, ("fault", "yuquan", "fire")),
        ({"opened_to": "2026-03-01T08:10:00Z"}, ("crowd",)),
        ({"opened_to": "2026-03-01T08:10:00.000001+00:00"}, ("fire", "crowd")),
        ({"opened_from": "2026-03-01T08:05:00Z", "opened_to": "2026-03-01T08:25:00Z"}, ("yuquan", "fire")),
        ({"opened_from": "2026-03-01T09:00:00Z"}, ()),
        ({"opened_from": "2026-03-01T08:25:00Z", "opened_to": "2026-03-01T08:05:00Z"}, ()),
        # combined
        ({"grid": STREET_BEISHAN, "category": "crowd_gathering"}, ("crowd",)),
        ({"grid": STREET_LINGYIN, "category": "fire_hazard"}, ()),
        (
            {"category": "fire_hazard", "include_tests": "true", "opened_from": "2026-03-01T08:30:00Z"},
            ("drill",),
        ),
    ],
)
def test_incident_filters(city: City, params: dict[str, str], expected: tuple[str, ...]) -> None:
    page = listed(city.client, **params)

    assert [item["id"] for item in page["items"]] == city.ids(*expected)
    assert page["total"] == len(expected)
    assert (page["limit"], page["offset"]) == (50, 0)


@pytest.mark.parametrize(
    ("limit", "offset", "expected"),
    [
        (2, 0, ("fault", "yuquan")),
        (2, 2, ("fire", "crowd")),
        (3, 2, ("fire", "crowd")),
        (1, 3, ("crowd",)),
        (2, 4, ()),  # past the end: no items, the total still counts them all
        (500, 1_000_000, ()),
        (500, 0, NEWEST_FIRST),
    ],
)
def test_incident_pagination(city: City, limit: int, offset: int, expected: tuple[str, ...]) -> None:
    page = listed(city.client, limit=limit, offset=offset)

    assert [item["id"] for item in page["items"]] == city.ids(*expected)
    assert (page["total"], page["limit"], page["offset"]) == (4, limit, offset)


def test_incident_item_comes_from_the_real_builder(city: City) -> None:
    [item] = listed(city.client, category="fire_hazard")["items"]

    fire = city.incidents["fire"]
    assert item == {
        "id": fire.id,
        "rule": "fire_smoke",
        "category_code": "fire_hazard",
        "category_name": "火灾隐患",
        "category_group": "安全生产",
        "severity": "A",  # 6 % of the frame reaches the A band at 5
        "status": "reported",
        "grid_code": CELL_FIRE_LANE,
        "grid_path": [
            {"code": DISTRICT, "name": "西湖区"},
            {"code": STREET_BEISHAN, "name": "北山街道"},
            {"code": COMMUNITY_BAOSHISHAN, "name": "宝石山社区"},
            {"code": CELL_FIRE_LANE, "name": "宝石山第二网格"},
        ],
        "camera_id": CAM_FIRE_LANE,
        "camera_name": "宝石山仓库消防通道",
        "lat": 30.265,
        "lon": 120.145,
        "opened_at": "2026-03-01T08:10:00Z",
        "updated_at": "2026-03-01T08:10:00Z",
        "closed_at": None,
        "peak_count": None,
        "peak_confidence": 0.9,
        "owner_department": "西湖区消防救援大队",
        "deadline": "2026-03-01T09:10:00Z",  # time limit 1 h
        "is_test": False,
        "snapshot_url": f"/incidents/{fire.id}/snapshot",
        "clip_url": f"/incidents/{fire.id}/clip.mp4",
        # the closed loop: not yet touched
        "status_changed_at": None,
        "resolved_at": None,
        "assignee_department": None,
        "assignee_staff": None,
        # at 08:50, 20 of its 60 minutes are left: yellow
        "light": "yellow",
        "overdue": False,
        "seconds_left": 1200.0,
    }


@pytest.mark.parametrize(
    ("name", "severity", "closed_at", "deadline"),
    [
        ("crowd", "C", None, "2026-03-01T10:00:00Z"),
        ("yuquan", "B", None, "2026-03-01T10:20:00Z"),
        ("fault", "C", "2026-03-01T08:45:00Z", "2026-03-02T08:30:00Z"),
    ],
)
def test_incident_detail(city: City, name: str, severity: str, closed_at: str | None, deadline: str) -> None:
    incident = city.incidents[name]

    response = city.client.get(f"/incidents/{incident.id}")

    assert response.status_code == 200
    detail = response.json()
    assert (detail["id"], detail["severity"], detail["closed_at"], detail["deadline"]) == (
        incident.id,
        severity,
        closed_at,
        deadline,
    )
    assert detail["snapshot_url"] is None


def test_incident_detail_of_a_test_incident(city: City) -> None:
    detail = city.client.get(f"/incidents/{city.incidents['drill'].id}").json()

    assert detail["is_test"] is True


def test_incident_detail_has_snapshot_url_never_the_server_path(city: City) -> None:
    fire = city.incidents["fire"]

    response = city.client.get(f"/incidents/{fire.id}")

    assert response.json()["snapshot_url"] == f"/incidents/{fire.id}/snapshot"
    assert "snapshot_path" not in response.json()
    assert fire.snapshot_path is not None and str(Path(fire.snapshot_path).parent) not in response.text


@pytest.mark.parametrize("incident_id", ["0" * 32, "unknown", "%20", "x" * 500])
def test_unknown_incident_is_404(city: City, incident_id: str) -> None:
    for path in (f"/incidents/{incident_id}", f"/incidents/{incident_id}/snapshot", f"/incidents/{incident_id}/clip.mp4"):
        response = city.client.get(path)
        assert response.status_code == 404, path
        assert response.json()["detail"].startswith("unknown incident"), path


def test_snapshot_is_the_saved_jpeg(city: City) -> None:
    fire = city.incidents["fire"]
    assert fire.snapshot_path is not None

    response = city.client.get(f"/incidents/{fire.id}/snapshot")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == Path(fire.snapshot_path).read_bytes()
    assert response.content.startswith(b"\xff\xd8\xff")  # a JPEG


@pytest.mark.parametrize("name", ["crowd", "yuquan", "fault", "drill"])
def test_snapshot_of_an_incident_without_one_is_404(city: City, name: str) -> None:
    response = city.client.get(f"/incidents/{city.incidents[name].id}/snapshot")

    assert response.status_code == 404
    assert "no snapshot" in response.json()["detail"]


def test_clip_is_the_saved_mp4_and_honours_range(city: City) -> None:
    fire = city.incidents["fire"]
    assert fire.clip_path is not None
    saved = Path(fire.clip_path).read_bytes()

    whole = city.client.get(f"/incidents/{fire.id}/clip.mp4")
    part = city.client.get(f"/incidents/{fire.id}/clip.mp4", headers={"Range": "bytes=100-1099"})
    tail = city.client.get(f"/incidents/{fire.id}/clip.mp4", headers={"Range": "bytes=-500"})
    beyond = city.client.get(f"/incidents/{fire.id}/clip.mp4", headers={"Range": f"bytes={len(saved) + 10}-"})

    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.content == saved and whole.headers["accept-ranges"] == "bytes"
    assert saved[4:8] == b"ftyp" and saved.find(b"moov") < saved.find(b"mdat")  # faststart: a browser plays it early
    assert part.status_code == 206 and part.content == saved[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(saved)}"
    assert tail.status_code == 206 and tail.content == saved[-500:]
    assert beyond.status_code == 416


@pytest.mark.parametrize("name", ["crowd", "yuquan", "fault", "drill"])
def test_clip_of_an_incident_without_one_is_404_and_has_no_url(city: City, name: str) -> None:
    incident = city.incidents[name]
    response = city.client.get(f"/incidents/{incident.id}/clip.mp4")

    assert response.status_code == 404 and "no clip" in response.json()["detail"]
    assert city.client.get(f"/incidents/{incident.id}").json()["clip_url"] is None


def test_snapshot_whose_file_is_gone_is_404(client: TestClient, feed: CameraFeed) -> None:
    incident = feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(0), magnitude=1, snapshot=True)
    assert incident.snapshot_path is not None
    Path(incident.snapshot_path).unlink()

    response = client.get(f"/incidents/{incident.id}/snapshot")

    assert response.status_code == 404
    assert "snapshot" in response.json()["detail"]
    assert str(Path(incident.snapshot_path).parent) not in response.text  # the server path never shows


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"include_tests": "true"},
        {"grid": STREET_LINGYIN},
        {"category": "crowd_gathering", "status": "reported", "camera": CAM_WALKWAY},
        {"opened_from": "2026-01-01T00:00:00Z", "limit": 1, "offset": 5},
    ],
)
def test_empty_store_lists_no_incidents(client: TestClient, params: dict[str, Any]) -> None:
    page = listed(client, **params)

    assert page["items"] == []
    assert page["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": -1},
        {"limit": 100_000},
        {"limit": "ten"},
        {"offset": -1},
        {"offset": 1_000_001},
        {"grid": "abc"},
        {"grid": ""},
        {"grid": "3301O6"},  # a letter O
        {"grid": "1" * 33},
        {"grid": "999999"},  # digits, but no such cell
        {"grid": f"{CELL_WALKWAY}1"},
        {"category": "arson"},
        {"category": ""},
        {"category": "x" * 65},
        {"status": "x" * 33},
        {"camera": "x" * 65},
        {"include_tests": "maybe"},
        {"opened_from": "notadate"},
        {"opened_from": "2026-03-01T08:00:00"},  # naive: its zone would be a guess
        {"opened_to": "2026-03-01T08:00:00"},
        {"opened_from": "2026-03-01"},  # a date is a naive midnight
        {"opened_to": "2026-13-01T00:00:00Z"},
        {"opened_from": "9999-12-31T23:59:59-23:59"},  # valid, but out of range once in UTC
        {"opened_to": "0001-01-01T00:00:00+01:00"},
    ],
)
def test_bad_query_is_422_never_5xx(city: City, params: dict[str, Any]) -> None:
    response = city.client.get("/incidents", params=params)

    assert response.status_code == 422, response.text
    assert "detail" in response.json()
