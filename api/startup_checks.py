"""What `xueliang serve` checks before it starts: that the dependencies a cluster shares answer — the PostgreSQL
store, the network broker, the Ray cluster when one is named. Each failure is one line naming the dependency and
its (credential-free) address; the CLI prints it and exits non-zero."""

from __future__ import annotations

import importlib.util
import logging
import socket
from urllib.parse import urlsplit

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from ingest.redact import redact_text, url_secrets
from models.brokers import BrokerUnreachable, LocalBroker, RedisStreamBroker
from models.config import ServiceConfig

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3


class DependencyUnreachable(RuntimeError):
    """A dependency the service needs did not answer; the message names it, without credentials."""


def _first_line(error: BaseException, secrets: list[str]) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return redact_text(lines[0] if lines else type(error).__name__, secrets)


def check_store(config: ServiceConfig) -> None:
    """PostgreSQL: connect once, with a short timeout. SQLite is a local file the store creates itself."""
    raw = config.store.url.get_secret_value()
    url = make_url(raw)
    if url.get_backend_name() != "postgresql":
        return
    where = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
    engine = create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        secrets = url_secrets(raw) + [p for p in (url.password, url.username) if p]
        reason = _first_line(getattr(error, "orig", None) or error, secrets)
        raise DependencyUnreachable(f"store.url: PostgreSQL at {where} is unreachable: {reason}") from None
    finally:
        engine.dispose()


def check_broker(broker: LocalBroker | RedisStreamBroker) -> None:
    """The network broker answers a PING (the in-process broker needs nothing)."""
    if isinstance(broker, RedisStreamBroker):
        try:
            broker.check()
        except BrokerUnreachable as error:
            raise DependencyUnreachable(f"cluster.broker_url: {error}") from None


def check_ray(address: str | None) -> None:
    """`cluster.ray_address` answers, when Ray is installed (`pip install xueliang[cluster]`; without it `serve`
    fails when it joins the cluster). `ray://host:port`: a TCP connection to the Ray client server; `auto` is
    resolved by Ray itself, later."""
    if address is None:
        return
    if importlib.util.find_spec("ray") is None:
        log.warning("cluster.ray_address %s is not checked: Ray is not installed (the `cluster` extra)",
                    address)  # fmt: skip
        return
    if address == "auto":
        return
    parts = urlsplit(address)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 10001), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        raise DependencyUnreachable(f"cluster.ray_address: Ray at {address} is unreachable: {error}") from None
