"""Service API keys kept in the store, for admins: create (the key is shown once, in the answer), list, revoke.

Only a key's sha256 is stored. The config's `auth.api_keys` are the bootstrap: listed (`source: config`), changed
in the config only. An admin bound to a subtree manages only keys bound inside it (`api.accounts.AccountAdmin`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.accounts import Account
from api.routes.users import ADMIN_ERRORS, BAD_BODY, AccountAdminDep, AccountName, RoleName, http_errors
from api.schemas import ErrorOut
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


def _key_out(key: Account) -> ApiKeyOut:
    return ApiKeyOut(
        name=key.name,
        role=key.role,  # type: ignore[arg-type]
        grid=key.grid,
        source=key.source,  # type: ignore[arg-type]
        created_at=key.created_at,
        created_by=key.created_by,
        revoked_at=key.revoked_at,
        revoked_by=key.revoked_by,
    )


@router.get("", response_model=list[ApiKeyOut], responses=ADMIN_ERRORS)
def list_keys(admin: AccountAdminDep) -> list[ApiKeyOut]:
    """The keys this admin manages, by name (never the keys themselves)."""
    return [_key_out(key) for key in admin.api_keys()]


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
def create_key(body: ApiKeyCreate, admin: AccountAdminDep) -> NewApiKeyOut:
    """A new random key; the answer is the only place it is ever shown."""
    with http_errors():
        created = admin.create_api_key(body.name, body.role, body.grid)
    return NewApiKeyOut(**_key_out(created.account).model_dump(), key=created.key)


@router.delete(
    "/{name}",
    response_model=ApiKeyOut,
    responses={
        **ADMIN_ERRORS,
        404: {"model": ErrorOut, "description": "No such key (or one outside the admin's subtree)"},
        409: {"model": ErrorOut, "description": "Defined in the config: remove it there"},
    },
)
def revoke_key(name: NamePath, admin: AccountAdminDep) -> ApiKeyOut:
    """Revoke the key: refused from now on, on every API replica. Revoking it again changes nothing."""
    with http_errors():
        return _key_out(admin.revoke_api_key(name))
