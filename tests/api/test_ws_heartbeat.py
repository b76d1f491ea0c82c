"""Websocket heartbeats: a quiet link still says it is alive, with the seq a client would resume from, and a
heartbeat never takes a seq of its own (the live feed stays gapless). The heartbeat interval is on the service's
clock, which the tests advance: no test waits for an interval to pass."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.routes.ws import heartbeat_json
from ingest.health import CameraState
from models.clock import ManualClock
from models.config import ServiceConfig
from tests.api.camera_feed import CAM_WALKWAY, CAM_YUQUAN, CELL_WALKWAY, T0, CameraFeed, demo_config, minutes
from tests.api.live_client import assert_quiet, next_heartbeat, next_message

HEARTBEAT_S = 0.3


@pytest.fixture
def config(tmp_path: Path) -> ServiceConfig:
    """The API tests' config with a short heartbeat interval."""
    base = demo_config(tmp_path)
    return base.model_copy(
        update={"server": base.server.model_copy(update={"websocket_heartbeat_s": HEARTBEAT_S})}
    )


def beat_time(beat: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(beat["at"]))


def test_heartbeat_shape() -> None:
    beat = heartbeat_json(41, T0 + timedelta(microseconds=5))
    assert set(beat) == {"type", "seq", "at"} and beat["type"] == "heartbeat" and beat["seq"] == 41
    assert beat["at"] == "2026-03-01T08:00:00.000005Z"


def test_a_quiet_link_gets_heartbeats_with_the_last_seq(
    client: TestClient, feed: CameraFeed, clock: ManualClock
) -> None:
    feed.camera_status(CAM_WALKWAY, CameraState.ONLINE, minutes(0))
    with client.websocket_connect("/ws") as ws:
        backlog = next_message(ws)  # the camera's latest status
        assert_quiet(ws)  # the service's clock stands still: no heartbeat, however long the test takes
        beats = [next_heartbeat(ws, clock, HEARTBEAT_S) for _ in range(3)]
    assert backlog["seq"] == 1 and backlog["type"] == "camera.status"
    assert [(beat["type"], beat["seq"]) for beat in beats] == [("heartbeat", 1)] * 3
    # one beat per quiet interval of the service's clock, stamped with its time
    assert beat_time(beats[0]) == T0 + timedelta(seconds=HEARTBEAT_S)
    gaps = [(beat_time(later) - beat_time(earlier)).total_seconds() for earlier, later in zip(beats, beats[1:], strict=False)]
    assert gaps == [pytest.approx(HEARTBEAT_S)] * 2


def test_an_empty_log_beats_with_seq_0(client: TestClient, clock: ManualClock) -> None:
    with client.websocket_connect("/ws") as ws:
        assert next_heartbeat(ws, clock, HEARTBEAT_S)["seq"] == 0


def test_a_heartbeat_takes_no_seq_and_is_where_to_resume(
    client: TestClient, feed: CameraFeed, clock: ManualClock
) -> None:
    with client.websocket_connect("/ws") as ws:
        assert next_heartbeat(ws, clock, HEARTBEAT_S)["type"] == "heartbeat"
        first = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=7, count=7)
        live = next_message(ws)
        beat = next_heartbeat(ws, clock, HEARTBEAT_S)
        feed.close_incident(first, minutes(1))
        after_beat = next_message(ws)
    assert (live["seq"], live["type"]) == (1, "incident.opened")
    assert (beat["seq"], beat["type"]) == (1, "heartbeat")
    assert (after_beat["seq"], after_beat["type"]) == (2, "incident.closed")  # no seq went to the heartbeat
    with client.websocket_connect(f"/ws?after={beat['seq']}") as ws:
        assert next_message(ws)["seq"] == 2
        assert next_heartbeat(ws, clock, HEARTBEAT_S)["type"] == "heartbeat"


def test_a_filtered_client_beats_with_the_last_seq_it_was_sent(
    client: TestClient, feed: CameraFeed, clock: ManualClock
) -> None:
    with client.websocket_connect(f"/ws?grid={CELL_WALKWAY}") as ws:
        mine = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=7, count=7)
        received = next_message(ws)
        feed.open_incident(CAM_YUQUAN, "crowd", minutes(1), magnitude=7, count=7)  # seq 2, another grid
        beat = next_heartbeat(ws, clock, HEARTBEAT_S)
    assert received["data"]["id"] == mine.id and received["seq"] == 1
    # Resuming from the heartbeat's seq with the same filter skips nothing this client wanted.
    assert (beat["type"], beat["seq"]) == ("heartbeat", 1)


def test_a_busy_link_gets_no_heartbeat(client: TestClient, feed: CameraFeed, clock: ManualClock) -> None:
    with client.websocket_connect("/ws") as ws:
        received = []
        for n in range(6):  # a message every 5/6 of an interval: four intervals in all, never a quiet one
            if n:
                clock.advance(HEARTBEAT_S * 5 / 6)
            feed.camera_status(CAM_WALKWAY, CameraState.ONLINE if n % 2 else CameraState.OFFLINE, minutes(n))
            received.append(next_message(ws))
        assert_quiet(ws)
        received.append(next_heartbeat(ws, clock, HEARTBEAT_S))  # quiet now: an interval after the last message
    assert [m["type"] for m in received] == ["camera.status"] * 6 + ["heartbeat"]
    assert beat_time(received[-1]) >= T0 + timedelta(seconds=HEARTBEAT_S * 5 / 6 * 5 + HEARTBEAT_S)
