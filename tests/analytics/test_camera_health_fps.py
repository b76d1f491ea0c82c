"""A camera that goes down shows no analysed fps (null), not the last one it had: the health change recorded and
pushed says so at once, not only the next counter refresh (analytics/service.py). Real store, no camera."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from analytics.service import AnalyticsService
from ingest.health import CameraHealth, CameraState
from models.config import parse_config
from models.incident import PushMessage
from models.push import LocalBroker, PushJournal
from models.store import Store
from tests.conftest import demo_raw_config

CAM = "34020000001320000001"
T0 = 1_790_000_000.0


@pytest.mark.parametrize(
    ("state", "expected_fps"),
    [
        (CameraState.ONLINE, 1.96),
        (CameraState.OFFLINE, None),
        (CameraState.STALLED, None),
        (CameraState.CONNECTING, None),
    ],
)
def test_only_an_online_camera_reports_its_analysed_fps(tmp_path, state, expected_fps) -> None:
    raw = demo_raw_config()
    raw["store"] = {"url": f"sqlite:///{tmp_path / 'x.db'}", "data_dir": str(tmp_path / "data")}
    config = parse_config(raw, environ={"XUELIANG_DEMO_RTSP": "rtsp://h"})
    with Store(config.store.url.get_secret_value()) as store:
        store.migrate()
        broker = LocalBroker()
        pushed: list[PushMessage] = []
        broker.subscribe(pushed.append)
        service = AnalyticsService(config, PushJournal(store, broker), detectors={})
        pipeline = SimpleNamespace(analysed_fps=1.96)  # what it measured while frames came
        on_health = service._on_health_of(pipeline)  # type: ignore[arg-type]

        on_health(CameraHealth(CAM, state, since=T0, last_error=None if state is CameraState.ONLINE else "down"))

        [status] = [s for s in store.cameras.statuses() if s.camera_id == CAM]
        assert status.state == state.value and status.analysed_fps == expected_fps
        [message] = [m for m in pushed if m.type == "camera.status"]
        assert message.data["analysed_fps"] == expected_fps
