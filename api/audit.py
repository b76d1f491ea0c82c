"""Writing the audit log (`models.audit`) from the API: one event per thing done, in its own short transaction."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from api.auth import Principal
from models import audit
from models.audit import AuditAction
from models.store import Store

log = logging.getLogger(__name__)


def record(
    store: Store,
    action: AuditAction,
    *,
    at: datetime,
    by: Principal | None = None,
    actor: str | None = None,
    target: str | None = None,
    grid_code: str | None = None,
    address: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append an event: done `by` a caller, or by an `actor` name not (yet) authenticated (a login attempt).

    Never pass secrets: `details` holds names, roles, grid codes and ids only."""
    with store.database.side_transaction() as connection:
        audit.record(
            connection,
            at=at,
            actor=by.name if by is not None else (actor or ""),
            actor_kind=by.kind if by is not None else "anonymous",
            action=action,
            target=target,
            grid_code=grid_code,
            address=address,
            details=details,
        )
