"""Property-based requests generated from the OpenAPI document (schemathesis), as the demo admin: whatever the
parameters and bodies, no route answers with a server error. Bounded to a few examples per operation (< 60 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from api.app import create_app
from models.push import LocalBroker, PushJournal
from models.store import Store
from tests.api.access import FakeClock, bearer
from tests.api.camera_feed import CAM_FIRE_LANE, CAM_WALKWAY, T0, CameraFeed, demo_config, minutes

EXAMPLES_PER_OPERATION = 15


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[schemathesis.BaseSchema, str]]:
    """The schema of an API over a store with two incidents, and the id of one of them (with a snapshot)."""
    config = demo_config(tmp_path_factory.mktemp("schemathesis"))
    with Store(config.store.url.get_secret_value()) as store:
        store.migrate()
        feed = CameraFeed(config, PushJournal(store, LocalBroker()))
        feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)
        fire = feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(5), magnitude=6, snapshot=True)
    app = create_app(config, run_cameras=False, clock=FakeClock(T0))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.update(headers=bearer(config, "admin", T0))
    yield schema, fire.id
    from schemathesis.python.asgi import shutdown_lifespans

    shutdown_lifespans()


# schemathesis' own pytest integration (`from_fixture` + `parametrize`) does not run under pytest 9, so the cases
# are drawn with hypothesis directly, operation by operation, valid (positive) and invalid (negative) ones.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_makes_a_server_error(
    api_schema: tuple[schemathesis.BaseSchema, str], mode: GenerationMode
) -> None:
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
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call()
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code}"

        try:
            no_server_error()
        except Unsatisfiable:
            # an operation with nothing to get wrong (no parameters, no body) has no negative cases
            assert mode is GenerationMode.NEGATIVE, operation.label
