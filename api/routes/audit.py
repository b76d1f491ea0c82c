"""The audit log for admins: who did what, newest first, filtered and paged (`models.audit`).

An admin of the whole tree sees every event; an admin bound to a subtree sees the events of that subtree only
(incidents in it, users and keys bound inside it, their logins), never those without a grid.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from api.deps import AdminDep, StoreDep
from api.routes.incidents import QueryTime
from api.routes.users import ADMIN_ERRORS
from models import audit
from models.audit import AuditAction, AuditQuery

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="Who: a user or API key name (for a failed login, the name as typed).")
    actor_kind: str = Field(description="user, api_key, or anonymous (not authenticated: a login attempt).")
    action: AuditAction
    target: str | None = Field(description="What it was done to: a user, a key, an incident id, a delivery id.")
    grid_code: str | None = Field(description="The grid cell or subtree the event belongs to.")
    address: str | None = Field(description="The client address.")
    details: dict[str, Any] = Field(description="What changed (names, roles, grid codes, steps; never secrets).")


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    total: int = Field(description="Events matching the filters, over all pages.")
    limit: int
    offset: int


@router.get("", response_model=AuditPage, responses=ADMIN_ERRORS)
def audit_events(
    admin: AdminDep,
    store: StoreDep,
    actor: Annotated[str | None, Query(max_length=128, description="Only this actor's.")] = None,
    action: Annotated[AuditAction | None, Query(description="Only this action.")] = None,
    target: Annotated[str | None, Query(max_length=256, description="Only those done to this.")] = None,
    since: Annotated[QueryTime | None, Query(description="From this time on (inclusive), ISO 8601 with a zone.")] = None,
    until: Annotated[QueryTime | None, Query(description="Before this time, ISO 8601 with a zone.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AuditPage:
    """Audit events, newest first."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise HTTPException(422, f"{name} needs a time zone (e.g. 2026-12-01T08:00:00Z)")
    query = AuditQuery(actor=actor, action=action, target=target, since=since, until=until, grid_code=admin.grid)
    with store.database.engine.connect() as connection:
        items, total = audit.search(connection, query, limit=limit, offset=offset)
    return AuditPage(
        items=[AuditEventOut(**vars(item)) for item in items], total=total, limit=limit, offset=offset
    )
