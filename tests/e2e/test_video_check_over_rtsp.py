"""Video check of the closure (视频核查) over real RTSP with the real models: two fire cameras, each on its own RTSP
server looping the fire footage (the repository's CC BY 4.0 stills). Both incidents are filed, dispatched and
reported handled through the API; then one camera's clip is switched to no-fire footage (the pedestrian walkway):
that incident passes the check and is checked, with an after snapshot and a playable after clip; the other camera's
fire goes on: that incident fails the check and is sent back with the reason "video check failed" and evidence.
Every step arrives over the websocket.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import av
import httpx
import pytest

from ingest.demo.footage import fire_clip, pedestrian_clip
from ingest.rtsp_server import LocalRtspServer, prepare_clip
from tests.e2e.service import LiveFeed, Received, Service, free_port, service_config

pytestmark = pytest.mark.slow

USER, PASSWORD = "xl-check", "Ch3ck-Pa55"
CELL_B = "330106001001002"  # 宝石山第二网格, 北山街道
FAST_RECONNECT = {"open_timeout_s": 3, "read_timeout_s": 2, "stall_timeout_s": 2, "backoff_initial_s": 0.2,
                  "backoff_max_s": 1.0}  # fmt: skip
CHECK = {"enabled": True, "duration_s": 20, "clear_s": 5}
CLIPS = {"pre_s": 4.0, "post_s": 4.0}


def fire_camera(name: str, url: str) -> dict[str, Any]:
    return {"name": name, "url": url, "grid_cell": CELL_B, "lat": 30.265, "lon": 120.145, "analysis_fps": 2,
            "stream": FAST_RECONNECT, "video_check": CHECK,
            "rules": {"fire_smoke": {"window_frames": 4, "min_hits": 3, "clear_frames": 6},
                      "camera_offline": {"enabled": False}}}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("video-check")
    fire = fire_clip()
    prepare_clip(pedestrian_clip())  # transcoded now, so switching to it later is only a relay restart
    goes_out = LocalRtspServer(port=free_port(), user=USER, password=PASSWORD)
    goes_out.add_stream("yard", fire)
    stays = LocalRtspServer(port=free_port(), user=USER, password=PASSWORD)
    stays.add_stream("yard", fire)
    cameras = {"goes_out": fire_camera("货场东 (火被扑灭)", goes_out.url("yard")),
               "stays": fire_camera("货场西 (火未灭)", stays.url("yard"))}  # fmt: skip
    port = free_port()
    service = Service(service_config(tmp, cameras, port, clips=CLIPS), port, tmp / "service.log")
    service.start()
    feed = LiveFeed(f"ws://127.0.0.1:{port}/ws")
    try:
        goes_out.start()
        stays.start()
        yield {"service": service, "feed": feed, "goes_out": goes_out, "tmp": tmp}
    finally:
        feed.close()
        service.stop()
        goes_out.stop()
        stays.stop()


def step(service: Service, incident_id: str, body: dict[str, Any]) -> None:
    response = httpx.post(f"{service.base}/incidents/{incident_id}/transitions", json=body, headers=service.headers,
                          timeout=10)  # fmt: skip
    assert response.status_code == 201, response.text


def step_by_check(incident_id: str, action: str):  # type: ignore[no-untyped-def]
    def matches(received: Received) -> bool:
        return (received.type == "incident.transition" and received.data["id"] == incident_id
                and received.data["transition"]["action"] == action
                and received.data["transition"]["actor"].startswith("video-check:"))  # fmt: skip

    return matches


def test_a_fire_gone_passes_the_video_check_and_a_fire_going_on_fails_it_and_is_sent_back(world):
    service: Service = world["service"]
    feed: LiveFeed = world["feed"]
    opened = {camera: feed.wait_for(lambda r, c=camera: r.type == "incident.opened" and r.data["camera_id"] == c, 90)
              for camera in ("goes_out", "stays")}  # fmt: skip
    ids = {camera: received.data["id"] for camera, received in opened.items()}
    for incident_id in ids.values():
        step(service, incident_id, {"to": "filed"})
        step(service, incident_id, {"to": "dispatched", "department": "西湖区消防救援大队"})
        step(service, incident_id, {"to": "handled", "note": "火已扑灭"})
    world["goes_out"].add_stream("yard", pedestrian_clip())  # the camera now sees the walkway: no fire

    timeout = CHECK["duration_s"] + 30
    passed = feed.wait_for(step_by_check(ids["goes_out"], "check"), timeout)
    failed = feed.wait_for(step_by_check(ids["stays"], "send_back"), timeout)

    done = passed.data["transition"]
    assert done["action"] == "check" and done["actor"] == "video-check:goes_out"
    assert done["actor_role"] == "incident-system" and done["note"].startswith("video check passed")
    [check] = service.get(f"/incidents/{ids['goes_out']}/video-checks").json()
    assert check["outcome"] == "passed" and check["step"] == "checked"
    assert done["attachments"] == [check["snapshot_url"], check["clip_url"]]
    snapshot = service.get(check["snapshot_url"])
    assert snapshot.status_code == 200 and snapshot.headers["content-type"] == "image/jpeg"
    clip = service.get(check["clip_url"])
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
    path = world["tmp"] / "after.mp4"
    path.write_bytes(clip.content)
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    assert frames and frames[-1].width == 768  # it ends on the walkway footage (768x576), not the fire stills (608 wide)

    sent_back = failed.data["transition"]
    assert (sent_back["action"], sent_back["actor"]) == ("send_back", "video-check:stays")
    assert sent_back["reason"] == "video check failed" and sent_back["note"].startswith("video check failed")
    assert failed.data["status"] == "dispatched" and failed.data["assignee_department"] == "西湖区消防救援大队"
    [check] = service.get(f"/incidents/{ids['stays']}/video-checks").json()
    assert check["outcome"] == "failed" and check["step"] == "dispatched"
    assert sent_back["attachments"] == [check["snapshot_url"], check["clip_url"]]
    assert service.get(check["snapshot_url"]).status_code == 200
