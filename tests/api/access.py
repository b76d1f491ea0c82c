"""Credentials for the API tests: the demo config's accounts, tokens minted with the test signing key, and a clock
the tests move by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

from api.auth import Authenticator
from models.config import ServiceConfig

# The demo config's accounts (models/demo_config.yaml; README lists them).
PASSWORDS = {"admin": "admin-demo", "beishan": "beishan-demo", "lingyin": "lingyin-demo", "viewer": "viewer-demo"}
INCIDENT_SYSTEM_KEY = "xl-demo-incident-system-key"
TEST_JWT_SECRET = "tests-only-signing-key-0123456789abcdef"


class FakeClock:
    """The service's clock in tests: stands still until moved."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


def bearer(config: ServiceConfig, user: str, at: datetime) -> dict[str, str]:
    """An Authorization header for the user, as /auth/token would issue it at `at` (no password hashing)."""
    authenticator = Authenticator(config.auth, lambda: at)
    principal = authenticator.user(user)
    assert principal is not None, user
    return {"Authorization": f"Bearer {authenticator.issue(principal).access_token}"}


def api_key() -> dict[str, str]:
    return {"X-API-Key": INCIDENT_SYSTEM_KEY}
