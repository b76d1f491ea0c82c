"""`cluster:` in the service config: what several processes (API replicas, pipeline nodes) share — the network
broker that carries live push messages between them and, later, the Ray cluster that places camera pipelines.
Absent: today's single process (in-process broker, any store)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from models.config.base import Strict

BROKER_SCHEMES = ("local", "redis", "rediss", "unix")
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
        description="The Ray cluster that will place camera pipelines: `auto` or ray://host:port. Optional; "
        "checked for syntax, and at `serve` start-up reached when Ray is installed. Placement is not built yet.",
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
