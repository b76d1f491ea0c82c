"""The `cluster` section of the config: the broker URL as a secret from the environment, the Ray address checked for
syntax, a PostgreSQL store required, the per-replica pool size; every mistake named by its field path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.cli import DEMO_CONFIG, config_secrets
from models.config import ConfigError, parse_config
from models.db import make_engine

PG_URL = "postgresql+psycopg://xl:pg-s3cret@db.internal:5432/xueliang"
ENV = {"XUELIANG_DEMO_RTSP": "rtsp://127.0.0.1:8554", "XL_BROKER_URL": "redis://:br0ker-pw@redis.internal:6379/0",
       "XL_STORE_URL": PG_URL}  # fmt: skip


def with_cluster(cluster: dict[str, Any] | None, store_url: str = "${XL_STORE_URL}", **store: Any) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    raw["store"] = {"url": store_url, **store}
    if cluster is not None:
        raw["cluster"] = copy.deepcopy(cluster)
    return raw


def problems(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, environ=ENV)
    return str(caught.value)


def test_no_cluster_section_is_one_process_with_any_store() -> None:
    config = parse_config(with_cluster(None, "sqlite:///x.db"), environ=ENV)
    assert config.cluster is None


def test_a_cluster_with_its_broker_url_from_the_environment() -> None:
    config = parse_config(with_cluster({"broker_url": "${XL_BROKER_URL}", "ray_address": "ray://head:10001"}),
                          environ=ENV)  # fmt: skip
    assert config.cluster is not None
    assert config.cluster.network_broker_url() == ENV["XL_BROKER_URL"]
    assert config.cluster.ray_address == "ray://head:10001"
    assert "br0ker-pw" not in repr(config) and "br0ker-pw" not in str(config.model_dump())
    assert "br0ker-pw" in config_secrets(config)  # scrubbed from the logs


@pytest.mark.parametrize("broker_url", [None, "local://"])
def test_local_or_no_broker_is_the_in_process_one(broker_url: str | None) -> None:
    config = parse_config(with_cluster({"broker_url": broker_url, "ray_address": "auto"}), environ=ENV)
    assert config.cluster is not None and config.cluster.network_broker_url() is None


def test_a_cluster_needs_postgresql_and_says_why() -> None:
    message = problems(with_cluster({"broker_url": "${XL_BROKER_URL}"}, "sqlite:///xueliang-data/x.db"))
    assert "store.url" in message and "PostgreSQL" in message and "SQLite cannot be shared" in message


@pytest.mark.parametrize(
    ("cluster", "field", "words"),
    [
        ({"broker_url": "amqp://u:amqp-pw@mq:5672/"}, "cluster.broker_url", "amqp://"),
        ({"broker_url": "redis.internal:6379"}, "cluster.broker_url", "not supported"),
        ({"ray_address": "head:10001"}, "cluster.ray_address", "ray://host:port"),
        ({"ray_address": "ray://head"}, "cluster.ray_address", "ray://host:port"),
        ({"ray_address": "ray://head:70000"}, "cluster.ray_address", "1-65535"),
        ({"brokers": "redis://r:6379"}, "cluster.brokers", "Extra inputs"),
        ({"camera_cpus": 0}, "cluster.camera_cpus", "greater than 0"),
        ({"node_cpu_share": 1.5}, "cluster.node_cpu_share", "less than or equal to 1"),
        ({"reconcile_s": 0.01}, "cluster.reconcile_s", "greater than or equal to 0.2"),
    ],
)
def test_mistakes_name_the_field(cluster: dict[str, Any], field: str, words: str) -> None:
    message = problems(with_cluster(cluster))
    assert f"{field}:" in message and words in message
    assert "amqp-pw" not in message


def test_placement_defaults_come_from_the_measured_camera_cost() -> None:
    config = parse_config(with_cluster({"ray_address": "auto"}), environ=ENV)
    assert config.cluster is not None
    # bench/scale/results/capacity.json per_camera.busy_sd: 0.227 cores; a 2-core node takes 6 such cameras
    assert (config.cluster.camera_cpus, config.cluster.node_cpu_share, config.cluster.reconcile_s) == (0.23, 0.75, 2.0)


@pytest.mark.parametrize(("store", "field"), [({"pool_size": 0}, "store.pool_size"),
                                              ({"max_overflow": -1}, "store.max_overflow")])  # fmt: skip
def test_pool_bounds_name_the_field(store: dict[str, Any], field: str) -> None:
    assert f"{field}:" in problems(with_cluster(None, **store))


def test_the_pool_size_is_applied_to_the_postgresql_engine() -> None:
    config = parse_config(with_cluster({}, pool_size=3, max_overflow=2), environ=ENV)
    engine = make_engine(config.store.url.get_secret_value(), pool_size=config.store.pool_size,
                         max_overflow=config.store.max_overflow)  # fmt: skip
    try:
        assert (engine.pool.size(), engine.pool._max_overflow) == (3, 2)  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_check_config_prints_the_cluster_without_the_broker_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.cli import main

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "cluster.yaml"
    raw = with_cluster({"broker_url": "${XL_BROKER_URL}", "ray_address": "auto"}, pool_size=4, max_overflow=2)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")

    assert main(["check-config", str(path)]) == 0

    out = capsys.readouterr().out
    assert "  cluster: broker redis://***@redis.internal:6379/0, Ray at auto, PostgreSQL pool 4+2" in out
    assert "br0ker-pw" not in out and "pg-s3cret" not in out
