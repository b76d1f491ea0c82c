"""A camera with a `record_url`, end to end: the service analyses the sub-stream (640x360) and the incident's clip and
snapshot come from the main stream (1280x720). Real RTSP server with credentials (two renditions of vtest.avi's
pedestrians made with ffmpeg), the real people model, a SQLite store."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import cv2
import pytest

from analytics.service import AnalyticsService
from ingest.demo.footage import pedestrian_clip
from ingest.health import CameraState
from ingest.rtsp_server import LocalRtspServer
from ingest.testing import wait_for_result
from models.config import parse_config
from models.push import LocalBroker, PushJournal
from models.store import Store
from tests.conftest import demo_raw_config
from tests.ingest.test_record_stream import PASSWORD, USER, _rendition

pytestmark = pytest.mark.slow

CELL = "330106001001001"


def test_analysis_on_the_sub_stream_evidence_from_the_main_stream(
    tmp_path: Path, real_detectors, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    main = _rendition(pedestrian_clip(), tmp_path / "main.mp4", "1280x720")
    sub = _rendition(pedestrian_clip(), tmp_path / "sub.mp4", "640x360")
    server = LocalRtspServer(user=USER, password=PASSWORD, cache_dir=tmp_path / "cache")
    server.add_stream("main", main)
    server.add_stream("sub", sub)
    with server:
        server.wait_ready(30)
        raw = demo_raw_config()
        raw["cameras"] = {
            "gate": {"name": "gate", "url": server.url("sub"), "record_url": server.url("main"), "grid_cell": CELL,
                     "analysis_fps": 1,
                     "rules": {"crowd": {"min_people": 3, "open_after_s": 1}, "camera_offline": {"enabled": False}}}
        }  # fmt: skip
        raw["store"] = {"url": f"sqlite:///{tmp_path / 'x.db'}", "data_dir": str(tmp_path / "data")}
        raw["clips"] = {"pre_s": 1, "post_s": 2}
        config = parse_config(raw)
        with Store(config.store.url.get_secret_value()) as store:
            store.migrate()
            service = AnalyticsService(
                config, PushJournal(store, LocalBroker()), detectors={"people": real_detectors["people"]}
            )
            try:
                service.start()
                [opened] = wait_for_result(lambda: store.incidents.unclosed("gate"), 90, "an incident on gate", 0.3)
                incident = wait_for_result(
                    lambda: (i := store.incidents.get(opened.id)) is not None and i.clip_path and i, 30, "its clip", 0.3
                )
                health = service.streams["gate"].health
                assert health.record_state is CameraState.ONLINE
                assert service.streams["gate"].url == server.url("sub")  # what analysis decodes
            finally:
                service.stop()
    with av.open(incident.clip_path) as clip:
        assert (clip.streams.video[0].width, clip.streams.video[0].height) == (1280, 720)
    assert incident.snapshot_path is not None
    # drawn at once on the analysed frame, then redrawn in place from the main stream off the analysis thread
    size = wait_for_result(
        lambda: (image := cv2.imread(incident.snapshot_path)) is not None and image.shape[1] == 1280 and image.shape,
        10, "the snapshot at main resolution", 0.2,
    )  # fmt: skip
    assert size[:2] == (720, 1280)
    assert PASSWORD not in caplog.text and USER not in caplog.text
