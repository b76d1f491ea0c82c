"""GET /cluster: the nodes serving cameras and each camera's node, for admins. In the single-process mode (no
`cluster.ray_address`) this process is the one node, serving every enabled camera; with a Ray address the picture
is the store's (`store.cluster`, written here as the placement controller writes it)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from models.clock import ManualClock
from models.config import ClusterConfig, ServiceConfig
from models.repositories.cluster import NodeReport
from models.store import Store
from tests.api.access import api_key, bearer
from tests.api.camera_feed import CAM_FIRE_LANE, CAM_WALKWAY, CAM_YUQUAN, T0, demo_config
from tests.api.postgres_support import postgres_schema_url_fixture  # noqa: F401 - the fixture, used by name


def test_single_process_is_one_node_serving_every_enabled_camera(client: TestClient, config: ServiceConfig) -> None:
    cluster = client.get("/cluster").json()

    assert cluster["mode"] == "single"
    [node] = cluster["nodes"]
    assert (node["node_id"], node["alive"], node["lost_at"]) == ("local", True, None)
    assert node["cameras"] == sorted([CAM_WALKWAY, CAM_FIRE_LANE, CAM_YUQUAN])
    assert node["cpus"] >= 1 and node["rss_mb"] > 10 and node["cpu_percent"] >= 0
    assert node["models"] == []  # this app runs no cameras, so it loaded no model
    assert node["started_at"] == "2026-03-01T08:00:00Z" and node["address"]
    assert [(p["camera_id"], p["node_id"]) for p in cluster["placements"]] == [
        (camera_id, "local") for camera_id in sorted(config.cameras)
    ]


def test_only_admins_see_the_cluster(app: FastAPI, config: ServiceConfig, clock: ManualClock) -> None:
    with TestClient(app) as anonymous:
        assert anonymous.get("/cluster").status_code == 401
        for user in ("viewer", "beishan"):  # a viewer, an operator
            answer = anonymous.get("/cluster", headers=bearer(config, user, clock.now()))
            assert answer.status_code == 403, user
        assert anonymous.get("/cluster", headers=api_key()).status_code == 403  # the incident system
        assert anonymous.get("/cluster", headers=bearer(config, "admin", clock.now())).status_code == 200


def test_a_ray_cluster_shows_the_nodes_and_placements_in_the_store(
    tmp_path: Path,
    postgres_schema_url: str,  # noqa: F811
) -> None:
    config = demo_config(tmp_path)
    config = config.model_copy(
        update={
            "store": config.store.model_copy(update={"url": SecretStr(postgres_schema_url)}),
            "cluster": ClusterConfig(ray_address="auto"),
        }
    )
    clock = ManualClock(T0)
    app = create_app(config, run_cameras=False, clock=clock)
    with TestClient(app, headers=bearer(config, "admin", T0)) as client:
        empty = client.get("/cluster").json()
        with Store(postgres_schema_url) as store:
            store.cluster.report_node(
                NodeReport(node_id="n1", address="10.0.0.7", cpus=16.0, cpu_percent=42.5, rss_mb=812.5,
                           models=["yolo11n"], camera_ids=[CAM_WALKWAY]),
                T0,
            )  # fmt: skip
            store.cluster.report_node(
                NodeReport(node_id="n2", address="10.0.0.8", cpus=8.0, cpu_percent=None, rss_mb=None,
                           camera_ids=[CAM_FIRE_LANE]),
                T0,
            )  # fmt: skip
            store.cluster.place(CAM_WALKWAY, "n1", "start", T0)
            store.cluster.place(CAM_FIRE_LANE, "n1", "start", T0)
            store.cluster.mark_node_lost("n2", T0 + timedelta(seconds=30))
            store.cluster.place(CAM_FIRE_LANE, "n1", "node lost", T0 + timedelta(seconds=31))
            store.cluster.place(CAM_YUQUAN, None, "no capacity", T0 + timedelta(seconds=31))
        cluster = client.get("/cluster").json()

    assert empty == {"mode": "ray", "nodes": [], "placements": []}
    assert cluster["mode"] == "ray"
    n1, n2 = cluster["nodes"]  # alive first
    assert (n1["node_id"], n1["address"], n1["alive"], n1["cpus"], n1["cpu_percent"], n1["rss_mb"]) == (
        "n1", "10.0.0.7", True, 16.0, 42.5, 812.5,
    )  # fmt: skip
    assert (n1["models"], n1["cameras"], n1["lost_at"]) == (["yolo11n"], [CAM_WALKWAY], None)
    assert (n2["node_id"], n2["alive"], n2["cameras"], n2["lost_at"]) == ("n2", False, [], "2026-03-01T08:00:30Z")
    assert [(p["camera_id"], p["node_id"], p["reason"]) for p in cluster["placements"]] == [
        (CAM_WALKWAY, "n1", "start"),
        (CAM_FIRE_LANE, "n1", "node lost"),
        (CAM_YUQUAN, None, "no capacity"),
    ]
