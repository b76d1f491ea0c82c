"""One node's camera host: a Ray actor pinned to its node that runs the cameras placed there.

It builds what a camera pipeline needs in a cluster — the PostgreSQL store of the config, the network broker
(live messages to every API replica), a push journal — and one AnalyticsService with no camera, then starts and
stops cameras as the placement controller says. The node's models are loaded once, in this process, and shared
by all its cameras."""

from __future__ import annotations

import logging
import os
from typing import Any

import psutil
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from analytics.cluster import NAMESPACE
from analytics.service import AnalyticsService
from models.brokers import RedisStreamBroker, broker_from_url
from models.config import ServiceConfig
from models.push import PushJournal
from models.repositories.cluster import NodeReport
from models.store import Store

log = logging.getLogger(__name__)


def host_name(node_id: str) -> str:
    return f"xueliang-host-{node_id}"


class CameraHost:
    def __init__(self, config: ServiceConfig, node_id: str, address: str, cpus: float) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.node_id, self.address, self.cpus = node_id, address, cpus
        self.store = Store(config.store.url.get_secret_value(), pool_size=2, max_overflow=4)
        url = config.cluster.network_broker_url() if config.cluster is not None else None
        self.broker = broker_from_url(url, message_log=self.store.push_log)
        self.journal = PushJournal(self.store, self.broker)
        self.service = AnalyticsService(config, self.journal, camera_ids=[], subscribe=self.broker.subscribe)
        self.service.start()
        self._process = psutil.Process(os.getpid())
        self._process.cpu_percent()  # the first call starts the measurement
        log.info("camera host on node %s (%s): models %s loaded", address, node_id[:8], sorted(self.service.detectors))

    def start_camera(self, camera_id: str) -> bool:
        return self.service.start_camera(camera_id)

    def stop_camera(self, camera_id: str) -> bool:
        return self.service.stop_camera(camera_id)

    def camera_ids(self) -> list[str]:
        return self.service.camera_ids

    def report(self) -> NodeReport:
        """The node's load as this process sees it: CPU (percent of one core, since the last report), RSS."""
        return NodeReport(
            node_id=self.node_id, address=self.address, cpus=self.cpus, cpu_percent=self._process.cpu_percent(),
            rss_mb=self._process.memory_info().rss / 2**20, models=sorted(self.service.detectors),
            camera_ids=self.service.camera_ids,
        )  # fmt: skip

    def shutdown(self) -> None:
        self.service.stop()
        if isinstance(self.broker, RedisStreamBroker):
            self.broker.close()
        self.store.close()


def start_host(config: ServiceConfig, node_id: str, address: str, cpus: float) -> Any:
    """The host of `node_id` (the running one, or a new one pinned there): a detached named actor, so it outlives
    a restart of the controller that made it; it dies with its node (no restart: the node is gone)."""
    actor = ray.remote(CameraHost).options(  # type: ignore[attr-defined]
        name=host_name(node_id),
        namespace=NAMESPACE,
        get_if_exists=True,
        lifetime="detached",
        num_cpus=0,
        max_restarts=0,
        max_concurrency=4,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
    )
    return actor.remote(config, node_id, address, cpus)
