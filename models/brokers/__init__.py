"""Where live push messages travel between processes: the in-process `LocalBroker` (one box, the default) or a
network broker (`RedisStreamBroker`) that carries them between pipeline nodes and API replicas, delivered in the
store's seq order (`SeqOrderedFeed`). `broker_from_url` picks one from the config's broker URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from models.brokers.redis_streams import BrokerUnreachable, RedisStreamBroker
from models.brokers.seq_order import MessageLog, SeqOrderedFeed
from models.push import LocalBroker

LOCAL_SCHEMES = ("local",)
REDIS_SCHEMES = ("redis", "rediss", "unix")

__all__ = ["BrokerUnreachable", "LocalBroker", "MessageLog", "RedisStreamBroker", "SeqOrderedFeed",
           "broker_from_url"]


def broker_from_url(url: str | None, *, message_log: MessageLog | None = None) -> LocalBroker | RedisStreamBroker:
    """The broker a `cluster.broker_url` names: none or `local://` -> the in-process broker (single process);
    `redis://[user:password@]host:port/db[?stream=name]` (or `rediss://`, `unix://`) -> a Redis stream.

    `message_log` is the store's push log (`Store.push_log`), needed where the broker has subscribers (API replicas). The network broker is
    not contacted here: call its `check()` at start-up. A URL of another scheme is a ValueError naming it (the
    credentials left out).
    """
    if url is None or not url.strip():
        return LocalBroker()
    scheme = urlsplit(url).scheme.lower()
    if scheme in LOCAL_SCHEMES:
        return LocalBroker()
    if scheme in REDIS_SCHEMES:
        return RedisStreamBroker(url, message_log=message_log)
    known = ", ".join(f"{name}://" for name in (*LOCAL_SCHEMES, *REDIS_SCHEMES))
    raise ValueError(f"broker URL scheme {scheme + '://' if scheme else '(none)'} is not supported; use one of: "
                     f"{known}")
