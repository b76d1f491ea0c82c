"""Replays through the running service: a real clip (the repo's fire stills), the real models, the real pipeline,
the API's own store and websocket. Replay incidents are test incidents: on the websocket, not in the real lists."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from ingest.demo.footage import fire_clip
from models.clock import ManualClock
from models.config import ReplaysConfig, ServiceConfig
from models.push import LocalBroker
from tests.api.access import bearer
from tests.api.camera_feed import CAM_FIRE_LANE, CAM_YUQUAN, CELL_FIRE_LANE, demo_config
from tests.api.live_client import next_message

pytestmark = pytest.mark.slow


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    """A replay folder of the test's own, holding a file that is not a video."""
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "notes.mp4").write_text("not a video")
    return folder


@pytest.fixture
def config(tmp_path: Path, clips: Path) -> ServiceConfig:
    """The demo config with two replay folders: the footage cache (the fire clip) and the test's own."""
    config = demo_config(tmp_path)
    return config.model_copy(update={"replays": ReplaysConfig(folders=[fire_clip().parent, clips])})


@pytest.fixture
def app(config: ServiceConfig, broker: LocalBroker, clock: ManualClock, real_detectors) -> FastAPI:
    """The API without live cameras, with the real models for its replays."""
    return create_app(config, run_cameras=False, detectors=real_detectors, broker=broker, clock=clock)


def wait_finished(client: TestClient, replay_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replay = client.get(f"/replays/{replay_id}").json()
        if replay["state"] in {"done", "failed", "cancelled"}:
            return replay  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"replay {replay_id} not finished in {timeout} s")


def test_a_replay_runs_as_a_test_camera_on_the_websocket_and_stays_out_of_the_real_lists(client):
    clip = fire_clip()
    with client.websocket_connect("/ws") as ws:
        response = client.post("/replays", json={"clip": str(clip), "camera": CAM_FIRE_LANE, "speed": "max"})
        assert response.status_code == 202, response.text
        submitted = response.json()
        assert submitted["state"] in {"queued", "running"} and submitted["frames_total"] == 20  # 10 s at 2 fps
        assert submitted["camera"] == CAM_FIRE_LANE and submitted["replay_camera"].startswith(f"{CAM_FIRE_LANE}.replay-")
        assert submitted["clip"] == clip.name and submitted["submitted_by"] == "admin"

        replay = wait_finished(client, submitted["id"])
        assert replay["state"] == "done", replay["error"]
        assert replay["frames_analysed"] == replay["frames_total"] == 20 and replay["progress"] == 1.0
        [incident] = replay["incidents"]
        assert incident["is_test"] is True and incident["camera_id"] == replay["replay_camera"]
        assert incident["rule"] == "fire_smoke" and incident["grid_code"] == CELL_FIRE_LANE
        assert incident["camera_name"] == f"宝石山仓库消防通道 [replay {clip.name}]"
        assert 0 < incident["opened_s"] <= 3.0 and incident["closed_s"] is not None  # closed at the clip's end
        assert client.get(incident["snapshot_url"]).headers["content-type"] == "image/jpeg"

        received = []
        while not any(m["type"] == "incident.closed" for m in received):
            received.append(next_message(ws, timeout=30))
        pushed = [m for m in received if m["type"].startswith("incident.")]
        assert {m["data"]["id"] for m in pushed} == {incident["id"]}
        assert all(m["data"]["is_test"] for m in pushed) and pushed[0]["type"] == "incident.opened"

    assert client.get("/incidents").json()["total"] == 0
    tests = client.get("/incidents", params={"include_tests": True, "camera": replay["replay_camera"]}).json()
    assert [i["id"] for i in tests["items"]] == [incident["id"]]
    listed = client.get("/replays").json()
    assert [r["id"] for r in listed] == [replay["id"]] and listed[0]["incidents"] == []


def test_a_replay_can_be_cancelled(client):
    response = client.post("/replays", json={"clip": str(fire_clip()), "camera": CAM_FIRE_LANE})  # real time
    assert response.status_code == 202 and response.json()["speed"] == "realtime"
    cancelled = client.delete(f"/replays/{response.json()['id']}")
    assert cancelled.status_code == 200
    replay = wait_finished(client, response.json()["id"], timeout=30)
    assert replay["state"] == "cancelled"
    assert all(i["closed_at"] is not None for i in replay["incidents"])
    assert client.delete("/replays/nope").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"clip": "CLIPS/no-such-clip.mp4", "camera": CAM_FIRE_LANE}, 422, "clip not found"),
        ({"clip": "relative/clip.mp4", "camera": CAM_FIRE_LANE}, 422, "absolute path"),
        ({"clip": "CLIPS", "camera": CAM_FIRE_LANE}, 422, "clip not found"),  # a folder
        ({"clip": "CLIPS/notes.mp4", "camera": CAM_FIRE_LANE}, 422, "not a readable video"),
        # outside the replay folders: the same answer whether the file exists or not
        ({"clip": __file__, "camera": CAM_FIRE_LANE}, 422, "must be in a replay folder"),
        ({"clip": "/no/such/clip.mp4", "camera": CAM_FIRE_LANE}, 422, "must be in a replay folder"),
        ({"clip": "FIRE", "camera": "nope"}, 422, "unknown camera 'nope'"),
        ({"clip": "FIRE", "camera": CAM_FIRE_LANE, "speed": "warp"}, 422, "speed must be"),
        ({"clip": "FIRE", "camera": CAM_FIRE_LANE, "colour": "red"}, 422, None),
        ({"camera": CAM_FIRE_LANE}, 422, None),
    ],
)
def test_bad_submissions_are_4xx(client, clips, body, status, detail):
    if body.get("clip") == "FIRE":
        body = {**body, "clip": str(fire_clip())}
    if body.get("clip", "").startswith("CLIPS"):
        body = {**body, "clip": body["clip"].replace("CLIPS", str(clips), 1)}
    response = client.post("/replays", json=body)
    assert response.status_code == status, response.text
    if detail is not None:
        [problem] = response.json()["detail"]
        assert detail in problem["msg"] and problem["loc"][0] == "body"


def test_who_may_run_and_see_replays(app, client, anonymous, config, clock):
    clip = str(fire_clip())
    assert anonymous.post("/replays", json={"clip": clip, "camera": CAM_FIRE_LANE}).status_code == 401
    assert anonymous.get("/replays").status_code == 401
    viewer = bearer(config, "viewer", clock.now())
    assert client.post("/replays", json={"clip": clip, "camera": CAM_FIRE_LANE}, headers=viewer).status_code == 403
    lingyin = bearer(config, "lingyin", clock.now())  # an operator of the other street: the fire lane is not there
    outside = client.post("/replays", json={"clip": clip, "camera": CAM_FIRE_LANE}, headers=lingyin)
    assert outside.status_code == 422
    assert outside.json()["detail"] == [
        {"loc": ["body", "camera"], "msg": f"unknown camera {CAM_FIRE_LANE!r}", "type": "value_error"}
    ]
    mine = client.post("/replays", json={"clip": clip, "camera": CAM_YUQUAN, "speed": "max"}, headers=lingyin)
    assert mine.status_code == 202
    beishan = bearer(config, "beishan", clock.now())
    assert client.get(f"/replays/{mine.json()['id']}", headers=beishan).status_code == 404
    assert client.get("/replays", headers=beishan).json() == []
    assert client.get("/replays/unknown").status_code == 404
    assert client.delete(f"/replays/{mine.json()['id']}", headers=lingyin).status_code == 200
    assert client.delete(f"/replays/{mine.json()['id']}", headers=viewer).status_code == 403
    assert wait_finished(client, mine.json()["id"], timeout=30)["state"] == "cancelled"
