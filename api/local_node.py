"""This process as a node of a one-node cluster: what `GET /cluster` answers in the single-process mode (no
`cluster.ray_address`), so the console shows one shape whether one box or a Ray cluster serves the cameras."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime

import psutil

from models.repositories.cluster import NodeRecord, Placement

LOCAL_NODE_ID = "local"
SINGLE_PROCESS = "single process"  # the placement reason of every camera in the single-process mode


class LocalNode:
    """This process's load (psutil: CPU over the interval since the last look, resident memory), the models it has
    loaded and the cameras it serves (every enabled camera of the config)."""

    def __init__(
        self, *, started_at: datetime, camera_ids: list[str], models: Callable[[], list[str]]
    ) -> None:
        self.started_at = started_at
        self.camera_ids = sorted(camera_ids)
        self._models = models
        self._process = psutil.Process()
        self._lock = (
            threading.Lock()
        )  # cpu_percent(None) measures since the previous call: one caller at a time
        self._process.cpu_percent(None)  # the first call only starts the interval

    def record(self, now: datetime) -> NodeRecord:
        with self._lock:
            cpu_percent = self._process.cpu_percent(None)
            rss_mb = self._process.memory_info().rss / 2**20
        return NodeRecord(
            node_id=LOCAL_NODE_ID,
            address=socket.gethostname(),
            alive=True,
            cpus=float(os.cpu_count() or 1),
            cpu_percent=round(cpu_percent, 1),
            rss_mb=round(rss_mb, 1),
            models=sorted(self._models()),
            camera_ids=list(self.camera_ids),
            started_at=self.started_at,
            updated_at=now,
        )

    def placements(self) -> dict[str, Placement]:
        return {
            camera_id: Placement(
                camera_id=camera_id, node_id=LOCAL_NODE_ID, reason=SINGLE_PROCESS, assigned_at=self.started_at
            )
            for camera_id in self.camera_ids
        }
