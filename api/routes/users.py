"""Users kept in the store, for admins: create, bind to a grid subtree and role, reset a password, disable.

The config's `auth.users` are the bootstrap: listed here (`source: config`) but changed only in the config (409).
An admin bound to a subtree manages only the users bound inside it and grants only grids inside it; the rest do not
exist for it (404). Passwords are never returned or logged; the store keeps their argon2 hashes. The work is
`api.accounts.AccountAdmin`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, StringConstraints

from api.accounts import Account, AccountAdmin, ConfigAccount, GridNotGrantable, NameTaken, UnknownAccount
from api.deps import AddressDep, AdminDep, AuthenticatorDep, ConfigDep, GridTreeDep, NowDep, StoreDep
from api.errors import WITH_BODY
from api.schemas import ErrorOut
from models.config import SLUG_ID

router = APIRouter(prefix="/users", tags=["users"])

RoleName = Literal["admin", "operator", "incident-system", "viewer"]
AccountName = Annotated[str, StringConstraints(pattern=SLUG_ID.pattern)]
Password = Annotated[str, StringConstraints(min_length=10, max_length=256)]
NamePath = Annotated[str, Path(pattern=SLUG_ID.pattern, description="The user's login name.")]

Responses = dict[int | str, dict[str, Any]]

ADMIN_ERRORS: Responses = {
    401: {"model": ErrorOut, "description": "Not authenticated"},
    403: {"model": ErrorOut, "description": "Not an admin"},
}
BAD_BODY: Responses = WITH_BODY  # 400 not JSON, 413 too large, 422 a field not valid (api/errors.py)
UNKNOWN: Responses = {404: {"model": ErrorOut, "description": "No such user (or one outside the admin's subtree)"}}
CONFIG_ACCOUNT: Responses = {409: {"model": ErrorOut, "description": "Defined in the config: change it there"}}


def account_admin(
    admin: AdminDep,
    store: StoreDep,
    authenticator: AuthenticatorDep,
    tree: GridTreeDep,
    config: ConfigDep,
    now: NowDep,
    address: AddressDep,
) -> AccountAdmin:
    return AccountAdmin(store, authenticator, tree, config.auth, admin, now=now, address=address)


AccountAdminDep = Annotated[AccountAdmin, Depends(account_admin)]


@contextmanager
def http_errors() -> Iterator[None]:
    """The account errors as HTTP answers."""
    try:
        yield
    except UnknownAccount as error:
        raise HTTPException(404, str(error)) from None
    except (ConfigAccount, NameTaken) as error:
        raise HTTPException(409, str(error)) from None
    except GridNotGrantable as error:
        raise HTTPException(422, str(error)) from None


class UserOut(BaseModel):
    name: str
    role: RoleName
    grid: str | None = Field(description="Root of the grid subtree the user may see; null for the whole tree.")
    disabled: bool
    source: Literal["config", "store"] = Field(description="config: the bootstrap users, changed in the config only.")
    created_at: datetime | None
    created_by: str | None
    updated_at: datetime | None


class UserCreate(BaseModel):
    model_config = {"extra": "forbid"}

    name: AccountName = Field(description="Login name: letters, digits, _ . - (at most 64).")
    password: Password = Field(description="At least 10 characters. Stored as an argon2 hash only.")
    role: RoleName
    grid: str | None = Field(default=None, description="Root of the grid subtree; omitted: the whole tree.")


class UserChange(BaseModel):
    model_config = {"extra": "forbid"}

    role: RoleName | None = Field(default=None, description="A new role; omitted: unchanged.")
    grid: str | None = Field(
        default=None, description="A new subtree root; null: the whole tree; omitted: unchanged."
    )
    disabled: bool | None = Field(
        default=None, description="true: refuse its logins and end its sessions now; false: allow it again."
    )


class PasswordReset(BaseModel):
    model_config = {"extra": "forbid"}

    password: Password = Field(description="The new password; the user's sessions end at once.")


def _user_out(user: Account) -> UserOut:
    return UserOut(
        name=user.name,
        role=user.role,  # type: ignore[arg-type]
        grid=user.grid,
        disabled=user.disabled,
        source=user.source,  # type: ignore[arg-type]
        created_at=user.created_at,
        created_by=user.created_by,
        updated_at=user.updated_at,
    )


@router.get("", response_model=list[UserOut], responses=ADMIN_ERRORS)
def list_users(admin: AccountAdminDep) -> list[UserOut]:
    """The users this admin manages: the config's (bootstrap) and the store's, by name."""
    return [_user_out(user) for user in admin.users()]


@router.post(
    "",
    status_code=201,
    response_model=UserOut,
    responses={
        **BAD_BODY,
        **ADMIN_ERRORS,
        409: {"model": ErrorOut, "description": "A user or API key with this name exists"},
    },
)
async def create_user(body: UserCreate, admin: AccountAdminDep) -> UserOut:
    """A new user who can log in at once with this password."""
    with http_errors():
        user = await run_in_threadpool(admin.create_user, body.name, body.password, body.role, body.grid)
    return _user_out(user)


@router.patch("/{name}", response_model=UserOut, responses={**BAD_BODY, **ADMIN_ERRORS, **UNKNOWN, **CONFIG_ACCOUNT})
def change_user(name: NamePath, body: UserChange, admin: AccountAdminDep) -> UserOut:
    """Bind the user to another role or grid subtree, disable it (its sessions end at once) or enable it."""
    changes: dict[str, Any] = {field: getattr(body, field) for field in body.model_fields_set}
    if changes.get("role", "") is None or changes.get("disabled", False) is None:
        raise HTTPException(422, "role and disabled cannot be null")
    with http_errors():
        return _user_out(admin.change_user(name, changes))


@router.put(
    "/{name}/password", status_code=204, responses={**BAD_BODY, **ADMIN_ERRORS, **UNKNOWN, **CONFIG_ACCOUNT}
)
async def reset_password(name: NamePath, body: PasswordReset, admin: AccountAdminDep) -> Response:
    """Give the user a new password; every session it has ends (its tokens are refused from now on)."""
    with http_errors():
        await run_in_threadpool(admin.reset_password, name, body.password)
    return Response(status_code=204)
