"""Service API keys kept in the store, for admins: create (the key is shown once, in the answer), list, revoke.

Only a key's sha256 is stored. The config's `auth.api_keys` are the bootstrap: listed (`source: config`), changed
in the config only. An admin bound to a subtree manages only keys bound inside it (see api/routes/users.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field

from api import audit
from api.auth import new_api_key
from api.deps import AddressDep, AdminDep, AuthenticatorDep, ConfigDep, GridTreeDep, NowDep, StoreDep
from api.routes.users import ADMIN_ERRORS, BAD_BODY, AccountName, RoleName, check_grant, manages
from api.schemas import ErrorOut
from models import accounts
from models.audit import AuditAction
from models.config import SLUG_ID

router = APIRouter(prefix="/api-keys", tags=["api keys"])

NamePath = Annotated[str, Path(pattern=SLUG_ID.pattern, description="The key's name.")]


class ApiKeyOut(BaseModel):
    name: str
    role: RoleName
    grid: str | None = Field(description="Root of the grid subtree the key may see; null for the whole tree.")
    source: Literal["config", "store"] = Field(description="config: the bootstrap keys, changed in the config only.")
    created_at: datetime | None
    created_by: str | None
    revoked_at: datetime | None = Field(description="Set: the key is refused.")
    revoked_by: str | None


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(
        description="The key, for the X-API-Key header. Shown this once: the service keeps only its sha256."
    )


class ApiKeyCreate(BaseModel):
    model_config = {"extra": "forbid"}

    name: AccountName = Field(description="Letters, digits, _ . - (at most 64); shown in logs and the audit log.")
    role: RoleName = Field(description="Usually incident-system.")
    grid: str | None = Field(default=None, description="Root of the grid subtree; omitted: the whole tree.")


def _key_out(key: accounts.StoredApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        name=key.name,
        role=key.role,  # type: ignore[arg-type]
        grid=key.grid,
        source="store",
        created_at=key.created_at,
        created_by=key.created_by,
        revoked_at=key.revoked_at,
        revoked_by=key.revoked_by,
    )


@router.get("", response_model=list[ApiKeyOut], responses=ADMIN_ERRORS)
def list_keys(admin: AdminDep, store: StoreDep, config: ConfigDep) -> list[ApiKeyOut]:
    """The keys this admin manages, by name (never the keys themselves)."""
    out = [
        ApiKeyOut(
            name=name,
            role=entry.role,
            grid=entry.grid,
            source="config",
            created_at=None,
            created_by=None,
            revoked_at=None,
            revoked_by=None,
        )
        for name, entry in config.auth.api_keys.items()
        if manages(admin, entry.grid)
    ]
    with store.engine.connect() as connection:
        out += [_key_out(k) for k in accounts.list_api_keys(connection) if manages(admin, k.grid)]
    return sorted(out, key=lambda k: k.name)


@router.post(
    "",
    status_code=201,
    response_model=NewApiKeyOut,
    responses={
        **BAD_BODY,
        **ADMIN_ERRORS,
        409: {"model": ErrorOut, "description": "A user or API key with this name exists"},
    },
)
def create_key(
    body: ApiKeyCreate,
    admin: AdminDep,
    store: StoreDep,
    tree: GridTreeDep,
    authenticator: AuthenticatorDep,
    now: NowDep,
    address: AddressDep,
) -> NewApiKeyOut:
    """A new random key; the answer is the only place it is ever shown."""
    check_grant(admin, tree, body.grid)
    if authenticator.is_config_account(body.name):
        raise HTTPException(409, f"{body.name!r} exists (in the config)")
    key, digest = new_api_key()
    try:
        with store.side_transaction() as connection:
            if accounts.get_user(connection, body.name) is not None:
                raise accounts.AlreadyExists(body.name)
            stored = accounts.create_api_key(
                connection, body.name, key_sha256=digest, role=body.role, grid=body.grid, by=admin.name, now=now
            )
    except accounts.AlreadyExists:
        raise HTTPException(409, f"{body.name!r} exists") from None
    audit.record(
        store,
        AuditAction.API_KEY_CREATED,
        at=now,
        by=admin,
        target=stored.name,
        grid_code=stored.grid,
        address=address,
        details={"role": stored.role, "grid": stored.grid},
    )
    return NewApiKeyOut(**_key_out(stored).model_dump(), key=key)


@router.delete(
    "/{name}",
    response_model=ApiKeyOut,
    responses={
        **ADMIN_ERRORS,
        404: {"model": ErrorOut, "description": "No such key (or one outside the admin's subtree)"},
        409: {"model": ErrorOut, "description": "Defined in the config: remove it there"},
    },
)
def revoke_key(
    name: NamePath,
    admin: AdminDep,
    store: StoreDep,
    authenticator: AuthenticatorDep,
    now: NowDep,
    address: AddressDep,
) -> ApiKeyOut:
    """Revoke the key: refused from now on, on every API replica. Revoking it again changes nothing."""
    if authenticator.is_config_account(name):
        raise HTTPException(409, f"{name!r} is defined in the config: remove it there")
    with store.side_transaction() as connection:
        existing = accounts.get_api_key(connection, name)
        if existing is None or not manages(admin, existing.grid):
            raise HTTPException(404, f"unknown API key {name!r}")
        revoked = accounts.revoke_api_key(connection, name, by=admin.name, now=now)
    assert revoked is not None
    if existing.revoked_at is None:
        audit.record(
            store, AuditAction.API_KEY_REVOKED, at=now, by=admin, target=name, grid_code=revoked.grid, address=address
        )
    return _key_out(revoked)
