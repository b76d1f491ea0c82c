"""GET /incidents/{id}/video-checks and its after snapshot and clip: a fire camera's check, taken by the real
VideoChecker on the pipelines' side (its own store, the API's broker), read through the API as the roles see it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from analytics.events import Event, Observation
from analytics.pipeline import CameraPipeline
from analytics.rules.base import Rule, RuleState
from analytics.video_check import VideoChecker
from ingest.frames import VideoFrame
from ingest.health import CameraHealth, CameraState
from models.config import ServiceConfig
from models.push import LocalBroker
from tests.api.access import bearer
from tests.api.camera_feed import CAM_FIRE_LANE, CameraFeed, demo_config, minutes


class FireOut(Rule):
    """The fire camera's rule, idle: the fire is out (the real rule has tests of its own)."""

    name = "fire_smoke"
    category = "fire_hazard"

    @property
    def state(self) -> RuleState:
        return RuleState.IDLE

    def observe(self, observation: Observation) -> Event | None:
        return None


@pytest.fixture
def config(tmp_path: Path) -> ServiceConfig:
    config = demo_config(tmp_path)
    camera = config.cameras[CAM_FIRE_LANE]
    check = camera.video_check.model_copy(update={"enabled": True, "duration_s": 6.0, "clear_s": 3.0})
    cameras = {**config.cameras, CAM_FIRE_LANE: camera.model_copy(update={"video_check": check})}
    return config.model_copy(update={"cameras": cameras})


def test_a_passed_check_is_listed_with_its_after_snapshot_in_the_incidents_grid_only(
    client: TestClient, feed: CameraFeed, broker: LocalBroker, config: ServiceConfig
) -> None:
    checker = VideoChecker(config, feed.journal)
    broker.subscribe(checker.on_message)
    incident = feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(0), magnitude=1, snapshot=True)
    base = f"/incidents/{incident.id}"
    assert client.get(f"{base}/video-checks").json() == []
    for step in ({"to": "filed"}, {"to": "dispatched", "department": "西湖区消防救援大队"},
                 {"to": "handled", "note": "火已扑灭"}):  # fmt: skip
        assert client.post(f"{base}/transitions", json=step).status_code == 201

    pipeline = CameraPipeline(CAM_FIRE_LANE, config.cameras[CAM_FIRE_LANE], {}, [FireOut()])
    start = minutes(1).timestamp()
    for i in range(13):
        t = start + i * 0.5
        frame = VideoFrame(camera_id=CAM_FIRE_LANE, frame_id=i, timestamp=t, pts=None,
                           image=np.full((360, 640, 3), 70, dtype=np.uint8))
        pipeline.step(frame, CameraHealth(CAM_FIRE_LANE, CameraState.ONLINE, start), t)
        checker.observe(pipeline, frame, t)

    assert client.get(base).json()["status"] == "checked"
    [check] = client.get(f"{base}/video-checks").json()
    assert check["outcome"] == "passed" and check["step"] == "checked"
    assert check["camera_id"] == CAM_FIRE_LANE and check["note"].startswith("video check passed")
    assert check["snapshot_url"] == f"{base}/video-checks/{check['id']}/snapshot"
    assert check["clip_url"] is None  # no packet ring without cameras
    assert "snapshot_path" not in check and "clip_path" not in check
    [*_, step] = client.get(f"{base}/transitions").json()
    assert step["attachments"] == [check["snapshot_url"]] and step["actor_role"] == "incident-system"

    after = client.get(check["snapshot_url"])
    assert after.status_code == 200 and after.headers["content-type"] == "image/jpeg"
    assert after.content[:2] == b"\xff\xd8"
    assert client.get(f"{base}/video-checks/{check['id']}/clip.mp4").status_code == 404
    assert client.get(f"{base}/video-checks/nope/snapshot").status_code == 404

    # another street's operator sees none of it, as if the incident did not exist
    lingyin = bearer(config, "lingyin", minutes(0))
    assert client.get(f"{base}/video-checks", headers=lingyin).status_code == 404
    assert client.get(check["snapshot_url"], headers=lingyin).status_code == 404
    # the checker closes it with one step
    closed = client.post(f"{base}/transitions", json={"to": "closed"}, headers=bearer(config, "beishan", minutes(2)))
    assert closed.status_code == 201 and closed.json()["incident"]["status"] == "closed"
