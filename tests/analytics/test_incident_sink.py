"""Events → incidents through the real store (SQLite file) and the push journal; no camera, no model."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from analytics.events import Event, EventPhase, Evidence
from analytics.evidence import ZONE_COLOR
from analytics.incident_builder import IncidentBuilder
from analytics.incident_sink import IncidentSink
from analytics.rules.base import RuleState
from ingest.frames import VideoFrame
from ingest.health import CameraHealth, CameraState
from models.config import parse_config
from models.incident import PushMessage
from models.push import LocalBroker, PushJournal
from models.store import Store
from tests.analytics.helpers import people
from tests.conftest import demo_raw_config

CAM = "34020000001320000001"  # located by point-in-polygon in 宝石山第一网格
T0 = 1_790_000_000.0


@pytest.fixture
def config():
    return parse_config(demo_raw_config(), environ={"XUELIANG_DEMO_RTSP": "rtsp://h"})


@pytest.fixture
def world(tmp_path, config):
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    store.migrate()
    broker = LocalBroker()
    pushed: list[PushMessage] = []
    broker.subscribe(pushed.append)
    sink = IncidentSink(IncidentBuilder(config), PushJournal(store, broker), tmp_path / "snapshots")
    yield sink, store, pushed
    store.close()


def crowd_event(phase: EventPhase, t: float, count: int, evidence: Evidence | None) -> Event:
    return Event(
        phase=phase, rule="crowd", category="crowd_gathering", camera_id=CAM, timestamp=t, magnitude=float(count),
        count=count, confidence=0.8, evidence=evidence,
    )  # fmt: skip


def crowd(phase: EventPhase, t: float, count: int, with_evidence: bool = True) -> Event:
    image = np.full((576, 768, 3), 80, dtype=np.uint8)
    frame = VideoFrame(camera_id=CAM, frame_id=1, timestamp=t, pts=None, image=image)
    evidence = Evidence(frame, people(count)) if with_evidence else None
    return crowd_event(phase, t, count, evidence)


def test_one_incident_per_situation_with_its_life(world):
    sink, store, pushed = world
    first = sink.handle(crowd(EventPhase.OPENED, T0, 12))
    sink.handle(crowd(EventPhase.UPDATED, T0 + 5, 25))
    sink.handle(crowd(EventPhase.CLOSED, T0 + 60, 25, with_evidence=False))
    assert first is not None
    incidents, total = store.incidents.search()
    assert total == 1
    incident = incidents[0]
    assert incident.id == first.id and incident.peak_count == 25
    assert incident.severity == "B"  # 25 people reaches the B band (20) of the demo's crowd category
    assert incident.grid_code == "330106001001001" and [g.name for g in incident.grid_path][-1] == "宝石山第一网格"
    assert incident.owner_department == "西湖区公安分局"
    assert (incident.deadline - incident.opened_at).total_seconds() == 2 * 3600
    assert incident.closed_at is not None and incident.closed_at.timestamp() == pytest.approx(T0 + 60)
    assert [m.type for m in pushed] == ["incident.opened", "incident.updated", "incident.closed"]
    assert [m.seq for m in pushed] == sorted(m.seq for m in pushed)
    snapshot = cv2.imread(incident.snapshot_path)
    assert snapshot is not None and snapshot.shape == (576, 768, 3)
    assert "snapshot_path" not in pushed[0].data and pushed[0].data["snapshot_url"].endswith("/snapshot")


def test_update_or_close_without_an_open_incident_is_ignored(world):
    sink, store, pushed = world
    assert sink.handle(crowd(EventPhase.UPDATED, T0, 5)) is None
    assert sink.handle(crowd(EventPhase.CLOSED, T0, 5)) is None
    assert store.incidents.search()[1] == 0 and pushed == []


def test_a_restart_adopts_open_incidents(tmp_path, world, config):
    sink, store, _ = world
    opened = sink.handle(crowd(EventPhase.OPENED, T0, 12))
    assert opened is not None
    # A new process: a fresh sink over the same store.
    pushed: list[PushMessage] = []
    broker = LocalBroker()
    broker.subscribe(pushed.append)
    again = IncidentSink(IncidentBuilder(config), PushJournal(store, broker), tmp_path / "snapshots")
    assert again.adopt_open_incidents() == 1
    # The crowd is still there: the rule opens again, and the same incident continues.
    continued = again.handle(crowd(EventPhase.OPENED, T0 + 100, 14))
    assert continued is not None and continued.id == opened.id and continued.peak_count == 14
    assert [m.type for m in pushed] == ["incident.updated"]


def test_an_adopted_incident_closes_when_its_rule_stays_idle(tmp_path, world, config):
    sink, store, _ = world
    opened = sink.handle(crowd(EventPhase.OPENED, T0, 12))
    assert opened is not None
    again = IncidentSink(IncidentBuilder(config), PushJournal(store, LocalBroker()), tmp_path / "snapshots")
    again.adopt_open_incidents()
    again.settle_adopted(CAM, "crowd", RuleState.IDLE, T0 + 100, grace_s=10)
    again.settle_adopted(CAM, "crowd", RuleState.PENDING, T0 + 105, grace_s=10)  # the crowd came back: wait
    again.settle_adopted(CAM, "crowd", RuleState.IDLE, T0 + 106, grace_s=10)
    again.settle_adopted(CAM, "crowd", RuleState.IDLE, T0 + 115.9, grace_s=10)  # idle 9.9 s of the 10
    assert store.incidents.get(opened.id).closed_at is None
    again.settle_adopted(CAM, "crowd", RuleState.IDLE, T0 + 116, grace_s=10)
    closed = store.incidents.get(opened.id)
    at = datetime.fromtimestamp(T0 + 116, UTC)  # closed when the grace ran out, counted from the last idle start
    assert (closed.closed_at, closed.updated_at, closed.peak_count) == (at, at, 12)
    again.settle_adopted(CAM, "crowd", RuleState.IDLE, T0 + 200, grace_s=10)  # settled once: no second close
    assert store.incidents.get(opened.id).closed_at == at


def test_reconnect_attempts_of_a_dead_camera_are_pushed_once(world):
    sink, store, pushed = world
    states = [
        (CameraState.CONNECTING, None),
        (CameraState.OFFLINE, "connection refused"),
        (CameraState.CONNECTING, None),
        (CameraState.OFFLINE, "connection refused"),
        (CameraState.CONNECTING, None),
        (CameraState.OFFLINE, "no data for 5.0 s"),  # a new reason is news
        (CameraState.CONNECTING, None),
        (CameraState.ONLINE, None),
    ]
    for i, (state, error) in enumerate(states):
        sink.camera_health(CameraHealth(CAM, state, T0 + i, error))
    assert [(m.data["state"], m.data["last_error"]) for m in pushed] == [
        ("connecting", None),
        ("offline", "connection refused"),
        ("offline", "no data for 5.0 s"),
        ("online", None),
    ]
    assert pushed[0].grid_code == "330106001001001"
    assert [s.state for s in store.cameras.statuses()] == ["online"]


def crowd_on(phase: EventPhase, t: float, count: int, gray: int) -> tuple[Event, Evidence]:
    image = np.full((576, 768, 3), gray, dtype=np.uint8)
    frame = VideoFrame(camera_id=CAM, frame_id=int(t), timestamp=t, pts=None, image=image)
    evidence = Evidence(frame, people(count, y=570))  # (below the zone's top)
    return crowd_event(phase, t, count, evidence), evidence


def test_the_snapshot_is_the_rules_best_frame_with_its_zone_drawn_once_per_frame(world, config):
    sink, store, _ = world
    opened, first = crowd_on(EventPhase.OPENED, T0, 12, gray=40)
    incident = sink.handle(opened)
    assert incident is not None and incident.snapshot_path is not None
    path = incident.snapshot_path
    assert abs(int(np.median(cv2.imread(path)[:150])) - 40) <= 3  # above the zone: the frame itself
    better, best = crowd_on(EventPhase.UPDATED, T0 + 5, 25, gray=160)  # the rule found a fuller frame
    sink.handle(better)
    assert abs(int(np.median(cv2.imread(path)[:150])) - 160) <= 3
    drawn_at = os.stat(path).st_mtime_ns
    # a later update carries the same best evidence (a rule keeps its peak): not drawn again
    sink.handle(crowd_event(EventPhase.UPDATED, T0 + 9, 25, best))
    assert os.stat(path).st_mtime_ns == drawn_at
    # the crowd rule of this camera watches the zone `walkway`: its outline is on the snapshot, in zone yellow
    zone = np.array(config.cameras[CAM].zones["walkway"].polygon, dtype=int)
    x, y = (zone[0] + zone[1]) // 2  # the middle of its top edge
    image = cv2.imread(path)
    patch = image[max(0, y - 3): y + 4, max(0, x - 3): x + 4].reshape(-1, 3).astype(int)
    assert (np.abs(patch - np.array(ZONE_COLOR.as_bgr())) <= 60).all(axis=1).any()
    assert store.incidents.get(incident.id).snapshot_path == path
