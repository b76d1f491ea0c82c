"""Credentials for the API tests: the demo config's accounts, tokens minted with the test signing key."""

from __future__ import annotations

from datetime import datetime

from api.auth import Authenticator
from models.clock import ManualClock
from models.config import ServiceConfig

# The demo config's accounts (models/demo_config.yaml; README lists them).
PASSWORDS = {"admin": "admin-demo", "beishan": "beishan-demo", "lingyin": "lingyin-demo", "viewer": "viewer-demo"}
INCIDENT_SYSTEM_KEY = "xl-demo-incident-system-key"
TEST_JWT_SECRET = "tests-only-signing-key-0123456789abcdef"


def bearer(config: ServiceConfig, user: str, at: datetime) -> dict[str, str]:
    """An Authorization header for the user, as /auth/token would issue it at `at` (no password hashing)."""
    authenticator = Authenticator(config.auth, ManualClock(at))
    principal = authenticator.user(user)
    assert principal is not None, user
    return {"Authorization": f"Bearer {authenticator.issue(principal).access_token}"}


def api_key() -> dict[str, str]:
    return {"X-API-Key": INCIDENT_SYSTEM_KEY}
