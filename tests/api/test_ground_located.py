"""A calibrated camera whose view spans two grid cells: an event on the far side lands in the other cell and reaches
that cell's operator, not the operator of the camera's own cell (the real builder, store and API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml
from fastapi.testclient import TestClient

from analytics.events import Event, EventPhase, Evidence
from analytics.incident_builder import IncidentBuilder
from api.app import create_app
from api.cli import DEMO_CONFIG
from ingest.frames import VideoFrame
from models.clock import ManualClock
from models.config import parse_config
from models.incident import MessageType
from models.push import LocalBroker, PushJournal
from models.store import Store
from models.views import incident_view
from tests.analytics.helpers import detections
from tests.analytics.test_ground_plane import FAR_CELL, GROUND, NEAR_CELL
from tests.api.access import bearer
from tests.api.camera_feed import CAM_WALKWAY, minutes


def config_with_cell_operators(tmp_path: Path) -> Any:
    raw: dict[str, Any] = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    raw["cameras"][CAM_WALKWAY]["ground"] = GROUND
    raw["store"] = {"url": f"sqlite:///{tmp_path / 'x.db'}", "data_dir": str(tmp_path / "data")}
    raw["auth"]["jwt_secret"] = "tests-only-signing-key-0123456789abcdef"
    password_hash = raw["auth"]["users"]["beishan"]["password_hash"]
    for name, cell in (("cell-one", NEAR_CELL), ("cell-two", FAR_CELL)):
        raw["auth"]["users"][name] = {"role": "operator", "grid": cell, "password_hash": password_hash}
    return parse_config(raw, environ={"XUELIANG_DEMO_RTSP": "rtsp://127.0.0.1:9"})


def test_an_event_on_the_far_side_reaches_the_far_cells_operator_only(tmp_path):
    config = config_with_cell_operators(tmp_path)
    at = minutes(0)
    found = detections([(700, 150, 740, 210)], "person", 0.9)  # people standing across the cell border
    image = np.zeros((576, 768, 3), np.uint8)
    frame = VideoFrame(camera_id=CAM_WALKWAY, frame_id=1, timestamp=at.timestamp(), pts=None, image=image)
    evidence = Evidence(frame, found)
    event = Event(
        phase=EventPhase.OPENED, rule="crowd", category="crowd_gathering", camera_id=CAM_WALKWAY,
        timestamp=at.timestamp(), magnitude=8.0, count=8, confidence=0.9, evidence=evidence,
    )  # fmt: skip
    broker = LocalBroker()
    with Store(config.store.url.get_secret_value()) as store:
        store.migrate()
        incident = IncidentBuilder(config).open(event)
        PushJournal(store, broker).incident(incident, MessageType.INCIDENT_OPENED, incident_view)
    clock = ManualClock(minutes(1))
    with TestClient(create_app(config, run_cameras=False, broker=broker, clock=clock)) as client:
        def listed(user: str) -> list[str]:
            response = client.get("/incidents", headers=bearer(config, user, clock.now()))
            assert response.status_code == 200
            return [item["id"] for item in response.json()["items"]]

        assert listed("cell-two") == [incident.id]
        assert listed("cell-one") == []  # the camera's own cell: not its case
        detail = client.get(f"/incidents/{incident.id}", headers=bearer(config, "cell-two", clock.now())).json()
        assert detail["grid_code"] == FAR_CELL and detail["grid_path"][-1]["name"] == "宝石山第二网格"
        assert detail["lon"] > 120.14  # on the map where the people stand, not at the camera (120.135)
        assert client.get(f"/incidents/{incident.id}", headers=bearer(config, "cell-one", clock.now())).status_code == 404
