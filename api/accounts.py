"""Account administration: what the `/users` and `/api-keys` routes do, apart from HTTP.

An admin bound to a subtree manages only the accounts bound inside it and grants only grids inside it; to it the
rest do not exist. The config's users and keys (the bootstrap) are listed but never changed here. Every change is
written to the audit log (never a password, hash or key).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from api import audit
from api.auth import Authenticator, Principal, new_api_key, password_hasher
from models import accounts
from models.audit import AuditAction
from models.config import AuthConfig
from models.grid import GridTree, is_in_subtree
from models.store import Store


class UnknownAccount(LookupError):
    """No such user or key, or one outside the admin's subtree."""


class ConfigAccount(Exception):
    """Defined in the config: changed there only."""


class NameTaken(Exception):
    """A user or API key with this name exists."""


class GridNotGrantable(ValueError):
    """An unknown grid cell, one outside the admin's subtree, or the whole tree asked by a subtree admin."""


@dataclass(frozen=True)
class Account:
    """A user or an API key as an admin sees it (never its password hash or key)."""

    name: str
    role: str
    grid: str | None
    source: str  # "config" or "store"
    disabled: bool = False
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None


@dataclass(frozen=True, kw_only=True)
class NewApiKey:
    account: Account
    key: str = field(repr=False)  # shown once: the store keeps its sha256


def manages(admin: Principal, grid: str | None) -> bool:
    """Whether `admin` may manage an account bound to `grid` (None: the whole tree)."""
    return admin.grid is None or (grid is not None and is_in_subtree(grid, admin.grid))


def _user(user: accounts.StoredUser) -> Account:
    return Account(
        name=user.name,
        role=user.role,
        grid=user.grid,
        source="store",
        disabled=user.disabled,
        created_at=user.created_at,
        created_by=user.created_by,
        updated_at=user.updated_at,
    )


def _key(key: accounts.StoredApiKey) -> Account:
    return Account(
        name=key.name,
        role=key.role,
        grid=key.grid,
        source="store",
        created_at=key.created_at,
        created_by=key.created_by,
        revoked_at=key.revoked_at,
        revoked_by=key.revoked_by,
    )


class AccountAdmin:
    """One admin's account administration, at `now`, from `address`."""

    def __init__(
        self,
        store: Store,
        authenticator: Authenticator,
        tree: GridTree,
        auth: AuthConfig,
        admin: Principal,
        *,
        now: datetime,
        address: str | None,
    ) -> None:
        self.store, self.authenticator, self.tree, self.auth = store, authenticator, tree, auth
        self.admin, self.now, self.address = admin, now, address

    def _check_grant(self, grid: str | None, role: str) -> None:
        if role == "operator" and grid is None:  # as in the config (ServiceConfig.verify_references)
            raise GridNotGrantable("an operator is bound to a grid subtree; give one")
        if grid is not None and (self.tree.get(grid) is None or not manages(self.admin, grid)):
            raise GridNotGrantable(f"unknown grid cell {grid!r}")
        if grid is None and self.admin.grid is not None:
            raise GridNotGrantable(
                f"grid is required: an admin of {self.admin.grid} grants only cells in its subtree"
            )

    def _audit(self, action: AuditAction, target: str, grid: str | None, details: dict[str, object] | None = None) -> None:
        audit.record(
            self.store,
            action,
            at=self.now,
            by=self.admin,
            target=target,
            grid_code=grid,
            address=self.address,
            details=details,
        )

    def _new_name(self, name: str) -> None:
        if self.authenticator.is_config_account(name):
            raise NameTaken(f"{name!r} exists (in the config)")

    # ------------------------------------------------------------------------------------------------ users

    def users(self) -> list[Account]:
        """The config's users and the store's, by name, those this admin manages."""
        out = [
            Account(name=name, role=entry.role, grid=entry.grid, source="config")
            for name, entry in self.auth.users.items()
        ]
        with self.store.database.engine.connect() as connection:
            out += [_user(user) for user in accounts.list_users(connection)]
        return sorted((a for a in out if manages(self.admin, a.grid)), key=lambda a: a.name)

    def _stored_user(self, name: str) -> accounts.StoredUser:
        if self.authenticator.is_config_account(name):
            raise ConfigAccount(f"{name!r} is defined in the config: change it there")
        with self.store.database.engine.connect() as connection:
            user = accounts.get_user(connection, name)
        if user is None or not manages(self.admin, user.grid):
            raise UnknownAccount(f"unknown user {name!r}")
        return user

    def create_user(self, name: str, password: str, role: str, grid: str | None) -> Account:
        """A user who can log in at once (argon2 takes tens of milliseconds: call it off the event loop)."""
        self._check_grant(grid, role)
        self._new_name(name)
        password_hash = password_hasher().hash(password)
        with self.store.database.side_transaction() as connection:
            if accounts.get_api_key(connection, name) is not None:
                raise NameTaken(f"{name!r} exists")
            try:
                user = accounts.create_user(
                    connection, name, password_hash=password_hash, role=role, grid=grid, by=self.admin.name,
                    now=self.now,
                )  # fmt: skip
            except accounts.AlreadyExists:
                raise NameTaken(f"{name!r} exists") from None
        self._audit(AuditAction.USER_CREATED, name, grid, {"role": role, "grid": grid})
        return _user(user)

    def change_user(self, name: str, changes: dict[str, object]) -> Account:
        """Another role or grid, disabled or enabled (disabling ends its sessions)."""
        before = self._stored_user(name)
        if "grid" in changes or "role" in changes:
            grid = changes.get("grid", before.grid)
            role = changes.get("role", before.role)
            if "grid" in changes:
                self._check_grant(grid if isinstance(grid, str) else None, str(role))
            elif role == "operator" and grid is None:
                raise GridNotGrantable("an operator is bound to a grid subtree; give one")
        with self.store.database.side_transaction() as connection:
            user = accounts.update_user(connection, name, now=self.now, **changes)
        if user is None:  # pragma: no cover - users are never deleted
            raise UnknownAccount(f"unknown user {name!r}")
        self._audit(AuditAction.USER_UPDATED, name, user.grid or before.grid, dict(sorted(changes.items())))
        return _user(user)

    def reset_password(self, name: str, password: str) -> None:
        """A new password; every session of the user ends (argon2: call it off the event loop)."""
        user = self._stored_user(name)
        password_hash = password_hasher().hash(password)
        with self.store.database.side_transaction() as connection:
            accounts.update_user(connection, name, now=self.now, password_hash=password_hash)
        self._audit(AuditAction.PASSWORD_RESET, name, user.grid)

    # --------------------------------------------------------------------------------------------- API keys

    def api_keys(self) -> list[Account]:
        """The config's keys and the store's, by name, those this admin manages (never the keys)."""
        out = [
            Account(name=name, role=entry.role, grid=entry.grid, source="config")
            for name, entry in self.auth.api_keys.items()
        ]
        with self.store.database.engine.connect() as connection:
            out += [_key(key) for key in accounts.list_api_keys(connection)]
        return sorted((a for a in out if manages(self.admin, a.grid)), key=lambda a: a.name)

    def create_api_key(self, name: str, role: str, grid: str | None) -> NewApiKey:
        self._check_grant(grid, role)
        self._new_name(name)
        issued = new_api_key()
        with self.store.database.side_transaction() as connection:
            if accounts.get_user(connection, name) is not None:
                raise NameTaken(f"{name!r} exists")
            try:
                stored = accounts.create_api_key(
                    connection, name, key_sha256=issued.key_sha256, role=role, grid=grid, by=self.admin.name, now=self.now
                )
            except accounts.AlreadyExists:
                raise NameTaken(f"{name!r} exists") from None
        self._audit(AuditAction.API_KEY_CREATED, name, grid, {"role": role, "grid": grid})
        return NewApiKey(account=_key(stored), key=issued.key)

    def revoke_api_key(self, name: str) -> Account:
        """Refused from now on, on every replica; revoking again changes nothing."""
        if self.authenticator.is_config_account(name):
            raise ConfigAccount(f"{name!r} is defined in the config: remove it there")
        with self.store.database.side_transaction() as connection:
            existing = accounts.get_api_key(connection, name)
            if existing is None or not manages(self.admin, existing.grid):
                raise UnknownAccount(f"unknown API key {name!r}")
            revoked = accounts.revoke_api_key(connection, name, by=self.admin.name, now=self.now)
        assert revoked is not None
        if existing.revoked_at is None:
            self._audit(AuditAction.API_KEY_REVOKED, name, revoked.grid)
        return _key(revoked)
