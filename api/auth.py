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

The config's users and keys are the bootstrap. Admins add more at run time (`/users`, `/api-keys`); those live in
the store (`models.accounts`), so every API replica sees them, and a disabled user, a reset password or a revoked
key is refused at once everywhere. A login is a session (`sid` in its tokens): `POST /auth/refresh` renews the
token within `auth.session_max_hours`, `POST /auth/logout` revokes the session (every token of it).

Password guessing: every attempt is counted per user name and per client address in the store before its password
is checked (`models.accounts.admit_login`), so several replicas share the counters and concurrent guesses cannot
overtake the count; past `auth.login_throttle`'s limits the name or address is locked out, the lockout doubling with
each further failure. The `limits` library was not used: its storages are memory, Redis, Memcached and MongoDB, and
the service's shared state is its SQL store.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from models import accounts
from models.accounts import ThrottleEntry, ThrottleKind, ThrottlePolicy
from models.clock import SYSTEM_CLOCK, Clock
from models.config import AuthConfig
from models.grid import is_in_subtree
from models.lifecycle import Role
from models.store import Store

TOKEN_ISSUER = "xueliang"
TOKEN_AUDIENCE = "xueliang-api"
TOKEN_ALGORITHM = "HS256"

def password_hasher() -> PasswordHash:
    return PasswordHash((Argon2Hasher(),))


def api_key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedApiKey:
    """A fresh API key: the key itself (shown once, to whoever asked; never in a repr or log) and its sha256 (what
    the config or the store keeps)."""

    key: str = field(repr=False)
    key_sha256: str


def new_api_key() -> IssuedApiKey:
    """A fresh random API key and its sha256, for the config."""
    key = "xl_" + secrets.token_urlsafe(32)
    return IssuedApiKey(key=key, key_sha256=api_key_digest(key))


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
    session_expires_at: datetime  # the last moment `POST /auth/refresh` can renew this login


@dataclass(frozen=True)
class VerifiedToken:
    """A valid token of a live session."""

    principal: Principal
    sid: str
    auth_time: datetime  # when the password was checked
    expires_at: datetime


@dataclass(frozen=True)
class LoginResult:
    """What a login attempt came to. `issued` on success; `retry_after_s` when it was refused unchecked (a locked
    out user name or address); `locked` the keys this failed attempt locked out; `user` the account the name
    belongs to, if any (for the audit log's grid)."""

    issued: IssuedToken | None
    retry_after_s: int | None
    locked: list[ThrottleEntry]
    user: Principal | None


class Authenticator:
    """Checks credentials against `auth` from the config and, given a store, the accounts in it; issues,
    renews and revokes login tokens; throttles password guessing."""

    def __init__(self, config: AuthConfig, clock: Clock = SYSTEM_CLOCK, store: Store | None = None) -> None:
        self._config = config
        self._clock = clock
        self._store = store
        self._secret = (
            config.jwt_secret.get_secret_value() if config.jwt_secret is not None else secrets.token_urlsafe(48)
        )
        self._hasher = password_hasher()
        self._dummy_hash: str | None = None
        self._keys = [(name, entry.key_sha256.get_secret_value()) for name, entry in config.api_keys.items()]
        throttle = config.login_throttle

        def policy(max_failures: int) -> ThrottlePolicy:
            return ThrottlePolicy(
                max_failures=max_failures,
                lockout=timedelta(seconds=throttle.lockout_s),
                max_lockout=timedelta(seconds=throttle.max_lockout_s),
                window=timedelta(seconds=throttle.window_s),
            )

        self.policies = {
            ThrottleKind.USER: policy(throttle.max_failures_per_user),
            ThrottleKind.ADDRESS: policy(throttle.max_failures_per_address),
        }

    @property
    def random_secret(self) -> bool:
        """True when no `auth.jwt_secret` was configured and tokens are signed with a key made at start."""
        return self._config.jwt_secret is None

    @property
    def session_max(self) -> timedelta:
        return timedelta(hours=self._config.session_max_hours)

    def is_config_account(self, name: str) -> bool:
        """A user or key from the config (the bootstrap): the API cannot change it."""
        return name in self._config.users or name in self._config.api_keys

    def _stored_user(self, name: str) -> accounts.StoredUser | None:
        if self._store is None:
            return None
        with self._store.database.engine.connect() as connection:
            return accounts.get_user(connection, name)

    def user(self, name: str, *, issued_at: float | None = None) -> Principal | None:
        """The user `name` as it stands now: from the config, else from the store (not disabled, and, given a
        token's `issued_at`, not issued before the user's password was reset or the user disabled)."""
        entry = self._config.users.get(name)
        if entry is not None:
            return Principal(name=name, role=Role(entry.role), grid=entry.grid, kind="user")
        stored = self._stored_user(name)
        if stored is None or stored.disabled:
            return None
        if issued_at is not None and issued_at < stored.tokens_valid_after.timestamp():
            return None
        return Principal(name=name, role=Role(stored.role), grid=stored.grid, kind="user")

    def _password_hash(self, username: str) -> str | None:
        entry = self._config.users.get(username)
        if entry is not None:
            return entry.password_hash.get_secret_value()
        stored = self._stored_user(username)
        return stored.password_hash if stored is not None and not stored.disabled else None

    def _check_password(self, username: str, password: str) -> Principal | None:
        """The user, if the password is right. An unknown user costs one hash check too, so timing does not tell
        an unknown name from a wrong password."""
        expected = self._password_hash(username)
        if expected is None:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
            self._hasher.verify(password, self._dummy_hash)
            return None
        if not self._hasher.verify(password, expected):
            return None
        return self.user(username)

    def login(self, username: str, password: str, address: str | None = None) -> LoginResult:
        """Check a login attempt from `address` (the client's IP), throttled when a store is given; the caller
        cannot tell an unknown user from a wrong password."""
        now = self._clock.now()
        throttled = self._store is not None and self._config.login_throttle.enabled
        locked: list[ThrottleEntry] = []
        if throttled:
            assert self._store is not None
            keys = accounts.throttle_keys(username, address)
            with self._store.database.side_transaction() as connection:
                admission = accounts.admit_login(connection, keys, self.policies, now=now)
            if not admission.admitted:
                assert admission.retry_after is not None
                wait = max(1, math.ceil(admission.retry_after.total_seconds()))
                return LoginResult(None, wait, [], self.user(username))
            locked = admission.locked
        principal = self._check_password(username, password)
        if principal is None:
            return LoginResult(None, None, locked, self.user(username))
        if throttled:
            assert self._store is not None
            with self._store.database.side_transaction() as connection:
                accounts.login_succeeded(connection, username, address, self.policies[ThrottleKind.ADDRESS])
        return LoginResult(self.issue(principal, now), None, [], principal)

    def issue(
        self,
        principal: Principal,
        now: datetime | None = None,
        *,
        sid: str | None = None,
        auth_time: datetime | None = None,
    ) -> IssuedToken:
        """A token for the user: a new session, or (`sid`, `auth_time` given) a renewal of one. It never outlives
        its session (`auth.session_max_hours` after the password was checked)."""
        now = now or self._clock.now()
        auth_time = auth_time or now
        session_end = auth_time + self.session_max
        expires = min(now + timedelta(minutes=self._config.token_ttl_minutes), session_end)
        claims: dict[str, Any] = {
            "sub": principal.name,
            "role": principal.role.value,  # informative; the config or the store decides
            "iss": TOKEN_ISSUER,
            "aud": TOKEN_AUDIENCE,
            "iat": now.timestamp(),
            "exp": expires.timestamp(),
            "jti": uuid.uuid4().hex,
            "sid": sid or uuid.uuid4().hex,
            "auth_time": auth_time.timestamp(),
        }
        token = jwt.encode(claims, self._secret, algorithm=TOKEN_ALGORITHM)
        return IssuedToken(token, max(0, int((expires - now).total_seconds())), principal, session_end)

    def verify(self, token: str, *, check_expiry: bool = True) -> VerifiedToken | None:
        """The token's user and session, if the token is valid and unexpired, its session not revoked and its
        user still allowed in. `check_expiry=False`: whether the login still holds, however old the token (an
        open websocket outlives the token it connected with, and ends with its login)."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[TOKEN_ALGORITHM],
                audience=TOKEN_AUDIENCE,
                issuer=TOKEN_ISSUER,
                # expiry is checked below against the injected clock
                options={
                    "require": ["exp", "iat", "sub", "sid", "auth_time"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            return None
        exp, iat, auth_time = claims.get("exp"), claims.get("iat"), claims.get("auth_time")
        subject, sid = claims.get("sub"), claims.get("sid")
        numbers = (exp, iat, auth_time)
        if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
            return None
        if not isinstance(subject, str) or not isinstance(sid, str):
            return None
        assert isinstance(exp, int | float) and isinstance(iat, int | float) and isinstance(auth_time, int | float)
        if check_expiry and exp <= self._clock.now().timestamp():
            return None
        if self._store is not None:
            with self._store.database.engine.connect() as connection:
                if accounts.session_revoked(connection, sid):
                    return None
        principal = self.user(subject, issued_at=iat)
        if principal is None:
            return None
        try:
            when = datetime.fromtimestamp(auth_time, UTC)
            expires_at = datetime.fromtimestamp(exp, UTC)
        except (OverflowError, OSError, ValueError):
            return None
        return VerifiedToken(principal, sid, when, expires_at)

    def from_token(self, token: str) -> Principal | None:
        """The user a valid, unexpired token of a live session names, if the user still exists."""
        verified = self.verify(token)
        return verified.principal if verified is not None else None

    def refresh(self, token: str) -> IssuedToken | None:
        """A fresh token of the same session (sliding renewal), or None when the token is not valid or the
        session has reached `auth.session_max_hours`."""
        verified = self.verify(token)
        if verified is None:
            return None
        now = self._clock.now()
        if now >= verified.auth_time + self.session_max:
            return None
        return self.issue(verified.principal, now, sid=verified.sid, auth_time=verified.auth_time)

    def logout(self, token: str) -> VerifiedToken | None:
        """Revoke the token's session: it and every other token of that login are refused from now on (on every
        replica: the revocation is in the store). None when the token is not valid (nothing to revoke)."""
        verified = self.verify(token)
        if verified is None or self._store is None:
            return verified
        # The row may go once no token of the session could be valid any more.
        forget_after = verified.auth_time + self.session_max + timedelta(minutes=1)
        with self._store.database.side_transaction() as connection:
            accounts.revoke_session(connection, verified.sid, now=self._clock.now(), forget_after=forget_after)
        return verified

    def from_api_key(self, key: str) -> Principal | None:
        digest = api_key_digest(key)
        found = None
        for name, expected in self._keys:  # compare against every key, in constant time each
            if hmac.compare_digest(digest, expected):
                found = name
        if found is not None:
            entry = self._config.api_keys[found]
            return Principal(name=found, role=Role(entry.role), grid=entry.grid, kind="api_key")
        if self._store is None:
            return None
        # Looked up by its sha256 (an index): a key is 32 random bytes, so timing cannot help guess one.
        with self._store.database.engine.connect() as connection:
            stored = accounts.api_key_by_digest(connection, digest)
        if stored is None:
            return None
        return Principal(name=stored.name, role=Role(stored.role), grid=stored.grid, kind="api_key")
