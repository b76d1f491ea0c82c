"""`cluster:` in the service config: what several processes (API replicas, pipeline nodes) share — the network
broker that carries live push messages between them and the Ray cluster that places camera pipelines on its nodes
(analytics/cluster). Absent: today's single process (in-process broker, any store)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from models.config.base import Strict

BROKER_SCHEMES = ("local", "redis", "rediss", "unix")
# A busy SD camera (768x576, people/fire models at 640 px, 2 fps analysed) costs 0.227 cores, measured:
# bench/scale/results/capacity.json `per_camera.busy_sd` (from bench/speed/results/rerun-2026-11-29/pipeline.json).
BUSY_SD_CAMERA_CPUS = 0.23

# `auto` (join the Ray cluster this node belongs to) or ray://host:port (a Ray client address).
RAY_ADDRESS = re.compile(r"^(auto|ray://[A-Za-z0-9_.-]+:[0-9]{1,5})$")


class ClusterConfig(Strict):
    broker_url: SecretStr | None = Field(
        default=None,
        description="Where live push messages travel between processes: redis://[user:password@]host:port/db "
        "(or rediss://, unix://), a secret (write `${ENV_NAME}`); local:// or absent: in-process (one box).",
    )
    ray_address: str | None = Field(
        default=None,
        description="The Ray cluster whose nodes run the camera pipelines: `auto` (the cluster this machine "
        "belongs to; RAY_ADDRESS or the local `ray start`) or ray://host:port (a Ray client address). Set: `serve` "
        "(without --api-only) runs no camera itself, it makes sure the placement controller runs on the cluster and "
        "serves the API; absent: the cameras run in the serving process.",
    )
    camera_cpus: float = Field(
        default=BUSY_SD_CAMERA_CPUS,
        gt=0,
        le=64,
        description="CPU cores one camera pipeline costs, for placement: a node takes cameras up to "
        "`node_cpu_share` of its CPUs. Default 0.23: a busy SD camera at 2 fps, measured "
        "(bench/scale/results/capacity.json per_camera.busy_sd); 1080p cameras cost more (0.66 at 640 px, 3.6 at "
        "`image_size: auto`).",
    )
    node_cpu_share: float = Field(
        default=0.75,
        gt=0,
        le=1,
        description="Share of a node's CPUs the placement fills with cameras (the rest: decoding bursts, the host).",
    )
    reconcile_s: float = Field(
        default=2.0,
        ge=0.2,
        le=60,
        description="How often the placement controller looks at the Ray nodes: reports their load, moves the "
        "cameras of a lost node, places unplaced cameras.",
    )

    @field_validator("broker_url")
    @classmethod
    def verify_broker_scheme(cls, url: SecretStr | None) -> SecretStr | None:
        if url is None:
            return None
        scheme = urlsplit(url.get_secret_value().strip()).scheme.lower()
        if scheme not in BROKER_SCHEMES:
            shown = f"{scheme}://" if scheme else "(none)"
            known = ", ".join(f"{name}://" for name in BROKER_SCHEMES)
            raise ValueError(f"broker URL scheme {shown} is not supported; use one of: {known}")
        return url

    @field_validator("ray_address")
    @classmethod
    def verify_ray_address(cls, address: str | None) -> str | None:
        if address is not None and not RAY_ADDRESS.match(address):
            raise ValueError(f"{address!r} is not a Ray address: give `auto` or ray://host:port")
        if address is not None and address.startswith("ray://") and not 0 < int(address.rsplit(":", 1)[1]) < 65536:
            raise ValueError(f"{address!r}: the port must be 1-65535")
        return address

    def network_broker_url(self) -> str | None:
        """The broker URL when it names a network broker; None for the in-process one."""
        if self.broker_url is None:
            return None
        url = self.broker_url.get_secret_value().strip()
        return None if urlsplit(url).scheme.lower() == "local" else url
