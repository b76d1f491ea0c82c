"""Logging in, renewing and ending a login session; who am I; login lockouts for admins.

A login is throttled per user name and per client address (`auth.login_throttle`, see api/auth.py): past the limit
the answer is 429 with `Retry-After` and the password is not even checked. Lockouts are logged, written to the
audit log, and listed for admins by `GET /auth/lockouts`; an admin may lift one early.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from api import audit
from api.auth import IssuedToken
from api.deps import (
    UNAUTHENTICATED,
    AddressDep,
    AdminDep,
    AuthenticatorDep,
    BearerDep,
    MetricsDep,
    NowDep,
    PrincipalDep,
    StoreDep,
)
from api.errors import WITH_BODY, errors
from api.schemas import ErrorOut, PrincipalOut, TokenOut
from models import accounts
from models.accounts import ThrottleKind
from models.audit import AuditAction

log = logging.getLogger(__name__)

router = APIRouter(prefix="/auth", tags=["auth"])

Responses = dict[int | str, dict[str, Any]]

NOT_AUTHENTICATED: Responses = {401: {"model": ErrorOut, "description": "Not authenticated"}}
NOT_ADMIN: Responses = {403: {"model": ErrorOut, "description": "Not an admin"}}


def _token_out(issued: IssuedToken) -> TokenOut:
    return TokenOut(
        access_token=issued.access_token,
        token_type="bearer",
        expires_in=issued.expires_in,
        session_expires_at=issued.session_expires_at,
        role=issued.principal.role.value,
        grid=issued.principal.grid,
    )


@router.post(
    "/token",
    response_model=TokenOut,
    responses=errors(
        401,
        429,
        described={
            401: "Unknown user or wrong password (the answer does not say which)",
            429: "Too many failed logins for this user name or from this address: locked out for the seconds in "
            "Retry-After (the password was not checked)",
        },
    )
    | WITH_BODY,
)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    authenticator: AuthenticatorDep,
    store: StoreDep,
    address: AddressDep,
    now: NowDep,
    metrics: MetricsDep,
) -> TokenOut:
    """OAuth2 password flow: a form with `username` and `password` gives a bearer token (a JWT) that expires;
    renew it with `POST /auth/refresh`."""
    # argon2 takes tens of milliseconds of CPU on purpose, and the throttle counters are in the store: off the loop
    result = await run_in_threadpool(authenticator.login, form.username, form.password, address)
    name = form.username
    grid = result.user.grid if result.user is not None else None
    if result.retry_after_s is not None:
        metrics.login_attempts.labels("refused").inc()
        raise HTTPException(
            429,
            f"too many failed logins: try again in {result.retry_after_s} s",
            headers={"Retry-After": str(result.retry_after_s)},
        )
    if result.issued is None:
        metrics.login_attempts.labels("failed").inc()
        await run_in_threadpool(
            audit.record, store, AuditAction.LOGIN_FAILED, at=now, actor=name, grid_code=grid, address=address
        )
        for entry in result.locked:
            assert entry.locked_until is not None
            seconds = round((entry.locked_until - now).total_seconds())
            log.warning(
                "login: %s %r locked out for %d s after %d failed logins", entry.kind.value, entry.name, seconds,
                entry.failures,
            )
            await run_in_threadpool(
                audit.record,
                store,
                AuditAction.LOCKOUT,
                at=now,
                actor=name,
                target=f"{entry.kind.value}:{entry.name}",
                grid_code=grid,
                address=address,
                details={"failures": entry.failures, "locked_until": entry.locked_until.isoformat()},
            )
        raise HTTPException(401, "wrong user name or password", headers={"WWW-Authenticate": "Bearer"})
    metrics.login_attempts.labels("ok").inc()
    await run_in_threadpool(
        audit.record, store, AuditAction.LOGIN, at=now, by=result.issued.principal, grid_code=grid, address=address
    )
    return _token_out(result.issued)


@router.post(
    "/refresh",
    response_model=TokenOut,
    responses={
        401: {
            "model": ErrorOut,
            "description": "Not a valid token, its session was ended (logout, password reset, user disabled), or "
            "the session reached auth.session_max_hours: log in again",
        }
    },
)
def refresh(authenticator: AuthenticatorDep, token: BearerDep) -> TokenOut:
    """A fresh token for the same login (sliding renewal): send the current, still valid bearer token before it
    expires. The console does this on its own, so an operator on a long shift is not logged out mid-incident."""
    issued = authenticator.refresh(token) if token else None
    if issued is None:
        raise UNAUTHENTICATED
    return _token_out(issued)


@router.post("/logout", status_code=204, responses=NOT_AUTHENTICATED)
def logout(
    authenticator: AuthenticatorDep, token: BearerDep, store: StoreDep, address: AddressDep, now: NowDep
) -> Response:
    """End this login: its token, and every token renewed from it, is refused from now on (REST and websocket,
    on every API replica)."""
    ended = authenticator.logout(token) if token else None
    if ended is None:
        raise UNAUTHENTICATED
    audit.record(
        store, AuditAction.LOGOUT, at=now, by=ended.principal, grid_code=ended.principal.grid, address=address
    )
    return Response(status_code=204)


@router.get("/me", response_model=PrincipalOut, responses=errors(401))
def me(principal: PrincipalDep) -> PrincipalOut:
    """Who the credentials belong to: name, role, and the grid subtree they may see."""
    return PrincipalOut(name=principal.name, role=principal.role.value, grid=principal.grid, kind=principal.kind)


class LockoutOut(BaseModel):
    kind: ThrottleKind = Field(description="user (a login name, known or not) or address (a client IP).")
    name: str
    failures: int = Field(description="Failed logins in a row (forgotten after auth.login_throttle.window_s).")
    last_failure_at: datetime | None
    locked_until: datetime | None = Field(description="Logins are refused until then; null: not locked now.")
    locked: bool = Field(description="Locked out now.")


@router.get("/lockouts", response_model=list[LockoutOut], responses={**NOT_AUTHENTICATED, **NOT_ADMIN})
def lockouts(
    _admin: AdminDep,
    store: StoreDep,
    now: NowDep,
    locked_only: Annotated[bool, Query(description="Only names and addresses locked out now.")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[LockoutOut]:
    """User names and client addresses with failed logins counted, the longest locked first (admins)."""
    with store.database.engine.connect() as connection:
        entries = accounts.list_throttled(connection, now=now, locked_only=locked_only, limit=limit)
    return [
        LockoutOut(
            kind=e.kind,
            name=e.name,
            failures=e.failures,
            last_failure_at=e.last_failure_at,
            locked_until=e.locked_until,
            locked=e.locked_until is not None and e.locked_until > now,
        )
        for e in entries
    ]


@router.delete(
    "/lockouts/{kind}/{name}",
    status_code=204,
    responses={
        **NOT_AUTHENTICATED,
        403: {"model": ErrorOut, "description": "Not an admin of the whole tree"},
        404: {"model": ErrorOut, "description": "No failed logins counted for it"},
    },
)
def unlock(
    admin: AdminDep,
    store: StoreDep,
    now: NowDep,
    address: AddressDep,
    kind: ThrottleKind,
    name: Annotated[str, Path(min_length=1, max_length=accounts.THROTTLE_KEY_MAX)],
) -> Response:
    """Lift a lockout now and forget the failures (an admin of the whole tree: addresses and unknown names
    belong to no subtree)."""
    if admin.grid is not None:
        raise HTTPException(403, "lifting lockouts is for admins of the whole tree")
    with store.database.side_transaction() as connection:
        found = accounts.clear_throttle(connection, kind, name)
    if not found:
        raise HTTPException(404, f"no failed logins counted for {kind.value} {name!r}")
    log.info("login: %s %r unlocked by %s", kind.value, name, admin.name)
    audit.record(store, AuditAction.UNLOCK, at=now, by=admin, target=f"{kind.value}:{name}", address=address)
    return Response(status_code=204)
