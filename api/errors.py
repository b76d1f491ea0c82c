"""What the API answers when it refuses a request, in one place: the error bodies, their OpenAPI declaration, and
the handlers that render them. The OpenAPI document is meant to be true (tests/api/test_schemathesis.py checks
every status code, body and content type against it):

- every error body is `{"detail": "<message>"}` (`ErrorOut`), except 422, whose `detail` is always a list of
  `{"loc": [...], "msg": ..., "type": ...}` (`ValidationErrorOut`), also for the checks routes make themselves
  (`invalid(...)`), 409 on a closed-loop step (`ConflictOut`), and 413, which FastAPI's body limit (`max_body_size`,
  enforced while the body is read) answers in plain text before any handler runs;
- a route declares the errors it can answer with `responses=errors(404, 409, ...)`; 401 is declared for every
  authenticated route by the router (`AUTHENTICATED`), 413 for every route that takes a body.

A 422 never repeats the input (it may be a password, or text that cannot be encoded: a lone surrogate made the
old handler fail with a 500), and text in any error is made encodable before it is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.schemas import ConflictOut, ErrorOut

SURROGATES = re.compile("[\ud800-\udfff]")  # in a str only when lone (JSON "\\ud800"): not encodable


class ValidationErrorItem(BaseModel):
    loc: list[str | int] = Field(description="Where: body, query, path or header, then the field's path.")
    msg: str = Field(description="What is wrong with it.")
    type: str = Field(description="The kind of error (pydantic's error type, or value_error).")


class ValidationErrorOut(BaseModel):
    detail: list[ValidationErrorItem]


# What each status means when a route does not say more; a route passes its own words with `described=`.
DESCRIPTIONS: dict[int, str] = {
    400: "The body could not be parsed",
    401: "No credentials, or credentials that are not valid (expired, revoked, unknown)",
    403: "The caller's role may not do this",
    404: "Not found, or outside the caller's grid subtree (the two cannot be told apart)",
    405: "Method not allowed",
    409: "Conflicts with the resource's current state",
    413: "The request body is larger than the server accepts (server.max_body_bytes)",
    422: "A parameter or a field of the body is not valid; `detail` lists each with its location",
    429: "Too many requests waiting",
}
MODELS: dict[int, type[BaseModel]] = {422: ValidationErrorOut}


def errors(
    *codes: int,
    described: Mapping[int, str] | None = None,
    models: Mapping[int, type[BaseModel]] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of these error statuses, e.g. `@router.get(..., responses=errors(404))` or
    `errors(404, 409, described={409: "Not a dead letter"}, models={409: ConflictOut})`."""
    described, models = described or {}, models or {}
    declared: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        description = described.get(code) or DESCRIPTIONS[code]
        if code == 413:  # answered by FastAPI's body limit itself, before any handler: plain text
            declared[code] = {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}
        else:
            declared[code] = {"model": models.get(code) or MODELS.get(code, ErrorOut), "description": description}
    return declared


# Router-level defaults (app.py): every authenticated route can answer 401 (and 422 for bad credentials' form);
# a route with a body also 400 (not JSON) and 413 (too large).
AUTHENTICATED = errors(401)
WITH_BODY = errors(400, 413, 422)
CONFLICT_WITH_STEP = errors(409, models={409: ConflictOut})


def invalid(loc: Sequence[str | int], msg: str) -> RequestValidationError:
    """A 422 for a value the route itself found wrong (an unknown grid cell, a time without zone), in the same
    shape as pydantic's: `raise invalid(("query", "grid"), "unknown grid cell '9'")`."""
    return RequestValidationError([{"loc": tuple(loc), "msg": msg, "type": "value_error"}])


def encodable(value: Any) -> Any:
    """`value` with every string made UTF-8 encodable (a lone surrogate becomes U+FFFD), lists and dicts walked."""
    if isinstance(value, str):
        return SURROGATES.sub("\ufffd", value)
    if isinstance(value, Mapping):
        return {encodable(k): encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encodable(v) for v in value]
    return value


def validation_items(raw: Sequence[Any]) -> list[dict[str, Any]]:
    """pydantic's errors as the API shows them: location, message, type; never the input or its context."""
    items = []
    for error in raw:
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        msg = str(error.get("msg", "")).removeprefix("Value error, ")  # pydantic's prefix for a validator's own
        items.append({"loc": loc, "msg": msg, "type": str(error.get("type", "value_error"))})
    encoded: list[dict[str, Any]] = encodable(items)
    return encoded


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": validation_items(error.errors())}, status_code=422)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    detail: Any = error.detail
    headers = error.headers
    if error.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    if error.status_code == 422 and not isinstance(detail, list):
        # a 422 raised as HTTPException(422, "text") still gets the documented list shape
        detail = validation_items([{"loc": ["body"], "msg": str(detail), "type": "value_error"}])
    return JSONResponse({"detail": encodable(detail)}, status_code=error.status_code, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path, asked of the routes themselves (Starlette's `matches`).
    Starlette's own 405 names only the first route whose path matches (GET /incidents/{id}/transitions hid POST),
    so `Allow` disagreed with the OpenAPI document."""
    allowed = []
    for method in HTTP_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
