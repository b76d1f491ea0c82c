"""GET /incidents/{id}/sightings and a sighting's snapshot: two fire cameras on one cell, the real sink (merging on)
writing into the API's store through its broker, read through the API as the roles see it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from analytics.events import Event, EventPhase, Evidence
from analytics.incident_builder import IncidentBuilder
from analytics.incident_sink import IncidentSink
from ingest.frames import VideoFrame
from models.config import CameraConfig, CaseMergeConfig, ServiceConfig
from tests.analytics.helpers import detections
from tests.api.access import bearer
from tests.api.camera_feed import CAM_FIRE_LANE, CELL_FIRE_LANE, CameraFeed, demo_config, minutes

CAM_FIRE_WEST = "34020000001320000009"


@pytest.fixture
def config(tmp_path: Path) -> ServiceConfig:
    config = demo_config(tmp_path)
    fire = config.event_categories["fire_hazard"].model_copy(update={"merge": CaseMergeConfig(enabled=True)})
    west = CameraConfig.model_validate({"name": "仓库西", "url": "rtsp://127.0.0.1:9/w", "grid_cell": CELL_FIRE_LANE,
                                        "rules": {"fire_smoke": {}}})  # fmt: skip
    return config.model_copy(update={"event_categories": {**config.event_categories, "fire_hazard": fire},
                                     "cameras": {**config.cameras, CAM_FIRE_WEST: west}})  # fmt: skip


def fire(camera: str, t: float) -> Event:
    image = np.full((360, 640, 3), 60, dtype=np.uint8)
    evidence = Evidence(VideoFrame(camera_id=camera, frame_id=1, timestamp=t, pts=None, image=image),
                        detections([(100, 100, 200, 200)], "fire"))
    return Event(phase=EventPhase.OPENED, rule="fire_smoke", category="fire_hazard", camera_id=camera, timestamp=t,
                 magnitude=2.0, confidence=0.8, evidence=evidence)


def test_the_second_cameras_sighting_is_listed_with_its_snapshot_in_the_incidents_grid_only(
    client: TestClient, feed: CameraFeed, config: ServiceConfig, tmp_path: Path
) -> None:
    sink = IncidentSink(IncidentBuilder(config), feed.journal, tmp_path / "data" / "snapshots")
    first = sink.handle(fire(CAM_FIRE_LANE, minutes(0).timestamp()))
    sink.handle(fire(CAM_FIRE_WEST, minutes(0.5).timestamp()))
    assert first is not None
    page = client.get("/incidents").json()
    assert page["total"] == 1 and page["items"][0]["camera_id"] == CAM_FIRE_LANE

    [sighting] = client.get(f"/incidents/{first.id}/sightings").json()
    assert sighting["camera_id"] == CAM_FIRE_WEST and sighting["camera_name"] == "仓库西"
    assert sighting["closed_at"] is None and "snapshot_path" not in sighting
    snapshot = client.get(sighting["snapshot_url"])
    assert snapshot.status_code == 200 and snapshot.headers["content-type"] == "image/jpeg"
    assert client.get(f"/incidents/{first.id}/sightings/nope/snapshot").status_code == 404

    lingyin = bearer(config, "lingyin", minutes(0))
    assert client.get(f"/incidents/{first.id}/sightings", headers=lingyin).status_code == 404
    assert client.get(sighting["snapshot_url"], headers=lingyin).status_code == 404
