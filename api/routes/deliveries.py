"""Delivery to the incident system, for admins: how each endpoint stands, the dead letters, redelivery.

Never shows an endpoint's URL or secret: endpoints are named.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field

from api import audit
from api.delivery import admin
from api.delivery.outbox import Delivery, DeliveryState, NotDeadError
from api.delivery.wire_format import event_type
from api.deps import AddressDep, ConfigDep, NowDep, PrincipalDep, StoreDep
from api.errors import errors
from models.audit import AuditAction
from models.lifecycle import Role


def require_admin(principal: PrincipalDep) -> None:
    """Delivery administration is for admins: 401 without credentials, 403 for every other role."""
    if principal.role is not Role.ADMIN:
        raise HTTPException(403, "delivery administration is for admins")


router = APIRouter(
    prefix="/deliveries",
    tags=["deliveries"],
    dependencies=[Depends(require_admin)],
    responses=errors(401, 403, described={403: "Not an admin"}),
)


class DeliveryOut(BaseModel):
    id: int = Field(description="The delivery: one change to one endpoint.")
    endpoint: str = Field(description="The endpoint's name in the config (its URL is never shown).")
    state: str = Field(description="pending (waiting, in flight or to be retried), delivered, or dead.")
    attempts: int = Field(description="Attempts so far (counted afresh after a redelivery).")
    event_id: str = Field(description="The CloudEvents id, the same on every attempt.")
    event_type: str = Field(description="The CloudEvents type, e.g. cn.xueliang.incident.opened.")
    event_time: datetime = Field(description="When the change happened.")
    incident_id: str = Field(description="The CloudEvents subject.")
    created_at: datetime
    next_attempt_at: datetime = Field(description="When a pending delivery is next tried.")
    delivered_at: datetime | None
    dead_at: datetime | None
    last_status: int | None = Field(
        description="HTTP status of the endpoint's last answer; null when none came."
    )
    last_error: str | None = Field(description="Why the last attempt failed.")
    waiting: int = Field(
        description="Later changes of the same incident held back until this one is delivered."
    )


class DeadLetterPage(BaseModel):
    items: list[DeliveryOut]
    total: int = Field(description="Dead letters matching the filter, over all pages.")
    limit: int
    offset: int


class EndpointDeliveriesOut(BaseModel):
    endpoint: str
    configured: bool = Field(
        description="False for an endpoint that has deliveries but is no longer configured."
    )
    enabled: bool
    pending: int
    delivered: int
    dead: int


def _delivery_out(item: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=item.id,
        endpoint=item.endpoint,
        state=item.state,
        attempts=item.attempts,
        event_id=item.event_id,
        event_type=event_type(item.event_type),
        event_time=item.event_time,
        incident_id=item.incident_id,
        created_at=item.created_at,
        next_attempt_at=item.next_attempt_at,
        delivered_at=item.delivered_at,
        dead_at=item.dead_at,
        last_status=item.last_status,
        last_error=item.last_error,
        waiting=item.waiting,
    )


@router.get("", response_model=list[EndpointDeliveriesOut])
def endpoints(store: StoreDep, config: ConfigDep) -> list[EndpointDeliveriesOut]:
    """Deliveries per endpoint and state."""
    counts = admin.delivery_counts(store)
    names = list(config.delivery.endpoints) + sorted(set(counts) - set(config.delivery.endpoints))
    out = []
    for name in names:
        endpoint = config.delivery.endpoints.get(name)
        by_state = counts.get(name, {})
        out.append(
            EndpointDeliveriesOut(
                endpoint=name,
                configured=endpoint is not None,
                enabled=endpoint is not None and endpoint.enabled,
                pending=by_state.get(DeliveryState.PENDING.value, 0),
                delivered=by_state.get(DeliveryState.DELIVERED.value, 0),
                dead=by_state.get(DeliveryState.DEAD.value, 0),
            )
        )
    return out


@router.get("/dead-letters", response_model=DeadLetterPage)
def dead_letters(
    store: StoreDep,
    endpoint: Annotated[str | None, Query(max_length=64, description="Only this endpoint's.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> DeadLetterPage:
    """Changes given up on after the endpoint's max attempts, oldest first."""
    items, total = admin.list_dead_letters(store, endpoint=endpoint, limit=limit, offset=offset)
    return DeadLetterPage(items=[_delivery_out(i) for i in items], total=total, limit=limit, offset=offset)


@router.post(
    "/dead-letters/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    responses=errors(404, 409, described={404: "Unknown delivery", 409: "Not a dead letter, or its endpoint is no longer configured"}),
)
def redeliver(
    store: StoreDep,
    config: ConfigDep,
    principal: PrincipalDep,
    address: AddressDep,
    now: NowDep,
    delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
) -> DeliveryOut:
    """Send a dead letter again, as a fresh series of attempts, within the worker's poll interval; the later
    changes of its incident follow once it is delivered."""
    existing = admin.get_delivery(store, delivery_id)
    if existing is None:
        raise HTTPException(404, f"unknown delivery {delivery_id}")
    if existing.endpoint not in config.delivery.endpoints:
        raise HTTPException(409, f"endpoint {existing.endpoint!r} is no longer configured")
    try:
        # The service's clock, as the delivery worker's: due at once for the worker's next poll.
        redelivered = admin.redeliver(store, delivery_id, now)
    except NotDeadError as error:
        raise HTTPException(409, str(error)) from None
    if redelivered is None:  # pragma: no cover - deleted in between
        raise HTTPException(404, f"unknown delivery {delivery_id}")
    audit.record(
        store,
        AuditAction.REDELIVERY,
        at=now,
        by=principal,
        target=str(delivery_id),
        address=address,
        details={"endpoint": redelivered.endpoint, "incident_id": redelivered.incident_id},
    )
    return _delivery_out(redelivered)
