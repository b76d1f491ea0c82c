"""The cluster, for admins: which nodes serve cameras (with their load) and which node serves each camera.

With `cluster.ray_address` the picture is the store's (`store.cluster`, written by the placement controller, read
by any API replica); without, this one process is the only node and serves every enabled camera."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.deps import AdminDep, ConfigDep, LocalNodeDep, NowDep, StoreDep
from api.errors import errors
from api.schemas import CameraPlacementOut, ClusterNodeOut, ClusterOut
from models.repositories.cluster import NodeRecord, Placement

router = APIRouter(
    prefix="/cluster", tags=["cluster"], responses=errors(401, 403, described={403: "Not an admin"})
)


@router.get("", response_model=ClusterOut, summary="The nodes and each camera's placement")
async def get_cluster(
    _admin: AdminDep, config: ConfigDep, store: StoreDep, local_node: LocalNodeDep, now: NowDep
) -> ClusterOut:
    if config.cluster is not None and config.cluster.ray_address is not None:
        nodes = await run_in_threadpool(store.cluster.nodes)
        placements = await run_in_threadpool(store.cluster.placements)
        return cluster_out("ray", nodes, placements)
    node = await run_in_threadpool(local_node.record, now)
    return cluster_out("single", [node], local_node.placements())


def cluster_out(
    mode: Literal["single", "ray"], nodes: list[NodeRecord], placements: dict[str, Placement]
) -> ClusterOut:
    return ClusterOut(
        mode=mode,
        nodes=[
            ClusterNodeOut(
                node_id=n.node_id,
                address=n.address,
                alive=n.alive,
                cpus=n.cpus,
                cpu_percent=n.cpu_percent,
                rss_mb=n.rss_mb,
                models=n.models,
                cameras=n.camera_ids,
                started_at=n.started_at,
                updated_at=n.updated_at,
                lost_at=n.lost_at,
            )  # fmt: skip
            for n in nodes
        ],
        placements=[
            CameraPlacementOut(
                camera_id=p.camera_id, node_id=p.node_id, reason=p.reason, assigned_at=p.assigned_at
            )
            for p in placements.values()
        ],
    )
