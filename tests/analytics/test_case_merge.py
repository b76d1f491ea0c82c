"""One case per situation: the decision (pure, explicit times) and the sink over the real store (SQLite and
PostgreSQL) and push journal: a second camera's opening joins the first camera's incident as a sighting."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics.case_merge import case_to_join, distance_m, joins
from analytics.events import Event, EventPhase, Evidence
from analytics.incident_builder import IncidentBuilder
from analytics.incident_sink import IncidentSink
from ingest.frames import VideoFrame
from models import lifecycle, sightings
from models.config import CaseMergeConfig, ServiceConfig, parse_config
from models.incident import GridRef, Incident, PushMessage
from models.push import LocalBroker, PushJournal
from models.store import Store
from tests.analytics.helpers import detections
from tests.conftest import demo_raw_config
from tests.models.conftest import db_url, postgres_admin, store  # noqa: F401 - SQLite and PostgreSQL stores

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
CELL_A, CELL_B = "330106001001001", "330106001001002"
MERGE = CaseMergeConfig(enabled=True, window_s=60)


def incident(camera: str, *, cell: str = CELL_B, at: datetime = T0, lat: float | None = 30.265,
             lon: float | None = 120.145, closed: datetime | None = None, status: str = "reported",
             category: str = "fire_hazard", is_test: bool = False, id: str | None = None) -> Incident:  # fmt: skip
    return Incident(
        id=id or f"{camera}-{at.timestamp():.0f}",
        rule="fire_smoke",
        category_code=category,
        category_name="火灾隐患",
        category_group="安全生产",
        severity="B",
        status=status,
        grid_code=cell,
        grid_path=[GridRef(code=cell, name="cell")],
        camera_id=camera,
        camera_name=camera,
        lat=lat,
        lon=lon,
        opened_at=at,
        updated_at=closed or at,
        closed_at=closed,
        owner_department="西湖区消防救援大队",
        deadline=at + timedelta(hours=1),
        is_test=is_test,
    )


# ------------------------------------------------------------------------------------------- the decision


def test_same_cell_same_category_overlapping_in_time_joins():
    first = incident("east")
    assert joins(MERGE, incident("west", at=T0 + timedelta(seconds=20)), first, T0 + timedelta(seconds=20))


@pytest.mark.parametrize(
    ("why", "new", "open_one"),
    [
        ("another cell, no radius", incident("west", cell=CELL_A), incident("east")),
        ("another category", incident("west", category="crowd_gathering"), incident("east")),
        ("the same camera", incident("east", id="again"), incident("east")),
        ("ended longer than window_s ago", incident("west", at=T0 + timedelta(seconds=200)),
         incident("east", closed=T0 + timedelta(seconds=100))),
        ("a rejected case", incident("west"), incident("east", status="rejected")),
        ("a closed case", incident("west"), incident("east", status="closed")),
        ("a replay's", incident("west", is_test=True), incident("east", is_test=True)),
    ],
)  # fmt: skip
def test_what_stays_a_case_of_its_own(why, new, open_one):
    assert not joins(MERGE, new, open_one, new.opened_at), why


def test_two_cameras_opening_at_once_join_whichever_was_recorded_first():
    # each camera's frame time is its own: the one recorded first may be a moment younger
    recorded_first = incident("east", at=T0 + timedelta(milliseconds=3))
    assert joins(MERGE, incident("west"), recorded_first, T0)


def test_ended_within_window_s_still_joins():
    first = incident("east", closed=T0 + timedelta(seconds=100))
    assert joins(MERGE, incident("west", at=T0 + timedelta(seconds=150)), first, T0 + timedelta(seconds=150))


def test_a_radius_joins_across_cells_by_map_distance():
    by_radius = CaseMergeConfig(enabled=True, same_grid_cell=False, radius_m=100)
    first = incident("east", cell=CELL_A, lat=30.2650, lon=120.1450)
    near = incident("west", cell=CELL_B, lat=30.2655, lon=120.1452)  # ~59 m north-north-east
    far = incident("north", cell=CELL_B, lat=30.2670, lon=120.1450)  # ~222 m north
    assert distance_m(30.2650, 120.1450, 30.2655, 120.1452) == pytest.approx(59, abs=2)
    assert joins(by_radius, near, first, T0) and not joins(by_radius, far, first, T0)
    assert not joins(by_radius, incident("west", cell=CELL_A, lat=None, lon=None), first, T0)  # cell alone: no


def test_of_several_the_first_opened_is_joined_and_disabled_joins_none():
    older, newer = incident("east", at=T0 - timedelta(seconds=30)), incident("north", at=T0 - timedelta(seconds=10))
    new = incident("west")
    assert case_to_join(MERGE, new, [newer, older], T0) == older
    assert case_to_join(CaseMergeConfig(), new, [newer, older], T0) is None
    with pytest.raises(ValueError, match="same_grid_cell: true or a radius_m"):
        CaseMergeConfig(enabled=True, same_grid_cell=False)


# ------------------------------------------------------------------------------------------- the sink

FIRE_EAST = "34020000001320000002"  # the demo's fire camera, 宝石山第二网格
FIRE_WEST = "fire-west"  # another camera on the same cell
FIRE_ELSEWHERE = "fire-elsewhere"  # a camera in 宝石山第一网格


@dataclass
class World:
    store: Store
    sink: IncidentSink
    pushed: list[PushMessage]


def make_config(data_dir: Path, merge: dict | None = None) -> ServiceConfig:
    raw = demo_raw_config()
    raw["event_categories"]["fire_hazard"]["merge"] = merge or {"enabled": True, "window_s": 60}
    fire_rules = {"fire_smoke": {}}
    raw["cameras"][FIRE_WEST] = {"name": "仓库西", "url": "rtsp://h/w", "grid_cell": CELL_B, "lat": 30.2651,
                                 "lon": 120.1449, "rules": fire_rules}  # fmt: skip
    raw["cameras"][FIRE_ELSEWHERE] = {"name": "步行道", "url": "rtsp://h/e", "grid_cell": CELL_A, "lat": 30.265,
                                      "lon": 120.135, "rules": fire_rules}  # fmt: skip
    raw["store"] = {"url": "sqlite:///unused.db", "data_dir": str(data_dir)}
    return parse_config(raw, environ={"XUELIANG_DEMO_RTSP": "rtsp://h"})


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Iterator[World]:  # noqa: F811 - the store fixture, both backends
    config = make_config(tmp_path / "data")
    broker = LocalBroker()
    pushed: list[PushMessage] = []
    broker.subscribe(pushed.append)
    sink = IncidentSink(IncidentBuilder(config), PushJournal(store, broker), tmp_path / "data" / "snapshots")
    yield World(store, sink, pushed)


def fire(camera: str, phase: EventPhase, t: float, confidence: float = 0.8) -> Event:
    image = np.full((360, 640, 3), 60, dtype=np.uint8)
    evidence = Evidence(VideoFrame(camera_id=camera, frame_id=int(t), timestamp=t, pts=None, image=image),
                        detections([(100, 100, 200, 200)], "fire", confidence))
    return Event(phase=phase, rule="fire_smoke", category="fire_hazard", camera_id=camera, timestamp=t, magnitude=2.0,
                 confidence=confidence, evidence=evidence if phase is not EventPhase.CLOSED else None)  # fmt: skip


def listed(world: World, incident_id: str) -> list[sightings.Sighting]:
    with world.store.database.engine.connect() as connection:
        return sightings.of_incident(connection, incident_id)


def test_two_cameras_on_one_cell_seeing_one_fire_give_one_incident_with_both_cameras(world: World):
    t0 = T0.timestamp()
    first = world.sink.handle(fire(FIRE_EAST, EventPhase.OPENED, t0))
    joined = world.sink.handle(fire(FIRE_WEST, EventPhase.OPENED, t0 + 8, 0.6))
    assert first is not None and joined is not None and joined.id == first.id
    incidents, total = world.store.incidents.search()
    assert total == 1 and incidents[0].camera_id == FIRE_EAST
    [sighting] = listed(world, first.id)
    assert (sighting.camera_id, sighting.camera_name, sighting.grid_code) == (FIRE_WEST, "仓库西", CELL_B)
    assert sighting.opened_at == datetime.fromtimestamp(t0 + 8, UTC) and sighting.closed_at is None
    assert sighting.snapshot_path is not None and cv2.imread(sighting.snapshot_path).shape == (360, 640, 3)
    message = world.pushed[-1]
    assert message.type == "incident.updated" and message.data["id"] == first.id
    assert message.data["sighting"]["camera_id"] == FIRE_WEST
    assert message.data["sighting"]["snapshot_url"] == f"/incidents/{first.id}/sightings/{sighting.id}/snapshot"
    assert "snapshot_path" not in message.data["sighting"]

    # the second camera's updates and end are its sighting's; the incident stays its first camera's
    world.sink.handle(fire(FIRE_WEST, EventPhase.UPDATED, t0 + 12, 0.9))
    world.sink.handle(fire(FIRE_WEST, EventPhase.CLOSED, t0 + 30))
    [sighting] = listed(world, first.id)
    assert sighting.peak_confidence == pytest.approx(0.9)
    assert sighting.closed_at == datetime.fromtimestamp(t0 + 30, UTC)
    stored = world.store.incidents.get(first.id)
    assert stored is not None and stored.closed_at is None and stored.peak_confidence == pytest.approx(0.8)
    assert world.sink.sighting(FIRE_WEST, "fire_smoke") is None
    assert world.store.incidents.search()[1] == 1


def test_another_cell_a_closed_case_or_a_late_opening_is_a_case_of_its_own(world: World):
    t0 = T0.timestamp()
    first = world.sink.handle(fire(FIRE_EAST, EventPhase.OPENED, t0))
    elsewhere = world.sink.handle(fire(FIRE_ELSEWHERE, EventPhase.OPENED, t0 + 5))
    assert first is not None and elsewhere is not None and elsewhere.id != first.id
    world.sink.handle(fire(FIRE_EAST, EventPhase.CLOSED, t0 + 20))
    late = world.sink.handle(fire(FIRE_WEST, EventPhase.OPENED, t0 + 20 + 61))  # window_s is 60
    assert late is not None and late.id != first.id
    world.sink.handle(fire(FIRE_WEST, EventPhase.CLOSED, t0 + 100))
    world.sink.journal.transition(late.id, "rejected", actor="beishan", role=lifecycle.Role.OPERATOR,
                                  at=datetime.fromtimestamp(t0 + 101, UTC), reason="演练")  # fmt: skip
    again = world.sink.handle(fire(FIRE_EAST, EventPhase.OPENED, t0 + 102))
    assert again is not None and again.id not in (first.id, late.id)  # the first ended 82 s before; the late one is rejected
    assert listed(world, first.id) == [] and world.store.incidents.search()[1] == 4


def test_categories_without_merge_keep_one_case_per_camera(store: Store, tmp_path: Path):  # noqa: F811
    config = make_config(tmp_path, merge={"enabled": False})
    sink = IncidentSink(IncidentBuilder(config), PushJournal(store, LocalBroker()), tmp_path / "snapshots")
    t0 = T0.timestamp()
    first = sink.handle(fire(FIRE_EAST, EventPhase.OPENED, t0))
    second = sink.handle(fire(FIRE_WEST, EventPhase.OPENED, t0 + 8))
    assert first is not None and second is not None and first.id != second.id
    replay = IncidentSink(IncidentBuilder(make_config(tmp_path), is_test=True), PushJournal(store, LocalBroker()),
                          tmp_path / "snapshots")  # fmt: skip
    tests = [replay.handle(fire(camera, EventPhase.OPENED, t0 + 9)) for camera in (FIRE_EAST, FIRE_WEST)]
    assert len({i.id for i in tests if i is not None}) == 2  # replays never merge


def test_a_camera_whose_opening_frame_is_a_moment_older_still_joins(world: World):
    """Two cameras open at once on their own threads; the second to take the sink's lock may hold the older frame."""
    t0 = T0.timestamp()
    first = world.sink.handle(fire(FIRE_EAST, EventPhase.OPENED, t0 + 0.003))
    joined = world.sink.handle(fire(FIRE_WEST, EventPhase.OPENED, t0))
    assert first is not None and joined is not None and joined.id == first.id
    assert world.store.incidents.search()[1] == 1 and [s.camera_id for s in listed(world, first.id)] == [FIRE_WEST]
