"""Evidence over real RTSP with the real models: a camera sees a fire break out (8 s of pedestrians, then fire) and
its incident gets an event clip that starts before the first fire frame, served with Range and scoped to the grid.

One service, one camera, its server started once the camera is retrying (so its first frame is the footage's first).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import httpx
import numpy as np
import pytest

from ingest.demo.footage import calm_then_fire_clip
from ingest.rtsp_server import LocalRtspServer
from tests.e2e.service import LiveFeed, Service, free_port, service_config

pytestmark = pytest.mark.slow

USER, PASSWORD = "xl-evidence", "Ev1dence-Pa55"
CELL_B = "330106001001002"  # 宝石山第二网格, 北山街道
FAST_RECONNECT = {"open_timeout_s": 3, "read_timeout_s": 2, "stall_timeout_s": 2, "backoff_initial_s": 0.2,
                  "backoff_max_s": 1.0}  # fmt: skip
CALM_S, FPS = 8.0, 10
CLIPS = {"pre_s": 5.0, "post_s": 4.0}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("evidence")
    footage = calm_then_fire_clip(CALM_S, FPS)
    server = LocalRtspServer(port=free_port(), user=USER, password=PASSWORD)
    server.add_stream("warehouse", footage)
    cameras = {
        "breakout": {"name": "仓库起火", "url": server.url("warehouse"), "grid_cell": CELL_B, "lat": 30.265,
                     "lon": 120.145, "analysis_fps": 2, "stream": FAST_RECONNECT,
                     "rules": {"fire_smoke": {"window_frames": 4, "min_hits": 3, "clear_frames": 6},
                               "camera_offline": {"enabled": False}}},
    }  # fmt: skip
    port = free_port()
    service = Service(service_config(tmp, cameras, port, clips=CLIPS), port, tmp / "service.log")
    service.start()
    feed = LiveFeed(f"ws://127.0.0.1:{port}/ws")
    try:
        server.start()
        yield {"service": service, "feed": feed, "footage": footage, "tmp": tmp}
    finally:
        feed.close()
        service.stop()
        server.stop()


def small_gray(image: np.ndarray) -> np.ndarray:
    return cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (160, 90)).astype(np.float32)


def footage_index(footage: Path, image: np.ndarray) -> int:
    """Which frame of the served footage `image` is (least squared difference, downscaled)."""
    target = small_gray(image)
    with av.open(str(footage)) as container:
        errors = [float(np.mean((small_gray(f.to_ndarray(format="bgr24")) - target) ** 2))
                  for f in container.decode(video=0)]  # fmt: skip
    return int(np.argmin(errors))


def test_a_fire_incident_has_a_playable_clip_that_starts_before_the_first_fire_frame(world):
    service: Service = world["service"]
    feed: LiveFeed = world["feed"]
    opened = feed.wait_for(lambda r: r.type == "incident.opened" and r.data["camera_id"] == "breakout", 90)
    incident_id = opened.data["id"]
    assert opened.data["clip_url"] is None  # written post_s after the opening frame
    with_clip = feed.wait_for(lambda r: r.type == "incident.updated" and r.data["id"] == incident_id
                              and r.data["clip_url"], CLIPS["post_s"] + 20)  # fmt: skip
    assert with_clip.data["clip_url"] == f"/incidents/{incident_id}/clip.mp4"

    clip = service.get(with_clip.data["clip_url"])
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
    path = world["tmp"] / "clip.mp4"
    path.write_bytes(clip.content)
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
        time_base = container.streams.video[0].time_base
    assert frames[0].key_frame
    held = float((frames[-1].pts - frames[0].pts) * time_base) + 1 / FPS
    first = footage_index(world["footage"], frames[0].to_ndarray(format="bgr24"))
    last = footage_index(world["footage"], frames[-1].to_ndarray(format="bgr24"))
    first_fire = int(CALM_S * FPS)
    assert first < first_fire <= last, (first, first_fire, last)  # it shows the fire breaking out
    # pre_s + post_s, from the keyframe (1 s apart) at or before pre_s; less only if the camera joined the relay's
    # loop later than pre_s before the opening frame (then from its first keyframe)
    assert CLIPS["post_s"] + 1.0 <= held <= CLIPS["pre_s"] + CLIPS["post_s"] + 1.1, held

    part = httpx.get(
        f"{service.base}{with_clip.data['clip_url']}", headers={**service.headers, "Range": "bytes=0-99"}, timeout=10
    )
    assert part.status_code == 206 and part.content == clip.content[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{len(clip.content)}"
    other_grid = httpx.get(f"{service.base}{with_clip.data['clip_url']}",
                           headers=service.login("lingyin", "lingyin-demo"), timeout=10)  # fmt: skip
    assert other_grid.status_code == 404
