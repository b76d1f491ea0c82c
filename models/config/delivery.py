"""`delivery:` in the service config: incident changes delivered to the incident system's endpoints."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator, model_validator

from models.config.base import Strict

ENDPOINT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MIN_SECRET_LENGTH = 16


class DeliveryEndpointConfig(Strict):
    url: str = Field(
        description="Where events are POSTed (http:// or https://). Never logged or returned: logs and the "
        "delivery routes name the endpoint instead."
    )
    secret: SecretStr = Field(
        description=f"HMAC-SHA256 key that signs every request (at least {MIN_SECRET_LENGTH} characters). A secret: "
        "write ${ENV_VAR} to take it from the environment; never logged or returned."
    )
    enabled: bool = Field(default=True, description="Deliver to this endpoint. Its undelivered changes wait.")
    include_tests: bool = Field(
        default=False, description="Also deliver incidents raised by replays and tests (is_test); left out when false."
    )
    max_attempts: int = Field(
        default=12, ge=1, description="Attempts (the first included) before a change is dead-lettered."
    )
    backoff_initial_s: float = Field(
        default=1.0, gt=0, description="Retry delay after the first failure; it doubles per attempt, with full jitter."
    )
    backoff_max_s: float = Field(default=300.0, gt=0, description="Cap of the exponential retry delay.")
    timeout_s: float = Field(
        default=10.0, gt=0, description="A request (connect, send, response) taking longer than this fails."
    )
    concurrency: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Requests in flight at once, each for a different incident; one incident's changes are always "
        "sent one after another.",
    )
    replay_history: bool = Field(
        default=False,
        description="The first time the service runs with this endpoint, also deliver the changes already in the "
        "outbox; otherwise the endpoint starts with the next change.",
    )

    @field_validator("url")
    @classmethod
    def verify_http_url(cls, url: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return url

    @field_validator("secret")
    @classmethod
    def verify_secret_length(cls, secret: SecretStr) -> SecretStr:
        if len(secret.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return secret

    @model_validator(mode="after")
    def verify_backoff(self) -> DeliveryEndpointConfig:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError(
                f"backoff_max_s ({self.backoff_max_s}) cannot be below backoff_initial_s ({self.backoff_initial_s})"
            )
        return self


class DeliveryConfig(Strict):
    deployment: str = Field(
        default="default",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Name of this deployment in each event's CloudEvents `source` "
        "(urn:xueliang:<deployment>/cameras/<camera_id>); keep it stable: source + id identify an event.",
    )
    poll_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the worker looks for due retries; new changes are picked up at once.",
    )
    retain_delivered_days: float = Field(
        default=30.0,
        gt=0,
        description="Changes older than this that every configured endpoint has received (or that no endpoint "
        "takes) are removed from the outbox, with their delivery records, once an hour. Pending changes and dead "
        "letters are kept whatever their age. The incidents themselves are never removed.",
    )
    endpoints: dict[str, DeliveryEndpointConfig] = Field(
        default_factory=dict,
        description="Incident-system endpoints by name (lower-case letters, digits, _ and -). Each receives every "
        "incident change, retried independently of the others.",
    )

    @field_validator("endpoints")
    @classmethod
    def verify_endpoint_names(cls, endpoints: dict[str, DeliveryEndpointConfig]) -> dict[str, DeliveryEndpointConfig]:
        for name in endpoints:
            if not ENDPOINT_NAME.match(name):
                raise ValueError(f"endpoint name {name!r} must be lower-case letters, digits, _ and -")
        return endpoints
