"""Cameras started and stopped at runtime (what a cluster node's host does when a camera is placed on it or moved
off it): a service given a subset runs only those; a stopped camera's pending clip is written; a camera started on
another service over the same store continues its open incident instead of opening a second one. Real RTSP
server (vtest.avi pedestrians), the real people model, a SQLite store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from analytics.service import AnalyticsService
from ingest.demo.footage import pedestrian_clip
from ingest.rtsp_server import LocalRtspServer
from ingest.testing import wait_for_result
from models.config import parse_config
from models.push import LocalBroker, PushJournal
from models.store import Store
from tests.conftest import demo_raw_config

pytestmark = pytest.mark.slow

CELL = "330106001001001"


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    return wait_for_result(check, timeout, what, interval=0.3)


def test_a_camera_stopped_here_and_started_elsewhere_keeps_its_incident(tmp_path: Path, real_detectors) -> None:
    with LocalRtspServer() as server:
        server.add_stream("walkway", pedestrian_clip())
        server.start()
        server.wait_ready(30)
        raw = demo_raw_config()
        raw["cameras"] = {
            camera_id: {"name": camera_id, "url": server.url("walkway"), "grid_cell": CELL, "analysis_fps": 1,
                        "rules": {"crowd": {"min_people": 3, "open_after_s": 1}, "camera_offline": {"enabled": False}}}
            for camera_id in ("here", "not-here")
        }  # fmt: skip
        raw["store"] = {"url": f"sqlite:///{tmp_path / 'x.db'}", "data_dir": str(tmp_path / "data")}
        raw["clips"] = {"pre_s": 1, "post_s": 60}  # the clip is still pending when the camera stops
        config = parse_config(raw)
        with Store(config.store.url.get_secret_value()) as store:
            store.migrate()
            detectors = {"people": real_detectors["people"]}
            first = AnalyticsService(config, PushJournal(store, LocalBroker()), detectors=detectors, camera_ids=["here"])
            second = AnalyticsService(config, PushJournal(store, LocalBroker()), detectors=detectors, camera_ids=[])
            try:
                first.start()
                second.start()
                assert first.camera_ids == ["here"] and second.camera_ids == []
                [opened] = wait_until(lambda: store.incidents.unclosed("here"), 60, "an incident on camera here")
                assert store.incidents.unclosed("not-here") == []

                assert first.stop_camera("here") and first.camera_ids == [] and not first.stop_camera("here")
                kept = store.incidents.get(opened.id)
                assert kept is not None and kept.closed_at is None  # left open for the next node
                assert kept.clip_path is not None and Path(kept.clip_path).is_file()  # the pending clip, written

                assert second.start_camera("here") and not second.start_camera("here")
                wait_until(lambda: second.frame_counts()["here"].analysed >= 5, 60, "camera here analysing again")
                assert [i.id for i in store.incidents.unclosed("here")] == [opened.id]  # continued, no second one
                with pytest.raises(ValueError, match="nowhere"):
                    second.start_camera("nowhere")
            finally:
                first.stop()
                second.stop()
