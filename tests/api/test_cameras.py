from __future__ import annotations

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from analytics.line_counts import LineCounts
from analytics.thumbnails import CameraThumbnails
from ingest.frames import VideoFrame
from ingest.health import CameraState
from models.clock import ManualClock
from models.config import ServiceConfig
from tests.api.access import bearer
from tests.api.camera_feed import (
    CAM_FIRE_LANE,
    CAM_WALKWAY,
    CAM_YUQUAN,
    CELL_FIRE_LANE,
    CELL_WALKWAY,
    CELL_YUQUAN,
    RTSP_PASSWORD,
    CameraFeed,
    minutes,
)

# the password, the user name, and the stream paths that only the URLs hold (url and record_url)
SECRETS = [RTSP_PASSWORD, "admin", "/pedestrians", "/fire", "/yuquan", "/yuquan-main"]


@pytest.mark.parametrize(
    "reports",
    [
        [],
        [(CAM_WALKWAY, CameraState.ONLINE, None)],
        # an error as ingest reports it (already redacted), for every camera
        [
            (camera_id, CameraState.OFFLINE, "connection refused: rtsp://***@127.0.0.1:9/stream")
            for camera_id in (CAM_WALKWAY, CAM_FIRE_LANE, CAM_YUQUAN)
        ],
    ],
)
@pytest.mark.parametrize(
    "path", ["/cameras", f"/cameras/{CAM_WALKWAY}", f"/cameras/{CAM_FIRE_LANE}", f"/cameras/{CAM_YUQUAN}"]
)
def test_cameras_never_show_the_stream_url_or_its_password(
    client: TestClient, feed: CameraFeed, path: str, reports: list[tuple[str, CameraState, str | None]]
) -> None:
    for camera_id, state, error in reports:
        feed.camera_status(camera_id, state, minutes(0), last_error=error)

    response = client.get(path)

    assert response.status_code == 200
    for secret in SECRETS:
        assert secret not in response.text


@pytest.mark.parametrize(
    ("camera_id", "grid_code", "grid_path", "rules"),
    [
        # located from lat/lon: the deepest cell containing the camera
        (
            CAM_WALKWAY,
            CELL_WALKWAY,
            [
                ("330106", "西湖区"),
                ("330106001", "北山街道"),
                ("330106001001", "宝石山社区"),
                (CELL_WALKWAY, "宝石山第一网格"),
            ],
            ["crowd", "camera_offline", "intrusion", "line_crossing", "camera_tamper"],
        ),
        # grid_cell given in the config
        (
            CAM_FIRE_LANE,
            CELL_FIRE_LANE,
            [
                ("330106", "西湖区"),
                ("330106001", "北山街道"),
                ("330106001001", "宝石山社区"),
                (CELL_FIRE_LANE, "宝石山第二网格"),
            ],
            ["fire_smoke", "camera_offline"],
        ),
        (
            CAM_YUQUAN,
            CELL_YUQUAN,
            [
                ("330106", "西湖区"),
                ("330106002", "灵隐街道"),
                ("330106002001", "玉泉社区"),
                (CELL_YUQUAN, "玉泉第一网格"),
            ],
            ["crowd", "camera_offline"],
        ),
    ],
)
def test_camera_has_its_grid_cell_and_path(
    client: TestClient, camera_id: str, grid_code: str, grid_path: list[tuple[str, str]], rules: list[str]
) -> None:
    listed = {camera["id"]: camera for camera in client.get("/cameras").json()}
    camera = client.get(f"/cameras/{camera_id}").json()

    assert camera == listed[camera_id]
    assert camera["grid_code"] == grid_code
    assert [(ref["code"], ref["name"]) for ref in camera["grid_path"]] == grid_path
    assert camera["rules"] == rules
    assert camera["status"] == {
        "state": "unknown",
        "since": None,
        "last_error": None,
        "frames_decoded": 0,
        "frames_dropped": 0,
        "analysed_fps": None,
    }


def test_cameras_listed_in_config_order(client: TestClient) -> None:
    assert [camera["id"] for camera in client.get("/cameras").json()] == [
        CAM_WALKWAY,
        CAM_FIRE_LANE,
        CAM_YUQUAN,
    ]


@pytest.mark.parametrize(
    ("reports", "expected"),
    [
        ([], {CAM_WALKWAY: "unknown", CAM_FIRE_LANE: "unknown", CAM_YUQUAN: "unknown"}),
        (
            [(CAM_WALKWAY, CameraState.CONNECTING)],
            {CAM_WALKWAY: "connecting", CAM_FIRE_LANE: "unknown", CAM_YUQUAN: "unknown"},
        ),
        (
            [
                (CAM_WALKWAY, CameraState.CONNECTING),
                (CAM_WALKWAY, CameraState.ONLINE),
                (CAM_FIRE_LANE, CameraState.STALLED),
            ],
            {CAM_WALKWAY: "online", CAM_FIRE_LANE: "stalled", CAM_YUQUAN: "unknown"},
        ),
    ],
)
def test_camera_status_is_the_latest_recorded(
    client: TestClient, feed: CameraFeed, reports: list[tuple[str, CameraState]], expected: dict[str, str]
) -> None:
    for i, (camera_id, state) in enumerate(reports):
        feed.camera_status(camera_id, state, minutes(i))

    states = {camera["id"]: camera["status"]["state"] for camera in client.get("/cameras").json()}

    assert states == expected


def test_camera_status_carries_the_recorded_details(client: TestClient, feed: CameraFeed) -> None:
    feed.camera_status(
        CAM_FIRE_LANE, CameraState.OFFLINE, minutes(5), last_error="read timed out after 5.0 s"
    )

    status = client.get(f"/cameras/{CAM_FIRE_LANE}").json()["status"]

    assert status == {
        "state": "offline",
        "since": "2026-03-01T08:05:00Z",
        "last_error": "read timed out after 5.0 s",
        "frames_decoded": 120,
        "frames_dropped": 3,
        "analysed_fps": None,
    }


@pytest.mark.parametrize("camera_id", ["cam-unknown", "34020000001320000099", "%20", "x" * 300])
def test_unknown_camera_is_404(client: TestClient, camera_id: str) -> None:
    response = client.get(f"/cameras/{camera_id}")

    assert response.status_code == 404
    assert "unknown camera" in response.json()["detail"]


@pytest.mark.parametrize("camera_id", [CAM_WALKWAY, CAM_FIRE_LANE, CAM_YUQUAN])
def test_no_thumbnail_before_the_cameras_first_analysed_frame(
    client: TestClient, feed: CameraFeed, camera_id: str
) -> None:
    feed.camera_status(camera_id, CameraState.ONLINE, minutes(0))  # online, but no frame analysed yet

    response = client.get(f"/cameras/{camera_id}/thumbnail")

    assert response.status_code == 404
    assert "has no frame yet" in response.json()["detail"]


def test_an_api_that_runs_no_cameras_serves_the_thumbnail_a_pipeline_wrote(
    client: TestClient, config: ServiceConfig
) -> None:
    # The pipeline analysing the camera (in another process or on another node) shares only the data directory.
    image = np.full((576, 768, 3), 120, dtype=np.uint8)
    frame = VideoFrame(camera_id=CAM_WALKWAY, frame_id=5, timestamp=1_790_000_000.0, pts=None, image=image)
    CameraThumbnails.in_data_dir(config.store.data_dir).offer(frame)

    response = client.get(f"/cameras/{CAM_WALKWAY}/thumbnail")

    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    picture = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (240, 320, 3) and abs(int(picture[10, 10, 0]) - 120) < 8
    assert response.headers["x-frame-time"] == "2026-09-21T14:13:20Z"
    assert response.headers["x-frame-size"] == "768x576"  # the pixels zones and lines are drawn in
    assert client.get(f"/cameras/{CAM_FIRE_LANE}/thumbnail").status_code == 404  # only the camera it wrote


@pytest.mark.parametrize("camera_id", ["cam-unknown", "%20", "x" * 300])
def test_thumbnail_of_an_unknown_camera_is_404(client: TestClient, camera_id: str) -> None:
    response = client.get(f"/cameras/{camera_id}/thumbnail")

    assert response.status_code == 404
    assert "unknown camera" in response.json()["detail"]


def test_thumbnail_outside_the_callers_grid_is_an_unknown_camera(app: FastAPI, config: ServiceConfig,
                                                                  clock: ManualClock) -> None:  # fmt: skip
    with TestClient(app, headers=bearer(config, "beishan", clock.now())) as beishan:
        # 玉泉 is in 灵隐街道, outside beishan's 北山街道: as if it did not exist
        outside = beishan.get(f"/cameras/{CAM_YUQUAN}/thumbnail")
        inside = beishan.get(f"/cameras/{CAM_WALKWAY}/thumbnail")

    assert outside.status_code == 404 and "unknown camera" in outside.json()["detail"]
    assert inside.status_code == 404 and "has no frame yet" in inside.json()["detail"]


def test_thumbnail_needs_credentials(anonymous: TestClient) -> None:
    assert anonymous.get(f"/cameras/{CAM_WALKWAY}/thumbnail").status_code == 401


def test_the_camera_lists_its_zones_and_lines_in_image_pixels(client: TestClient) -> None:
    camera = client.get(f"/cameras/{CAM_WALKWAY}").json()
    assert camera["lines"] == {"sign_post": [[310, 180], [310, 370]]}
    assert camera["zones"]["lawn"][0] == [180, 320]
    assert camera["analysis_fps"] == 5.0  # 1 fps configured, raised for its track-based line-crossing rule


def test_line_counts_a_pipeline_wrote_are_read_with_their_totals(
    app: FastAPI, client: TestClient, config: ServiceConfig, clock: ManualClock
) -> None:
    before = client.get(f"/cameras/{CAM_WALKWAY}/lines").json()
    assert before == {"camera_id": CAM_WALKWAY, "lines": [
        {"line": "sign_post", "points": [[310, 180], [310, 370]], "counted": True, "crossed_in": 0, "crossed_out": 0,
         "since": None, "updated_at": None}]}  # fmt: skip
    # The pipeline counting the line (in another process or on another node) shares only the data directory.
    counts = LineCounts.in_data_dir(config.store.data_dir)
    counts.add(CAM_WALKWAY, "sign_post", 2, 1, 1_790_000_000.0)
    LineCounts.in_data_dir(config.store.data_dir).add(CAM_WALKWAY, "sign_post", 1, 0, 1_790_000_060.0)  # a restart

    [line] = client.get(f"/cameras/{CAM_WALKWAY}/lines").json()["lines"]

    assert (line["crossed_in"], line["crossed_out"]) == (3, 1)
    assert line["since"] == "2026-09-21T14:13:20Z" and line["updated_at"] == "2026-09-21T14:14:20Z"
    assert client.get(f"/cameras/{CAM_FIRE_LANE}/lines").json()["lines"] == []  # no lines there
    with TestClient(app, headers=bearer(config, "lingyin", clock.now())) as lingyin:
        outside = lingyin.get(f"/cameras/{CAM_WALKWAY}/lines")  # 宝石山 is outside lingyin's 灵隐街道
    assert outside.status_code == 404 and "unknown camera" in outside.json()["detail"]
    assert client.get("/cameras/nope/lines").status_code == 404
