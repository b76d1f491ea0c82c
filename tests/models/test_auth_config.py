"""The `auth` part of the config: hashes, never passwords; operators bound to a subtree that exists."""

from __future__ import annotations

from typing import Any

import pytest

from models.config import ConfigError, parse_config
from tests.conftest import demo_raw_config

ENV = {"XUELIANG_DEMO_RTSP": "rtsp://127.0.0.1:9"}
HASH = "$argon2id$v=19$m=65536,t=3,p=4$eLh33ZaNuPyfMgdhvqh78A$Gd0WjAQmskoJ4c6/R8vYhyI5Bx3t0TlOeA1SOJwjCHE"


def with_auth(auth: dict[str, Any]) -> dict[str, Any]:
    raw = demo_raw_config()
    raw["auth"] = auth
    return raw


def test_the_demo_accounts() -> None:
    config = parse_config(demo_raw_config(), environ=ENV)

    assert {name: (u.role, u.grid) for name, u in config.auth.users.items()} == {
        "admin": ("admin", None),
        "beishan": ("operator", "330106001"),
        "lingyin": ("operator", "330106002"),
        "viewer": ("viewer", None),
    }
    assert config.auth.api_keys["incident-system"].role == "incident-system"
    assert config.auth.jwt_secret is None  # a random key at each start
    assert "admin-demo" not in str(config.auth)


@pytest.mark.parametrize(
    ("auth", "problem"),
    [
        ({"users": {"a": {"role": "admin", "password_hash": "hunter22"}}}, "auth.users.a.password_hash: must be an argon2"),
        ({"users": {"a": {"role": "operator", "password_hash": HASH}}}, "auth.users.a.grid: an operator is bound"),
        ({"users": {"a": {"role": "viewer", "password_hash": HASH, "grid": "999"}}}, "unknown grid cell '999'"),
        ({"users": {"a": {"role": "root", "password_hash": HASH}}}, "auth.users.a.role"),
        ({"users": {"a b": {"role": "admin", "password_hash": HASH}}}, "name 'a b'"),
        ({"api_keys": {"k": {"role": "incident-system", "key_sha256": "the-key"}}}, "must be 64 lowercase hex"),
        ({"jwt_secret": "short"}, "auth.jwt_secret"),
        ({"token_ttl_minutes": 0}, "auth.token_ttl_minutes"),
        ({"token_ttl_minutes": 600, "session_max_hours": 8}, "longer than session_max_hours"),
        ({"login_throttle": {"max_failures": 3}}, "auth.login_throttle.max_failures"),
        ({"login_throttle": {"lockout_s": 0}}, "auth.login_throttle.lockout_s"),
        ({"users": {"a": {"role": "admin", "password_hash": HASH, "pasword": "x"}}}, "auth.users.a.pasword"),
        (
            {"users": {"x": {"role": "admin", "password_hash": HASH}},
             "api_keys": {"x": {"role": "viewer", "key_sha256": "0" * 64}}},
            "both a user and an API key",
        ),
    ],
)
def test_auth_mistakes_name_their_field(auth: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(with_auth(auth), environ=ENV)

    assert problem in str(caught.value)


def test_the_signing_key_from_the_environment() -> None:
    config = parse_config(
        with_auth({"jwt_secret": "${XL_JWT}"}), environ={**ENV, "XL_JWT": "k" * 40}
    )

    assert config.auth.jwt_secret is not None and config.auth.jwt_secret.get_secret_value() == "k" * 40
    assert "k" * 40 not in repr(config)
