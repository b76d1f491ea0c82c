from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ingest.health import CameraState
from tests.api.camera_feed import CAM_FIRE_LANE, CAM_WALKWAY, CAM_YUQUAN, CameraFeed, demo_config, minutes

OFFLINE, ONLINE, CONNECTING = CameraState.OFFLINE, CameraState.ONLINE, CameraState.CONNECTING


@pytest.mark.parametrize(
    ("reports", "cameras", "last_seq"),
    [
        ([], {"unknown": 3}, 0),
        ([(CAM_WALKWAY, CONNECTING)], {"connecting": 1, "unknown": 2}, 1),
        # only each camera's latest state counts
        ([(CAM_WALKWAY, CONNECTING), (CAM_WALKWAY, ONLINE)], {"online": 1, "unknown": 2}, 2),
        (
            [(CAM_WALKWAY, ONLINE), (CAM_FIRE_LANE, OFFLINE), (CAM_YUQUAN, CameraState.STALLED)],
            {"online": 1, "offline": 1, "stalled": 1},
            3,
        ),
        ([(CAM_WALKWAY, OFFLINE), (CAM_FIRE_LANE, OFFLINE)], {"offline": 2, "unknown": 1}, 2),
    ],
)
def test_healthz_counts_cameras_by_latest_state(
    client: TestClient,
    feed: CameraFeed,
    reports: list[tuple[str, CameraState]],
    cameras: dict[str, int],
    last_seq: int,
) -> None:
    for i, (camera_id, state) in enumerate(reports):
        feed.camera_status(camera_id, state, minutes(i))

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "cameras": cameras, "last_seq": last_seq}


def test_healthz_last_seq_counts_incident_messages_too(client: TestClient, feed: CameraFeed) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), count=7)
    feed.close_incident(incident, minutes(3))

    assert client.get("/healthz").json()["last_seq"] == 2


def test_healthz_leaves_out_disabled_cameras(tmp_path: Path) -> None:
    config = demo_config(tmp_path)
    yuquan = config.cameras[CAM_YUQUAN].model_copy(update={"enabled": False})
    config = config.model_copy(update={"cameras": {**config.cameras, CAM_YUQUAN: yuquan}})

    with TestClient(create_app(config, run_cameras=False)) as client:
        assert client.get("/healthz").json()["cameras"] == {"unknown": 2}
