"""One case per situation over real RTSP with the real models: two cameras on the same grid cell look at the same
fire (the repository's CC BY 4.0 fire stills, one RTSP server, both cameras on its stream). With merging on for
fire_hazard, they give one incident: the first camera's, with the second camera's sighting and its snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from ingest.demo.footage import fire_clip
from ingest.rtsp_server import LocalRtspServer
from tests.conftest import demo_raw_config
from tests.e2e.service import LiveFeed, Service, free_port, service_config

pytestmark = pytest.mark.slow

USER, PASSWORD = "xl-merge", "M3rge-Pa55"
CELL_B = "330106001001002"  # 宝石山第二网格
FAST_RECONNECT = {"open_timeout_s": 3, "read_timeout_s": 2, "stall_timeout_s": 2, "backoff_initial_s": 0.2,
                  "backoff_max_s": 1.0}  # fmt: skip


def fire_camera(name: str, url: str, lon: float) -> dict[str, Any]:
    return {"name": name, "url": url, "grid_cell": CELL_B, "lat": 30.265, "lon": lon, "analysis_fps": 2,
            "stream": FAST_RECONNECT,
            "rules": {"fire_smoke": {"window_frames": 4, "min_hits": 3, "clear_frames": 6},
                      "camera_offline": {"enabled": False}}}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("case-merge")
    server = LocalRtspServer(port=free_port(), user=USER, password=PASSWORD)
    server.add_stream("yard", fire_clip())
    cameras = {"yard_east": fire_camera("货场东", server.url("yard"), 120.1451),
               "yard_west": fire_camera("货场西", server.url("yard"), 120.1449)}  # fmt: skip
    categories = demo_raw_config()["event_categories"]
    categories["fire_hazard"]["merge"] = {"enabled": True, "same_grid_cell": True, "window_s": 60}
    port = free_port()
    service = Service(service_config(tmp, cameras, port, event_categories=categories), port, tmp / "service.log")
    service.start()
    feed = LiveFeed(f"ws://127.0.0.1:{port}/ws")
    try:
        server.start()
        yield {"service": service, "feed": feed}
    finally:
        feed.close()
        service.stop()
        server.stop()


def test_two_cameras_on_one_cell_seeing_the_same_fire_give_one_incident(world):
    service: Service = world["service"]
    feed: LiveFeed = world["feed"]
    opened = feed.wait_for(lambda r: r.type == "incident.opened", 90)
    incident_id = opened.data["id"]
    first = opened.data["camera_id"]
    other = ({"yard_east", "yard_west"} - {first}).pop()
    joined = feed.wait_for(lambda r: r.type == "incident.updated" and r.data["id"] == incident_id
                           and r.data.get("sighting", {}).get("camera_id") == other, 60)  # fmt: skip
    time.sleep(3)  # both cameras keep seeing the fire: still no second incident
    assert [r.data["id"] for r in feed.received if r.type == "incident.opened"] == [incident_id]
    page = service.get("/incidents").json()
    assert page["total"] == 1 and page["items"][0]["camera_id"] == first

    [sighting] = service.get(f"/incidents/{incident_id}/sightings").json()
    assert sighting["camera_id"] == other and sighting["grid_code"] == CELL_B
    assert sighting == joined.data["sighting"] | {"updated_at": sighting["updated_at"],
                                                  "peak_confidence": sighting["peak_confidence"]}  # fmt: skip
    snapshot = service.get(sighting["snapshot_url"])
    assert snapshot.status_code == 200 and snapshot.headers["content-type"] == "image/jpeg"
