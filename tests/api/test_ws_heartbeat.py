"""Websocket heartbeats: a quiet link still says it is alive, with the seq a client would resume from, and a
heartbeat never takes a seq of its own (the live feed stays gapless)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.routes.ws import heartbeat_json
from ingest.health import CameraState
from models.config import ServiceConfig
from tests.api.camera_feed import CAM_WALKWAY, CAM_YUQUAN, CELL_WALKWAY, CameraFeed, demo_config, minutes
from tests.api.live_client import next_message

HEARTBEAT_S = 0.3


@pytest.fixture
def config(tmp_path: Path) -> ServiceConfig:
    """The API tests' config with a short heartbeat interval."""
    base = demo_config(tmp_path)
    return base.model_copy(
        update={"server": base.server.model_copy(update={"websocket_heartbeat_s": HEARTBEAT_S})}
    )


def test_heartbeat_shape() -> None:
    beat = heartbeat_json(41)
    assert set(beat) == {"type", "seq", "at"} and beat["type"] == "heartbeat" and beat["seq"] == 41
    assert beat["at"].endswith("Z")


def test_a_quiet_link_gets_heartbeats_with_the_last_seq(client: TestClient, feed: CameraFeed) -> None:
    feed.camera_status(CAM_WALKWAY, CameraState.ONLINE, minutes(0))
    with client.websocket_connect("/ws") as ws:
        backlog = next_message(ws)  # the camera's latest status
        beats = []
        for _ in range(3):
            beats.append((next_message(ws, timeout=5 * HEARTBEAT_S), time.monotonic()))
    assert backlog["seq"] == 1 and backlog["type"] == "camera.status"
    assert [(beat["type"], beat["seq"]) for beat, _ in beats] == [("heartbeat", 1)] * 3
    gaps = [later - earlier for (_, earlier), (_, later) in zip(beats, beats[1:], strict=False)]
    assert all(HEARTBEAT_S * 0.5 <= gap <= HEARTBEAT_S * 4 for gap in gaps), gaps


def test_an_empty_log_beats_with_seq_0(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        assert next_message(ws, timeout=5 * HEARTBEAT_S)["seq"] == 0


def test_a_heartbeat_takes_no_seq_and_is_where_to_resume(client: TestClient, feed: CameraFeed) -> None:
    with client.websocket_connect("/ws") as ws:
        assert next_message(ws, timeout=5 * HEARTBEAT_S)["type"] == "heartbeat"
        first = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=7, count=7)
        live = next_message(ws)
        beat = next_message(ws, timeout=5 * HEARTBEAT_S)
        feed.close_incident(first, minutes(1))
        after_beat = next_message(ws)
    assert (live["seq"], live["type"]) == (1, "incident.opened")
    assert (beat["seq"], beat["type"]) == (1, "heartbeat")
    assert (after_beat["seq"], after_beat["type"]) == (2, "incident.closed")  # no seq went to the heartbeat
    with client.websocket_connect(f"/ws?after={beat['seq']}") as ws:
        assert next_message(ws)["seq"] == 2
        assert next_message(ws, timeout=5 * HEARTBEAT_S)["type"] == "heartbeat"


def test_a_filtered_client_beats_with_the_last_seq_it_was_sent(client: TestClient, feed: CameraFeed) -> None:
    with client.websocket_connect(f"/ws?grid={CELL_WALKWAY}") as ws:
        mine = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=7, count=7)
        received = next_message(ws)
        feed.open_incident(CAM_YUQUAN, "crowd", minutes(1), magnitude=7, count=7)  # seq 2, another grid
        beat = next_message(ws, timeout=5 * HEARTBEAT_S)
    assert received["data"]["id"] == mine.id and received["seq"] == 1
    # Resuming from the heartbeat's seq with the same filter skips nothing this client wanted.
    assert (beat["type"], beat["seq"]) == ("heartbeat", 1)


def test_a_busy_link_gets_no_heartbeat(client: TestClient, feed: CameraFeed) -> None:
    with client.websocket_connect("/ws") as ws:
        received = []
        for n in range(6):
            feed.camera_status(CAM_WALKWAY, CameraState.ONLINE if n % 2 else CameraState.OFFLINE, minutes(n))
            received.append(next_message(ws))
            time.sleep(HEARTBEAT_S / 6)
    assert [m["type"] for m in received] == ["camera.status"] * 6
