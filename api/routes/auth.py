from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import AuthenticatorDep, PrincipalDep
from api.errors import WITH_BODY, errors
from api.schemas import PrincipalOut, TokenOut

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    response_model=TokenOut,
    responses=errors(401, described={401: "Unknown user or wrong password (the answer does not say which)"})
    | WITH_BODY,
)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], authenticator: AuthenticatorDep
) -> TokenOut:
    """OAuth2 password flow: a form with `username` and `password` gives a bearer token (a JWT) that expires."""
    # argon2 takes tens of milliseconds of CPU on purpose: off the event loop
    issued = await run_in_threadpool(authenticator.login, form.username, form.password)
    if issued is None:
        raise HTTPException(401, "wrong user name or password", headers={"WWW-Authenticate": "Bearer"})
    return TokenOut(
        access_token=issued.access_token,
        token_type="bearer",
        expires_in=issued.expires_in,
        role=issued.principal.role.value,
        grid=issued.principal.grid,
    )


@router.get("/me", response_model=PrincipalOut, responses=errors(401))
def me(principal: PrincipalDep) -> PrincipalOut:
    """Who the credentials belong to: name, role, and the grid subtree they may see."""
    return PrincipalOut(name=principal.name, role=principal.role.value, grid=principal.grid, kind=principal.kind)
