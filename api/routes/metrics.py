"""`GET /metrics`: Prometheus text exposition (api/metrics.py lists the metrics).

Who may scrape is `server.metrics`: `admin` (default) wants an admin of the whole tree, by API key (`X-API-Key`,
or `Authorization: Bearer <key>`, which Prometheus' `authorization` scrape setting sends) or by login token;
`open` wants nothing (for a port only the monitoring network reaches); `off` answers 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response, Security
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import UNAUTHENTICATED, AuthenticatorDep, ConfigDep, MetricsDep, api_key_header, bearer_token
from api.schemas import ErrorOut
from models.lifecycle import Role

router = APIRouter(tags=["metrics"])


def may_scrape(
    config: ConfigDep,
    authenticator: AuthenticatorDep,
    token: Annotated[str | None, Security(bearer_token)],
    api_key: Annotated[str | None, Security(api_key_header)],
) -> None:
    if config.server.metrics == "off":
        raise HTTPException(404, "metrics are off (server.metrics)")
    if config.server.metrics == "open":
        return
    principal = None
    if api_key:
        principal = authenticator.from_api_key(api_key)
    elif token:
        principal = authenticator.from_token(token) or authenticator.from_api_key(token)
    if principal is None:
        raise UNAUTHENTICATED
    if principal.role is not Role.ADMIN or principal.grid is not None:
        raise HTTPException(403, "metrics are for admins of the whole tree")


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(may_scrape)],
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format"},
        401: {"model": ErrorOut, "description": "Not authenticated (server.metrics: admin)"},
        403: {"model": ErrorOut, "description": "Not an admin of the whole tree"},
        404: {"model": ErrorOut, "description": "Metrics are off (server.metrics: off)"},
    },
)
def metrics(service_metrics: MetricsDep) -> Response:
    """The service's metrics in the Prometheus text format."""
    return Response(generate_latest(service_metrics.registry), media_type=CONTENT_TYPE_LATEST)
