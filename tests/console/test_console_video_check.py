"""The video check (视频核查) in the operator console, in a real headless Chromium against the whole service: a fire
camera (the fire stills over RTSP, real models) raises an incident, the command centre files, dispatches and reports
it handled through the API, the camera's footage switches to the walkway (the fire is out), the camera's check
passes; the operator sees before and after side by side, with the after clip, and closes the case with one click.
A second camera on the same cell looks at the same stream: with merging on for fire_hazard, it is one case, and
the incident view lists the other camera's sighting.

The screenshot goes to test-artifacts/console/ (see tests/console/browser.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ingest.demo.footage import fire_clip, pedestrian_clip
from ingest.rtsp_server import LocalRtspServer, prepare_clip
from tests.conftest import demo_raw_config
from tests.console.browser import Browser
from tests.e2e.service import Service, free_port, service_config

pytestmark = pytest.mark.slow

USER, PASSWORD = "xl-cam", "Cam-Pa55word"
CELL_B = "330106001001002"
FAST_RECONNECT = {"open_timeout_s": 3, "read_timeout_s": 2, "stall_timeout_s": 2, "backoff_initial_s": 0.2,
                  "backoff_max_s": 1.0}  # fmt: skip
CHECK = {"enabled": True, "duration_s": 15, "clear_s": 4}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("console-check")
    prepare_clip(pedestrian_clip())  # transcoded now: the switch is only a relay restart
    server = LocalRtspServer(port=free_port(), user=USER, password=PASSWORD)
    server.add_stream("warehouse", fire_clip())
    fire = {"url": server.url("warehouse"), "grid_cell": CELL_B, "lat": 30.265, "lon": 120.145, "analysis_fps": 2,
            "stream": FAST_RECONNECT, "video_check": CHECK,
            "rules": {"fire_smoke": {"window_frames": 4, "min_hits": 3, "clear_frames": 6},
                      "camera_offline": {"enabled": False}}}  # fmt: skip
    cameras = {"fire": {"name": "仓库消防通道", **fire}, "fire2": {"name": "仓库北门", **fire}}
    categories = demo_raw_config()["event_categories"]
    categories["fire_hazard"]["merge"] = {"enabled": True}
    port = free_port()
    service = Service(service_config(tmp, cameras, port, clips={"pre_s": 3.0, "post_s": 3.0},
                                     event_categories=categories), port, tmp / "service.log")  # fmt: skip
    service.start()
    browser = None
    try:
        server.start()
        browser = Browser(service.base, "beishan-check")
        yield {"service": service, "server": server, "browser": browser}
    finally:
        if browser is not None:
            browser.quit()
        service.stop()
        server.stop()


def test_a_passed_video_check_shows_before_and_after_and_closes_with_one_click(world):
    service: Service = world["service"]
    beishan: Browser = world["browser"]
    beishan.open("/")
    beishan.login("beishan", "beishan-demo")
    with httpx.Client(base_url=service.base, headers=service.login("admin", "admin-demo"), timeout=10) as admin:
        incident_id = beishan.wait(lambda: next(iter(admin.get("/incidents").json()["items"]), {}).get("id"),
                                   "the fire incident", 90)  # fmt: skip
        own = admin.get(f"/incidents/{incident_id}").json()["camera_id"]
        other = ({"fire", "fire2"} - {own}).pop()
        # one case: the other camera's opening joins it as a sighting
        beishan.wait(lambda: admin.get(f"/incidents/{incident_id}/sightings").json(), "the other camera's sighting", 30)
        assert admin.get("/incidents").json()["total"] == 1
        for step in ({"to": "filed"}, {"to": "dispatched", "department": "西湖区消防救援大队"},
                     {"to": "handled", "note": "火已扑灭"}):  # fmt: skip
            assert admin.post(f"/incidents/{incident_id}/transitions", json=step).status_code == 201
    world["server"].add_stream("warehouse", pedestrian_clip())  # the fire is out

    beishan.go(f"#/incidents/{incident_id}")
    beishan.wait(lambda: beishan.visible("#incident-status"), "incident view")
    beishan.wait(lambda: beishan.find_all(f'#incident-sightings li[data-camera-id="{other}"]'), "the sighting")
    # pushed over the websocket: the view updates by itself once the camera has decided
    beishan.wait(lambda: beishan.find("#incident-video-check").get_attribute("data-outcome") == "passed",
                 "the video check passed", CHECK["duration_s"] + 40)  # fmt: skip
    beishan.wait(lambda: beishan.text("#incident-status") == "已核查", "status checked")
    for picture in ("check-before", "check-after"):
        beishan.wait(lambda p=picture: beishan.js("const i = document.getElementById(arguments[0]);"
                                                  "return i && i.complete && i.naturalWidth > 0", p), picture)  # fmt: skip
    assert "视频核查通过" in beishan.text("#incident-video-check")
    assert beishan.js("return !!document.getElementById('check-after-clip')")
    history = beishan.text("#incident-history")
    assert f"video-check:{own}" in history and "video check passed" in history
    beishan.js("document.getElementById('incident-video-check').scrollIntoView()")
    beishan.screenshot("10-video-check-passed")

    beishan.click("#check-close")
    beishan.wait(lambda: beishan.text("#incident-status") == "已结案", "closed with one click")
    with httpx.Client(base_url=service.base, headers=service.login("beishan", "beishan-demo"), timeout=10) as api:
        steps = api.get(f"/incidents/{incident_id}/transitions").json()
    assert [s["action"] for s in steps][-2:] == ["check", "close"] and steps[-1]["actor"] == "beishan"
    assert not beishan.errors()
