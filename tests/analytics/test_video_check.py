"""The video check of a closure (视频核查): the decision (pure, explicit times) and the checker over the real store
(SQLite and PostgreSQL), push journal and broker, with a camera pipeline whose rule the test steers; no model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics.events import Event, EventPhase, Evidence, Observation
from analytics.incident_builder import IncidentBuilder
from analytics.incident_sink import IncidentSink
from analytics.pipeline import CameraPipeline
from analytics.rules.base import Rule, RuleState
from analytics.video_check import CheckWindow, VideoChecker
from api.delivery import outbox
from ingest.frames import VideoFrame
from ingest.health import CameraHealth, CameraState
from models import lifecycle, video_checks
from models.config import ServiceConfig, parse_config
from models.incident import PushMessage
from models.push import LocalBroker, PushJournal
from models.store import Store
from models.video_checks import CheckOutcome
from tests.analytics.helpers import detections
from tests.conftest import demo_raw_config
from tests.models.conftest import db_url, postgres_admin, store  # noqa: F401 - SQLite and PostgreSQL stores

FIRE_CAM = "34020000001320000002"  # 宝石山仓库消防通道, grid cell 330106001001002
PEOPLE_CAM = "34020000001320000001"  # no video check configured
T0 = 1_790_000_000.0
DURATION, CLEAR = 10.0, 4.0


# ------------------------------------------------------------------------------------------- the decision


def test_nothing_seen_in_the_last_clear_s_with_frames_passes():
    window = CheckWindow(T0, DURATION, CLEAR)
    window.observe(T0, frame=True, seen=True)  # the rule is still closing the situation at first
    window.observe(T0 + 3, frame=True, seen=True)
    for t in (T0 + 5, T0 + 7, T0 + 9):
        window.observe(t, frame=True, seen=False)
        assert window.outcome(t) is None  # undecided until the window is over
    window.observe(T0 + 10, frame=True, seen=False)
    assert window.outcome(T0 + 10) is CheckOutcome.PASSED


def test_seen_within_the_last_clear_s_fails():
    window = CheckWindow(T0, DURATION, CLEAR)
    window.observe(T0 + 1, frame=True, seen=False)
    window.observe(T0 + 6, frame=True, seen=True)  # exactly at the start of the quiet stretch
    window.observe(T0 + 10, frame=True, seen=False)
    assert window.outcome(T0 + 10) is CheckOutcome.FAILED


def test_seen_just_before_the_quiet_stretch_passes():
    window = CheckWindow(T0, DURATION, CLEAR)
    window.observe(T0 + 5.9, frame=True, seen=True)
    window.observe(T0 + 8, frame=True, seen=False)
    assert window.outcome(T0 + 10) is CheckOutcome.PASSED


def test_no_frame_in_the_quiet_stretch_is_no_video_not_a_pass():
    window = CheckWindow(T0, DURATION, CLEAR)
    window.observe(T0 + 1, frame=True, seen=False)
    window.observe(T0 + 8, frame=False, seen=False)  # the camera is down: steps come without frames
    window.observe(T0 + 10, frame=False, seen=False)
    assert window.outcome(T0 + 10) is CheckOutcome.NO_VIDEO


def test_a_rule_still_open_without_frames_fails():
    window = CheckWindow(T0, DURATION, CLEAR)
    window.observe(T0 + 9, frame=False, seen=True)  # an open incident stays open while the camera is down
    assert window.outcome(T0 + 10) is CheckOutcome.FAILED


def test_clear_s_may_not_exceed_the_window():
    raw = demo_raw_config()
    raw["cameras"][FIRE_CAM]["video_check"] = {"enabled": True, "duration_s": 5, "clear_s": 6}
    with pytest.raises(Exception, match=r"clear_s \(6.0\) cannot exceed duration_s \(5.0\)"):
        parse_config(raw, environ={"XUELIANG_DEMO_RTSP": "rtsp://h"})
    raw["cameras"][FIRE_CAM]["video_check"] = {"enabled": True, "rules": ["fire"]}
    with pytest.raises(Exception, match=r"video_check.*unknown rule\(s\) \['fire'\]"):
        parse_config(raw, environ={"XUELIANG_DEMO_RTSP": "rtsp://h"})


# ------------------------------------------------------------------------------------------- the checker


class SteeredRule(Rule):
    """The fire camera's rule, its state set by the test (the real rules have tests of their own)."""

    name = "fire_smoke"
    category = "fire_hazard"

    def __init__(self) -> None:
        self.current = RuleState.IDLE

    @property
    def state(self) -> RuleState:
        return self.current

    def observe(self, observation: Observation) -> Event | None:
        return None


@dataclass
class World:
    config: ServiceConfig
    store: Store
    journal: PushJournal
    sink: IncidentSink
    checker: VideoChecker
    pipeline: CameraPipeline
    rule: SteeredRule
    pushed: list[PushMessage]


def make_config(data_dir: Path) -> ServiceConfig:
    raw = demo_raw_config()
    raw["cameras"][FIRE_CAM]["video_check"] = {"enabled": True, "duration_s": DURATION, "clear_s": CLEAR}
    raw["store"] = {"url": "sqlite:///unused.db", "data_dir": str(data_dir)}
    return parse_config(raw, environ={"XUELIANG_DEMO_RTSP": "rtsp://h"})


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Iterator[World]:  # noqa: F811 - the store fixture, both backends
    config = make_config(tmp_path / "data")
    broker = LocalBroker()
    pushed: list[PushMessage] = []
    broker.subscribe(pushed.append)
    journal = PushJournal(store, broker)
    sink = IncidentSink(IncidentBuilder(config), journal, tmp_path / "data" / "snapshots")
    checker = VideoChecker(config, journal, geometry=sink.rule_geometry)
    broker.subscribe(checker.on_message)
    rule = SteeredRule()
    pipeline = CameraPipeline(FIRE_CAM, config.cameras[FIRE_CAM], {}, [rule])
    yield World(config, store, journal, sink, checker, pipeline, rule, pushed)


def frame(t: float, gray: int = 90) -> VideoFrame:
    return VideoFrame(camera_id=FIRE_CAM, frame_id=int(t * 10), timestamp=t, pts=None,
                      image=np.full((360, 640, 3), gray, dtype=np.uint8))


def fire_incident(world: World, camera_id: str = FIRE_CAM, rule: str = "fire_smoke") -> str:
    evidence = Evidence(frame(T0), detections([(100, 100, 200, 200)], "fire"))
    event = Event(phase=EventPhase.OPENED, rule=rule, category="fire_hazard", camera_id=camera_id, timestamp=T0,
                  magnitude=2.0, confidence=0.8, evidence=evidence)
    incident = world.sink.handle(event)
    assert incident is not None
    return incident.id


def handle(world: World, incident_id: str, at: float = T0 + 60) -> None:
    """file → dispatch → handle, as the operator and the department's incident system would."""
    when = datetime.fromtimestamp(at, UTC)
    world.journal.transition(incident_id, "filed", actor="beishan", role=lifecycle.Role.OPERATOR, at=when)
    world.journal.transition(incident_id, "dispatched", actor="beishan", role=lifecycle.Role.OPERATOR, at=when,
                             department="西湖区消防救援大队")  # fmt: skip
    world.journal.transition(incident_id, "handled", actor="xl-119", role=lifecycle.Role.INCIDENT_SYSTEM, at=when,
                             note="火已扑灭")  # fmt: skip


def run(world: World, start: float, end: float, *, state: RuleState, frames: bool = True, step_s: float = 0.5) -> None:
    """The camera's analysis steps from `start` to `end` (inclusive), the rule in `state`."""
    world.rule.current = state
    t = start
    while t <= end + 1e-9:
        seen = frame(t) if frames else None
        world.pipeline.step(seen, CameraHealth(FIRE_CAM, CameraState.ONLINE, T0), t)
        world.checker.observe(world.pipeline, seen, t)
        t += step_s


def checks(world: World, incident_id: str) -> list[video_checks.VideoCheck]:
    with world.store.database.engine.connect() as connection:
        return video_checks.of_incident(connection, incident_id)


def test_a_fire_gone_passes_the_check_and_the_incident_is_checked_with_the_after_snapshot(world: World):
    incident_id = fire_incident(world)
    run(world, T0 + 1, T0 + 50, state=RuleState.OPEN)  # before the handled step: no check runs
    assert world.checker.pending(FIRE_CAM) == []
    handle(world, incident_id)
    assert world.checker.pending(FIRE_CAM) == [incident_id]  # learned through the broker, not by a call

    run(world, T0 + 61, T0 + 63, state=RuleState.OPEN)  # the rule is still closing the fire
    run(world, T0 + 63.5, T0 + 70.5, state=RuleState.IDLE)
    stored = world.store.incidents.get(incident_id)
    assert stored is not None and stored.status == "handled"  # the window (10 s from T0 + 61) is not over
    run(world, T0 + 71, T0 + 71, state=RuleState.IDLE)

    stored = world.store.incidents.get(incident_id)
    assert stored is not None and stored.status == "checked"
    step = world.store.incidents.transitions(incident_id)[-1]
    assert (step.action, step.actor, step.actor_role) == ("check", f"video-check:{FIRE_CAM}", "incident-system")
    assert step.note is not None and step.note.startswith("video check passed")
    [check] = checks(world, incident_id)
    assert (check.outcome, check.step) == (CheckOutcome.PASSED, "checked")
    assert check.started_at == datetime.fromtimestamp(T0 + 61, UTC)
    assert check.decided_at == datetime.fromtimestamp(T0 + 71, UTC)
    assert step.attachments == [f"/incidents/{incident_id}/video-checks/{check.id}/snapshot"]  # no clips here
    assert check.snapshot_path is not None
    after = cv2.imread(check.snapshot_path)
    assert after is not None and after.shape == (360, 640, 3)
    message = world.pushed[-1]
    assert message.type == "incident.transition" and message.data["status"] == "checked"
    assert message.data["transition"]["actor"] == f"video-check:{FIRE_CAM}"
    assert world.checker.pending(FIRE_CAM) == []
    with world.store.database.engine.connect() as connection:  # delivered to the incident system like any step
        [*_, delivered] = outbox.list_events(connection)
    assert (delivered.type, delivered.incident_id) == ("incident.transition", incident_id)
    assert delivered.data["transition"]["note"].startswith("video check passed")
    # the checker closes it with one step
    world.journal.transition(incident_id, "closed", actor="beishan", role=lifecycle.Role.OPERATOR,
                             at=datetime.fromtimestamp(T0 + 80, UTC))  # fmt: skip
    assert world.store.incidents.get(incident_id).status == "closed"  # type: ignore[union-attr]


def test_a_fire_still_burning_fails_the_check_and_the_incident_is_sent_back_with_evidence(world: World):
    incident_id = fire_incident(world)
    handle(world, incident_id)
    run(world, T0 + 61, T0 + 71, state=RuleState.OPEN)

    stored = world.store.incidents.get(incident_id)
    assert stored is not None and stored.status == "dispatched"
    assert stored.assignee_department == "西湖区消防救援大队"  # back to the department that handled it
    step = world.store.incidents.transitions(incident_id)[-1]
    assert (step.action, step.from_status, step.to_status) == ("send_back", "handled", "dispatched")
    assert step.reason == "video check failed" and step.note is not None and step.note.startswith("video check failed")
    [check] = checks(world, incident_id)
    assert (check.outcome, check.step) == (CheckOutcome.FAILED, "dispatched")
    assert step.attachments == [f"/incidents/{incident_id}/video-checks/{check.id}/snapshot"]
    assert world.pushed[-1].data["transition"]["reason"] == "video check failed"

    # handled again: checked again, and this time the fire is out
    handle_again = datetime.fromtimestamp(T0 + 100, UTC)
    world.journal.transition(incident_id, "handled", actor="xl-119", role=lifecycle.Role.INCIDENT_SYSTEM,
                             at=handle_again, note="复燃已扑灭")  # fmt: skip
    run(world, T0 + 101, T0 + 111, state=RuleState.IDLE)
    assert world.store.incidents.get(incident_id).status == "checked"  # type: ignore[union-attr]
    assert [c.outcome for c in checks(world, incident_id)] == [CheckOutcome.FAILED, CheckOutcome.PASSED]


def test_a_camera_down_at_the_end_takes_no_step(world: World):
    incident_id = fire_incident(world)
    handle(world, incident_id)
    run(world, T0 + 61, T0 + 64, state=RuleState.IDLE)
    run(world, T0 + 64.5, T0 + 71, state=RuleState.IDLE, frames=False)
    assert world.store.incidents.get(incident_id).status == "handled"  # type: ignore[union-attr]
    [check] = checks(world, incident_id)
    assert (check.outcome, check.step, check.snapshot_path) == (CheckOutcome.NO_VIDEO, None, None)
    assert check.note.startswith("video check inconclusive")


def test_a_step_taken_first_by_hand_keeps_the_outcome_without_a_step(world: World):
    incident_id = fire_incident(world)
    handle(world, incident_id)
    run(world, T0 + 61, T0 + 65, state=RuleState.IDLE)
    world.journal.transition(incident_id, "checked", actor="beishan", role=lifecycle.Role.OPERATOR,
                             at=datetime.fromtimestamp(T0 + 65, UTC))  # fmt: skip
    run(world, T0 + 65.5, T0 + 71, state=RuleState.OPEN)
    [check] = checks(world, incident_id)
    assert (check.outcome, check.step) == (CheckOutcome.FAILED, None)
    assert world.store.incidents.get(incident_id).status == "checked"  # type: ignore[union-attr]
    assert [t.actor for t in world.store.incidents.transitions(incident_id)][-1] == "beishan"


def test_cameras_and_rules_without_the_check_are_left_alone(world: World, tmp_path: Path):
    people = fire_incident(world, camera_id=PEOPLE_CAM, rule="crowd")
    handle(world, people)
    assert world.checker.pending(PEOPLE_CAM) == []
    raw = demo_raw_config()
    raw["cameras"][FIRE_CAM]["video_check"] = {"enabled": True, "rules": ["camera_offline"]}
    raw["store"] = {"url": "sqlite:///unused.db", "data_dir": str(tmp_path)}
    only_offline = VideoChecker(parse_config(raw, environ={"XUELIANG_DEMO_RTSP": "rtsp://h"}), world.journal)
    incident_id = fire_incident(world)
    handle(world, incident_id)
    for message in world.pushed:
        only_offline.on_message(message)
    assert only_offline.pending(FIRE_CAM) == []
    assert world.checker.pending(FIRE_CAM) == [incident_id]


def test_a_restarted_service_checks_what_was_handled_while_it_was_down_once(world: World):
    incident_id = fire_incident(world)
    handle(world, incident_id)
    restarted = VideoChecker(world.config, world.journal)  # learns it from the store, not from a message
    assert restarted.resume() == 1 and restarted.pending(FIRE_CAM) == [incident_id]
    assert restarted.resume() == 0  # already watching it
    world.checker = restarted
    run(world, T0 + 61, T0 + 64, state=RuleState.IDLE, frames=False)  # the camera is still down
    run(world, T0 + 64.5, T0 + 71, state=RuleState.IDLE, frames=False)
    assert checks(world, incident_id)[0].outcome is CheckOutcome.NO_VIDEO
    assert world.store.incidents.get(incident_id).status == "handled"  # type: ignore[union-attr]
    assert VideoChecker(world.config, world.journal).resume() == 0  # decided since the handled step: not again
