"""Who may see what (分级准入授权): authentication, roles and grid scopes.

Callers are users (login name + password → a bearer JWT from `POST /auth/token`) or services (an API key in the
`X-API-Key` header). Both are declared in the config (`auth.users`, `auth.api_keys`): users with argon2 password
hashes, keys by their sha256 (a key is 32 random bytes, so a fast hash is enough and every request can be checked
cheaply). Each has a role and a grid subtree (`grid`, the whole tree when omitted):

| role            | reads                  | writes                                                          |
|-----------------|------------------------|-----------------------------------------------------------------|
| admin           | its subtree (all)      | every closed-loop step                                          |
| operator        | its subtree            | file, reject, dispatch, redispatch, check, send back, close     |
| incident-system | its subtree (all)      | every step (the incident system posts the loop's changes back)  |
| viewer          | its subtree            | none                                                            |

The steps and who may take each are `models.lifecycle.TRANSITIONS`. A token only names its user: the role and grid
are read from the config on every request, so removing a user or changing its role takes effect at once.
Everything outside a caller's subtree does not exist as far as the caller can tell (404, or "unknown grid cell").
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from models.config import AuthConfig
from models.grid import is_in_subtree
from models.lifecycle import Role

TOKEN_ISSUER = "xueliang"
TOKEN_AUDIENCE = "xueliang-api"
TOKEN_ALGORITHM = "HS256"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def password_hasher() -> PasswordHash:
    return PasswordHash((Argon2Hasher(),))


def api_key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A fresh random API key and its sha256, for the config."""
    key = "xl_" + secrets.token_urlsafe(32)
    return key, api_key_digest(key)


class OutsideScope(Exception):
    """A grid cell the caller may not see."""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str
    role: Role
    grid: str | None  # root of the subtree it may see; None = the whole tree
    kind: str  # "user" or "api_key"

    def sees(self, grid_code: str | None) -> bool:
        if self.grid is None:
            return True
        return grid_code is not None and is_in_subtree(grid_code, self.grid)

    def narrow(self, requested: str | None) -> str | None:
        """The grid filter to apply for a request asking for `requested` (None: everything the caller sees).

        Asking for an ancestor of the caller's subtree gives the subtree; asking for a cell outside it raises
        OutsideScope.
        """
        if self.grid is None:
            return requested
        if requested is None or is_in_subtree(self.grid, requested):
            return self.grid
        if is_in_subtree(requested, self.grid):
            return requested
        raise OutsideScope(requested)


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int  # seconds
    principal: Principal


class Authenticator:
    """Checks credentials against `auth` from the config; issues and verifies login tokens."""

    def __init__(self, config: AuthConfig, clock: Clock = utc_now) -> None:
        self._config = config
        self._clock = clock
        self._secret = (
            config.jwt_secret.get_secret_value() if config.jwt_secret is not None else secrets.token_urlsafe(48)
        )
        self._hasher = password_hasher()
        self._dummy_hash: str | None = None
        self._keys = [(name, entry.key_sha256.get_secret_value()) for name, entry in config.api_keys.items()]

    @property
    def random_secret(self) -> bool:
        """True when no `auth.jwt_secret` was configured and tokens are signed with a key made at start."""
        return self._config.jwt_secret is None

    def user(self, name: str) -> Principal | None:
        entry = self._config.users.get(name)
        if entry is None:
            return None
        return Principal(name=name, role=Role(entry.role), grid=entry.grid, kind="user")

    def login(self, username: str, password: str) -> IssuedToken | None:
        """A token for the user, or None for an unknown user or a wrong password (the caller cannot tell which;
        an unknown user costs one hash check too, so timing does not tell either)."""
        entry = self._config.users.get(username)
        if entry is None:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
            self._hasher.verify(password, self._dummy_hash)
            return None
        if not self._hasher.verify(password, entry.password_hash.get_secret_value()):
            return None
        principal = self.user(username)
        assert principal is not None
        return self.issue(principal)

    def issue(self, principal: Principal, now: datetime | None = None) -> IssuedToken:
        now = now or self._clock()
        ttl = timedelta(minutes=self._config.token_ttl_minutes)
        claims: dict[str, Any] = {
            "sub": principal.name,
            "role": principal.role.value,  # informative; the config decides
            "iss": TOKEN_ISSUER,
            "aud": TOKEN_AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self._secret, algorithm=TOKEN_ALGORITHM)
        return IssuedToken(token, int(ttl.total_seconds()), principal)

    def from_token(self, token: str) -> Principal | None:
        """The user a valid, unexpired token names, if the user still exists."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[TOKEN_ALGORITHM],
                audience=TOKEN_AUDIENCE,
                issuer=TOKEN_ISSUER,
                # expiry is checked below against the injected clock
                options={"require": ["exp", "iat", "sub"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return None
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= self._clock().timestamp():
            return None
        subject = claims.get("sub")
        return self.user(subject) if isinstance(subject, str) else None

    def from_api_key(self, key: str) -> Principal | None:
        digest = api_key_digest(key)
        found = None
        for name, expected in self._keys:  # compare against every key, in constant time each
            if hmac.compare_digest(digest, expected):
                found = name
        if found is None:
            return None
        entry = self._config.api_keys[found]
        return Principal(name=found, role=Role(entry.role), grid=entry.grid, kind="api_key")
