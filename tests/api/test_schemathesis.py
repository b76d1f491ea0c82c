"""Property-based requests generated from the OpenAPI document (schemathesis), as the demo admin: the document is
true. Whatever the parameters and bodies, every answer is documented for its route (status code), has the
documented body (response schema) and content type, and is never a server error; a request the schema calls
invalid is refused (negative data rejection: `opened_to=0.5` was taken as a date). Bounded to a few examples per
operation (about a minute on 2 cores).

Not checked: positive data acceptance (every schema-valid request answered 2xx/404). The schema cannot say which
grid cells, categories or cameras exist, which fields a closed-loop step needs (that depends on the incident's
current status), or which clip paths lie in the replay folders, without publishing the district's lists in the open
/openapi.json; those are answered 422 naming the field, and the 422 is documented.

A new route passes when it declares what it can answer: `responses=errors(404, 409, ...)` (api/errors.py; 401 comes
from the router for authenticated routes, 422 from FastAPI for routes with parameters), `WITH_BODY` when it takes a
body, `response_model=` for its 2xx body, and raises `invalid(loc, msg)` (not `HTTPException(422, ...)`) for a 422
of its own."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from models.clock import ManualClock
from models.push import LocalBroker, PushJournal
from models.store import Store
from tests.api.access import bearer
from tests.api.camera_feed import CAM_FIRE_LANE, CAM_WALKWAY, T0, CameraFeed, demo_config, minutes

# XL_SCHEMATHESIS_EXAMPLES=200 for a deeper run by hand (80 per operation: ~45 s here, all green)
EXAMPLES_PER_OPERATION = int(os.environ.get("XL_SCHEMATHESIS_EXAMPLES", "15"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[schemathesis.BaseSchema, str]]:
    """The schema of an API over a store with two incidents, and the id of one of them (with a snapshot)."""
    config = demo_config(tmp_path_factory.mktemp("schemathesis"))
    with Store(config.store.url.get_secret_value()) as store:
        store.migrate()
        feed = CameraFeed(config, PushJournal(store, LocalBroker()))
        feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)
        fire = feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(5), magnitude=6, snapshot=True)
    app = create_app(config, run_cameras=False, clock=ManualClock(T0))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.update(headers=bearer(config, "admin", T0))
    yield schema, fire.id
    from schemathesis.python.asgi import shutdown_lifespans

    shutdown_lifespans()


# schemathesis' own pytest integration (`from_fixture` + `parametrize`) does not run under pytest 9, so the cases
# are drawn with hypothesis directly, operation by operation, valid (positive) and invalid (negative) ones.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_is_the_documented_one(api_schema: tuple[schemathesis.BaseSchema, str], mode: GenerationMode) -> None:
    schema, incident_id = api_schema
    # Not POST /auth/logout: it would end the admin's session and every later case would only see 401s
    # (logout is tested in tests/api/test_accounts.py).
    operations = [op for result in schema.get_all_operations() if (op := result.ok()).path != "/auth/logout"]
    assert len(operations) >= 20
    runs = [(operation, None) for operation in operations]
    # also on an incident that exists, so that steps and exports run on a real row, not only into 404s
    for operation in operations:
        for name in ("incident_id", "service_request_id"):
            if f"{{{name}}}" in operation.path:
                runs.append((operation, {name: incident_id}))
    for operation, path_parameters in runs:

        @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def answers_as_documented(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS)

        try:
            answers_as_documented()
        except Unsatisfiable:
            # an operation with nothing to get wrong (no parameters, no body) has no negative cases
            assert mode is GenerationMode.NEGATIVE, operation.label
