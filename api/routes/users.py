"""Users kept in the store, for admins: create, bind to a grid subtree and role, reset a password, disable.

The config's `auth.users` are the bootstrap: listed here (`source: config`) but changed only in the config (409).
An admin bound to a subtree manages only the users bound inside it and grants only grids inside it; the rest do not
exist for it (404). Passwords are never returned or logged; the store keeps their argon2 hashes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, StringConstraints

from api import audit
from api.auth import Principal, password_hasher
from api.deps import AddressDep, AdminDep, AuthenticatorDep, ConfigDep, GridTreeDep, NowDep, StoreDep
from api.schemas import ErrorOut
from models import accounts
from models.audit import AuditAction
from models.config import SLUG_ID
from models.grid import GridTree, is_in_subtree

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
BAD_BODY: Responses = {400: {"model": ErrorOut, "description": "The body is not JSON"}}
UNKNOWN: Responses = {404: {"model": ErrorOut, "description": "No such user (or one outside the admin's subtree)"}}
CONFIG_ACCOUNT: Responses = {409: {"model": ErrorOut, "description": "Defined in the config: change it there"}}


def manages(admin: Principal, grid: str | None) -> bool:
    """Whether `admin` may manage an account bound to `grid` (None: the whole tree)."""
    return admin.grid is None or (grid is not None and is_in_subtree(grid, admin.grid))


def check_grant(admin: Principal, tree: GridTree, grid: str | None) -> None:
    """422 for an unknown grid cell or one outside the admin's subtree (to it, that cell does not exist)."""
    if grid is not None and (tree.get(grid) is None or not manages(admin, grid)):
        raise HTTPException(422, f"unknown grid cell {grid!r}")
    if grid is None and admin.grid is not None:
        raise HTTPException(422, f"grid is required: an admin of {admin.grid} grants only cells in its subtree")


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


def _user_out(user: accounts.StoredUser) -> UserOut:
    return UserOut(
        name=user.name,
        role=user.role,  # type: ignore[arg-type]
        grid=user.grid,
        disabled=user.disabled,
        source="store",
        created_at=user.created_at,
        created_by=user.created_by,
        updated_at=user.updated_at,
    )


def _stored(store: StoreDep, admin: Principal, name: str, authenticator: AuthenticatorDep) -> accounts.StoredUser:
    if authenticator.is_config_account(name):
        raise HTTPException(409, f"{name!r} is defined in the config: change it there")
    with store.engine.connect() as connection:
        user = accounts.get_user(connection, name)
    if user is None or not manages(admin, user.grid):
        raise HTTPException(404, f"unknown user {name!r}")
    return user


@router.get("", response_model=list[UserOut], responses=ADMIN_ERRORS)
def list_users(admin: AdminDep, store: StoreDep, config: ConfigDep) -> list[UserOut]:
    """The users this admin manages: the config's (bootstrap) and the store's, by name."""
    out = [
        UserOut(
            name=name,
            role=entry.role,
            grid=entry.grid,
            disabled=False,
            source="config",
            created_at=None,
            created_by=None,
            updated_at=None,
        )
        for name, entry in config.auth.users.items()
        if manages(admin, entry.grid)
    ]
    with store.engine.connect() as connection:
        out += [_user_out(u) for u in accounts.list_users(connection) if manages(admin, u.grid)]
    return sorted(out, key=lambda u: u.name)


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
async def create_user(
    body: UserCreate,
    admin: AdminDep,
    store: StoreDep,
    tree: GridTreeDep,
    authenticator: AuthenticatorDep,
    now: NowDep,
    address: AddressDep,
) -> UserOut:
    """A new user who can log in at once with this password."""
    check_grant(admin, tree, body.grid)
    if authenticator.is_config_account(body.name):
        raise HTTPException(409, f"{body.name!r} exists (in the config)")
    password_hash = await run_in_threadpool(password_hasher().hash, body.password)

    def create() -> accounts.StoredUser:
        with store.side_transaction() as connection:
            if accounts.get_api_key(connection, body.name) is not None:
                raise accounts.AlreadyExists(body.name)
            return accounts.create_user(
                connection,
                body.name,
                password_hash=password_hash,
                role=body.role,
                grid=body.grid,
                by=admin.name,
                now=now,
            )

    try:
        user = await run_in_threadpool(create)
    except accounts.AlreadyExists:
        raise HTTPException(409, f"{body.name!r} exists") from None
    await run_in_threadpool(
        audit.record,
        store,
        AuditAction.USER_CREATED,
        at=now,
        by=admin,
        target=user.name,
        grid_code=user.grid,
        address=address,
        details={"role": user.role, "grid": user.grid},
    )
    return _user_out(user)


@router.patch(
    "/{name}", response_model=UserOut, responses={**BAD_BODY, **ADMIN_ERRORS, **UNKNOWN, **CONFIG_ACCOUNT}
)
def change_user(
    name: NamePath,
    body: UserChange,
    admin: AdminDep,
    store: StoreDep,
    tree: GridTreeDep,
    authenticator: AuthenticatorDep,
    now: NowDep,
    address: AddressDep,
) -> UserOut:
    """Bind the user to another role or grid subtree, disable it (its sessions end at once) or enable it."""
    before = _stored(store, admin, name, authenticator)
    changes = {field: getattr(body, field) for field in body.model_fields_set}
    if changes.get("role", "") is None or changes.get("disabled", False) is None:
        raise HTTPException(422, "role and disabled cannot be null")
    if "grid" in changes:
        check_grant(admin, tree, changes["grid"])
    with store.side_transaction() as connection:
        user = accounts.update_user(connection, name, now=now, **changes)
    if user is None:  # pragma: no cover - removed in between (users are never deleted)
        raise HTTPException(404, f"unknown user {name!r}")
    audit.record(
        store,
        AuditAction.USER_UPDATED,
        at=now,
        by=admin,
        target=name,
        grid_code=user.grid or before.grid,
        address=address,
        details={field: changes[field] for field in sorted(changes)},
    )
    return _user_out(user)


@router.put(
    "/{name}/password", status_code=204, responses={**BAD_BODY, **ADMIN_ERRORS, **UNKNOWN, **CONFIG_ACCOUNT}
)
async def reset_password(
    name: NamePath,
    body: PasswordReset,
    admin: AdminDep,
    store: StoreDep,
    authenticator: AuthenticatorDep,
    now: NowDep,
    address: AddressDep,
) -> Response:
    """Give the user a new password; every session it has ends (its tokens are refused from now on)."""
    user = await run_in_threadpool(_stored, store, admin, name, authenticator)
    password_hash = await run_in_threadpool(password_hasher().hash, body.password)

    def change() -> None:
        with store.side_transaction() as connection:
            accounts.update_user(connection, name, now=now, password_hash=password_hash)

    await run_in_threadpool(change)
    await run_in_threadpool(
        audit.record,
        store,
        AuditAction.PASSWORD_RESET,
        at=now,
        by=admin,
        target=name,
        grid_code=user.grid,
        address=address,
    )
    return Response(status_code=204)
