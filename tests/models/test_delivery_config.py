"""The `delivery` section of the config: endpoints with their secret from the environment, retry settings, and
every mistake reported with its field path."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from api.cli import DEMO_CONFIG, config_secrets
from models.config import ConfigError, DeliveryConfig, parse_config

SECRET = "whsec_0123456789abcdef"
ENV = {"XUELIANG_DEMO_RTSP": "rtsp://admin:s3cret@127.0.0.1:8554", "XL_DELIVERY_SECRET": SECRET}


def with_delivery(delivery: dict[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    raw["delivery"] = copy.deepcopy(delivery)
    return raw


def endpoint(**settings: Any) -> dict[str, Any]:
    return {
        "url": "https://grid.example.gov.cn/xueliang/events?token=t0k3n",
        "secret": "${XL_DELIVERY_SECRET}",
        **settings,
    }


def test_no_delivery_section_means_no_endpoints() -> None:
    raw: dict[str, Any] = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    raw.pop("delivery", None)
    assert parse_config(raw, environ=ENV).delivery == DeliveryConfig()
    assert DeliveryConfig().endpoints == {}


def test_an_endpoint_with_its_secret_from_the_environment() -> None:
    config = parse_config(
        with_delivery({"deployment": "xihu", "endpoints": {"grid-center": endpoint()}}), environ=ENV
    )
    center = config.delivery.endpoints["grid-center"]
    assert center.secret.get_secret_value() == SECRET and SECRET not in repr(config)
    assert (center.max_attempts, center.backoff_initial_s, center.backoff_max_s, center.timeout_s) == (
        12,
        1,
        300,
        10,
    )
    assert (center.include_tests, center.enabled, center.replay_history, center.concurrency) == (
        False,
        True,
        False,
        8,
    )
    assert config.delivery.deployment == "xihu"
    # The log filter scrubs the secret and the URL (which may carry a token), wherever they would appear.
    assert {SECRET, center.url} <= set(config_secrets(config))


def test_every_field_is_described() -> None:
    from models.config import DeliveryEndpointConfig

    for model in (DeliveryConfig, DeliveryEndpointConfig):
        assert all(field.description for field in model.model_fields.values()), model


@pytest.mark.parametrize(
    ("delivery", "expected"),
    [
        (
            {"endpoints": {"c": endpoint(secrett="x")}},
            "delivery.endpoints.c.secrett: Extra inputs are not permitted",
        ),
        ({"endpointz": {}}, "delivery.endpointz: Extra inputs are not permitted"),
        (
            {"endpoints": {"c": endpoint(url="ftp://grid.example/x")}},
            "delivery.endpoints.c.url: must be an http",
        ),
        ({"endpoints": {"c": endpoint(url="https:///x")}}, "delivery.endpoints.c.url: must be an http"),
        ({"endpoints": {"c": endpoint(secret="short")}}, "delivery.endpoints.c.secret: must be at least 16"),
        ({"endpoints": {"c": {"url": "https://x.example/"}}}, "delivery.endpoints.c.secret: Field required"),
        (
            {"endpoints": {"c": endpoint(max_attempts=0)}},
            "delivery.endpoints.c.max_attempts: Input should be greater",
        ),
        (
            {"endpoints": {"c": endpoint(backoff_initial_s=10, backoff_max_s=5)}},
            "cannot be below backoff_initial_s",
        ),
        (
            {"endpoints": {"c": endpoint(timeout_s=0)}},
            "delivery.endpoints.c.timeout_s: Input should be greater",
        ),
        (
            {"endpoints": {"Grid Center": endpoint()}},
            "delivery.endpoints: endpoint name 'Grid Center' must be",
        ),
        ({"deployment": "西湖 区"}, "delivery.deployment: String should match pattern"),
        ({"poll_interval_s": 0}, "delivery.poll_interval_s: Input should be greater"),
    ],
)
def test_delivery_mistakes_name_the_field(delivery: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(with_delivery(delivery), environ=ENV)
    assert expected in str(error.value)


def test_a_missing_secret_variable_names_the_field() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(
            with_delivery({"endpoints": {"c": endpoint()}}), environ={"XUELIANG_DEMO_RTSP": "rtsp://h"}
        )
    assert "delivery.endpoints.c.secret: environment variable XL_DELIVERY_SECRET is not set" in str(
        error.value
    )


def test_heartbeat_interval_is_configurable() -> None:
    raw = with_delivery({})
    raw["server"]["websocket_heartbeat_s"] = 2.5
    assert parse_config(raw, environ=ENV).server.websocket_heartbeat_s == 2.5
    raw["server"]["websocket_heartbeat_s"] = 0
    with pytest.raises(ConfigError, match="server.websocket_heartbeat_s: Input should be greater"):
        parse_config(raw, environ=ENV)
