"""Camera tamper end to end: a real RTSP server serving real footage whose lens is covered for 12 s of every 30
(ffmpeg's drawbox over vtest, made in a temporary folder), the whole service, a real websocket client.

The rule needs no model, so this service loads none and starts fast. The RTSP server starts once the service is
waiting for it, so the camera's first picture is the normal view (the reference is learned from it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import pytest

from ingest.demo.footage import pedestrian_clip
from ingest.demo.tamper import tamper_clip
from ingest.rtsp_server import LocalRtspServer
from tests.e2e.service import LiveFeed, Service, free_port, service_config

pytestmark = pytest.mark.slow

USER, PASSWORD = "xl-operator", "S3cr3t-Pa55"
CELL = "330106001001001"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("tamper-e2e")
    clip = tamper_clip(pedestrian_clip(), "cover", tmp / "covered.mp4")  # covered from 10 s to 22 s of each 30 s
    server = LocalRtspServer(port=free_port(), user=USER, password=PASSWORD)
    server.add_stream("lens", clip)
    cameras = {
        "lens": {"name": "测试 遮挡", "url": server.url("lens"), "grid_cell": CELL, "analysis_fps": 2,
                 "stream": {"open_timeout_s": 3, "read_timeout_s": 2, "stall_timeout_s": 2, "backoff_initial_s": 0.2,
                            "backoff_max_s": 1.0},
                 "rules": {"camera_tamper": {"dwell_s": 3, "learn_s": 3}, "camera_offline": {"enabled": False}}},
    }  # fmt: skip
    port = free_port()
    service = Service(service_config(tmp, cameras, port), port, tmp / "service.log")
    service.start()
    feed = LiveFeed(f"ws://127.0.0.1:{port}/ws")
    try:
        with server:
            yield {"service": service, "feed": feed, "server": server}
    finally:
        feed.close()
        service.stop()


def test_a_covered_lens_opens_a_device_fault_incident_with_both_views_and_it_closes_when_uncovered(world):
    service, feed, server = world["service"], world["feed"], world["server"]
    server.start()
    server.wait_ready(30)
    is_lens = lambda r: r.data.get("camera_id") == "lens" and r.data.get("rule") == "camera_tamper"  # noqa: E731
    opened = feed.wait_for(lambda r: r.type == "incident.opened" and is_lens(r), timeout=60)
    data = opened.data
    assert data["category_code"] == "camera_tamper" and data["category_name"] == "视频遮挡/画面异常"
    assert data["owner_department"] == "雪亮工程运维中心" and data["severity"] == "C"
    snapshot = service.get(data["snapshot_url"])
    assert snapshot.status_code == 200 and snapshot.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(snapshot.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[:2] == (576, 2 * 768)  # the reference view beside the covered frame
    left, right = image[:, : image.shape[1] // 2], image[:, image.shape[1] // 2 :]
    assert float(right.std()) < float(left.std()) / 2  # the covered half is the flat one
    # the cover ends 12 s after it began: the incident closes clear_s (3 s) later
    closed = feed.wait_for(lambda r: r.type == "incident.closed" and is_lens(r) and r.data["id"] == data["id"],
                           timeout=30)  # fmt: skip
    assert closed.data["closed_at"] > data["opened_at"]
    assert service.get(f"/incidents/{data['id']}").json()["closed_at"] is not None
