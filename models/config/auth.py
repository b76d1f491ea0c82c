"""`auth:` and `audit:` in the service config: who may see what (分级准入授权), and how long the audit log is kept."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from models.config.base import SLUG_ID, Strict

RoleName = Literal["admin", "operator", "incident-system", "viewer"]


class UserConfig(Strict):
    password_hash: SecretStr = Field(
        description="argon2 hash of the password (`xueliang hash-password`); never a plain password."
    )
    role: RoleName = Field(description="admin, operator (bound to a grid subtree) or viewer.")
    grid: str | None = Field(
        default=None, description="Root of the grid subtree this user may see; the whole tree when omitted."
    )

    @field_validator("password_hash")
    @classmethod
    def verify_is_a_hash(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("$argon2"):
            raise ValueError("must be an argon2 hash (make one with `xueliang hash-password`), not a password")
        return value


class ApiKeyConfig(Strict):
    key_sha256: SecretStr = Field(
        description="sha256 (hex) of the key sent in the X-API-Key header (`xueliang new-api-key` makes both)."
    )
    role: RoleName = Field(description="Usually incident-system (a service); any role is allowed.")
    grid: str | None = Field(
        default=None, description="Root of the grid subtree this key may see; the whole tree when omitted."
    )

    @field_validator("key_sha256")
    @classmethod
    def verify_is_a_digest(cls, value: SecretStr) -> SecretStr:
        if not re.fullmatch(r"[0-9a-f]{64}", value.get_secret_value()):
            raise ValueError("must be 64 lowercase hex digits: the sha256 of the key, not the key")
        return value


class LoginThrottleConfig(Strict):
    enabled: bool = Field(
        default=True, description="Lock out a user name or a client address after repeated failed logins."
    )
    max_failures_per_user: int = Field(
        default=5,
        ge=1,
        description="Failed logins in a row under one user name (known or not) that lock that name out.",
    )
    max_failures_per_address: int = Field(
        default=20,
        ge=1,
        description="Failed logins in a row from one client address (any user names) that lock the address out. "
        "Higher than per user: an office behind one NAT address shares it.",
    )
    lockout_s: float = Field(
        default=60, gt=0, description="First lockout; each failure after a lockout doubles it."
    )
    max_lockout_s: float = Field(default=3600, gt=0, description="Longest lockout.")
    window_s: float = Field(
        default=900,
        gt=0,
        description="Failures are forgotten when none came for this long (after the last failure or lockout).",
    )


class AuthConfig(Strict):
    jwt_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Key that signs login tokens (HS256), at least 32 characters; write ${ENV_VAR}. When "
        "omitted, a random key is made at each start (tokens then die with the process and are not shared by "
        "several API replicas).",
    )
    token_ttl_minutes: float = Field(
        default=60,
        gt=0,
        le=7 * 24 * 60,
        description="Lifetime of a login token; `POST /auth/refresh` renews it (the console does, before expiry).",
    )
    session_max_hours: float = Field(
        default=16,
        gt=0,
        le=31 * 24,
        description="How long one login may be renewed by `POST /auth/refresh` before the password is asked again "
        "(a 12-hour shift with handover to spare).",
    )
    login_throttle: LoginThrottleConfig = Field(
        default_factory=LoginThrottleConfig,
        description="Password-guessing protection on `POST /auth/token` (counters kept in the store, shared by "
        "every API replica).",
    )
    users: dict[str, UserConfig] = Field(default_factory=dict, description="Users by login name.")
    api_keys: dict[str, ApiKeyConfig] = Field(default_factory=dict, description="Service API keys by name.")

    @field_validator("users", "api_keys")
    @classmethod
    def verify_names(cls, entries: dict[str, Any]) -> dict[str, Any]:
        for name in entries:
            if not SLUG_ID.match(name):
                raise ValueError(f"name {name!r} must be letters, digits, _ . - (at most 64)")
        return entries

    @model_validator(mode="after")
    def verify_token_fits_session(self) -> AuthConfig:
        if self.token_ttl_minutes > self.session_max_hours * 60:
            raise ValueError(
                f"token_ttl_minutes ({self.token_ttl_minutes:g}) is longer than session_max_hours "
                f"({self.session_max_hours:g} h): a token never outlives its session; raise session_max_hours"
            )
        return self

    @model_validator(mode="after")
    def verify_unique_names(self) -> AuthConfig:
        both = set(self.users) & set(self.api_keys)
        if both:
            raise ValueError(f"names used for both a user and an API key: {sorted(both)}")
        return self


class AuditConfig(Strict):
    retention_days: float = Field(
        default=400,
        gt=0,
        description="Audit log events older than this are removed (at start, then hourly); a year and a bit by "
        "default, for yearly reviews.",
    )
