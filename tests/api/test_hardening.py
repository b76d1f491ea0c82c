"""Requests an attacker would send: no input makes a 5xx, bodies over the limit are refused while they are read,
the OpenAPI document tells the truth about what each route answers, every response carries the security headers,
and replays read only from the replay folders (api/errors.py, api/middleware.py)."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.middleware import API_CSP, CONSOLE_CSP, DOCS_CSP
from models.clock import ManualClock
from models.config import ServiceConfig
from tests.api.access import bearer
from tests.api.camera_feed import CAM_FIRE_LANE, CAM_WALKWAY, CameraFeed, minutes

LONE_SURROGATE_BODIES = [
    '{"to": "filed", "note": "\\ud800"}',
    '{"to": "\\ud800"}',  # echoed as the invalid enum value before
    '{"to": "filed", "\\ud800": 1}',  # an unknown field: the name is in the error's location
    '{"to": "filed", "attachments": ["/\\udfff"]}',
    '{"to": "filed", "note": "a\\u0000b"}',
]


@pytest.mark.parametrize("body", LONE_SURROGATE_BODIES)
def test_unencodable_text_is_a_422_never_a_500(client: TestClient, feed: CameraFeed, body: str) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)
    response = client.post(
        f"/incidents/{incident.id}/transitions", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert isinstance(problems, list) and problems
    assert all(set(p) == {"loc", "msg", "type"} and p["loc"][0] == "body" for p in problems)
    response.content.decode("utf-8")  # the answer itself is valid UTF-8
    assert client.get(f"/incidents/{incident.id}/transitions").json()[1:] == []  # nothing was recorded


def test_a_422_never_repeats_the_input(client: TestClient, feed: CameraFeed) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)
    secret = "hunter2-" + "x" * 5000  # too long for a note: what was sent is not sent back
    response = client.post(f"/incidents/{incident.id}/transitions", json={"to": "filed", "note": secret})
    assert response.status_code == 422 and "hunter2" not in response.text
    assert response.json()["detail"][0]["loc"] == ["body", "note"]


# ---------------------------------------------------------------------------------------------- body size


def test_a_body_over_the_limit_is_413_from_its_content_length(client: TestClient, feed: CameraFeed) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)
    body = json.dumps({"to": "filed", "note": "x" * (20 * 1024 * 1024)})  # 20 MB: read in full before, then 422
    started = time.monotonic()
    response = client.post(
        f"/incidents/{incident.id}/transitions", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413 and response.headers["content-type"].startswith("text/plain")
    assert time.monotonic() - started < 5


@dataclass
class Served:
    """The app behind a real uvicorn on a free port; counts the body bytes the app was handed, and the statuses
    it answered."""

    url: str
    body_bytes_read: int = 0
    statuses: list[int] = field(default_factory=list)


@pytest.fixture
def served(app: FastAPI) -> Iterator[Served]:
    served = Served(url="")

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        async def counted_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                served.body_bytes_read += len(message.get("body", b""))
            return message

        async def recorded_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                served.statuses.append(message["status"])
            await send(message)

        await app(scope, counted_receive, recorded_send)

    server = uvicorn.Server(uvicorn.Config(counting, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    served.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        yield served
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_chunked_body_is_cut_off_at_the_limit_not_read_in_full(
    served: Served, feed: CameraFeed, config: ServiceConfig, clock: ManualClock
) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)
    limit = config.server.max_body_bytes

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server only learns the size by reading
        yield b'{"to": "filed", "note": "'
        for _ in range(20):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    headers = {"content-type": "application/json", **bearer(config, "admin", clock.now())}
    with contextlib.suppress(httpx.HTTPError):  # the server may stop reading (and close) before all is sent
        response = httpx.post(f"{served.url}/incidents/{incident.id}/transitions", content=chunks(), headers=headers)
        assert response.status_code == 413
    assert served.statuses == [413]
    # the app stopped reading at the limit: 20 MiB before, then a 422
    assert limit < served.body_bytes_read <= limit + 256 * 1024, served.body_bytes_read


def test_a_body_under_the_limit_is_read(client: TestClient, feed: CameraFeed) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)
    response = client.post(f"/incidents/{incident.id}/transitions", json={"to": "filed", "note": "x" * 4000})
    assert response.status_code == 201
    step = response.json()
    assert (step["incident"]["status"], step["transition"]["note"]) == ("filed", "x" * 4000)  # read whole


# ---------------------------------------------------------------------------------------------- the schema's truth


@pytest.mark.parametrize("path", ["/incidents", "/incidents/geojson", "/stats"])
@pytest.mark.parametrize("value", ["0.5", "1700000000", "-1", "1e9"])
def test_a_number_is_not_a_time(client: TestClient, path: str, value: str) -> None:
    response = client.get(path, params={"opened_to": value})  # was read as a Unix time: 1970
    assert response.status_code == 422
    assert [p["loc"] for p in response.json()["detail"]] == [["query", "opened_to"]]


def test_a_number_is_not_a_time_for_open311(client: TestClient) -> None:
    response = client.get("/open311/v2/requests.json", params={"end_date": "0.5"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "end_date"]


def test_an_iso_time_is_still_a_time(client: TestClient) -> None:
    assert client.get("/incidents", params={"opened_to": "2030-01-01T00:00:00Z"}).status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "loc"),
    [
        ("/incidents", {"category": "arson"}, ["query", "category"]),
        ("/incidents", {"opened_from": "2026-01-01T00:00:00"}, ["query", "opened_from"]),  # no zone
        ("/open311/v2/requests.json", {"service_code": "arson"}, ["query", "service_code"]),
        ("/stats", {"grid": "330106999"}, ["query", "grid"]),
    ],
)
def test_every_422_detail_is_the_documented_list(client: TestClient, path: str, params: dict, loc: list) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == loc and problem["type"] == "value_error" and problem["msg"]


@pytest.mark.parametrize("field", ["department", "staff", "reason", "note"])
@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_step_text_is_refused_by_the_schema(client: TestClient, feed: CameraFeed, field: str, blank: str) -> None:
    incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=8)
    response = client.post(f"/incidents/{incident.id}/transitions", json={"to": "filed", field: blank})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["TransitionIn"]["properties"][field]
    pattern = next(option["pattern"] for option in schema["anyOf"] if option.get("type") == "string")
    assert not re.search(pattern, blank)  # the document says so too


def test_grid_codes_in_the_schema_have_the_configured_lengths(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    [grid] = [p for p in document["paths"]["/incidents"]["get"]["parameters"] if p["name"] == "grid"]
    pattern = next(option["pattern"] for option in grid["schema"]["anyOf"] if option.get("type") == "string")
    assert [bool(re.search(pattern, code)) for code in ("0", "330106", "330106001", "3301060", "330106001001001")] == [
        False, True, True, False, True,
    ]  # fmt: skip
    [code] = document["paths"]["/grids/{code}"]["get"]["parameters"]
    assert code["schema"]["pattern"] == pattern
    response = client.get("/incidents", params={"grid": "0"})  # schema-invalid, and refused
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "grid"]


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


OPEN_OPERATIONS = {("/healthz", "get"), ("/auth/token", "post")}


def test_the_schema_documents_the_errors_routes_answer(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert len(list(operations(document))) >= 25
    for path, method, operation in operations(document):
        responses = operation["responses"]
        if (path, method) not in OPEN_OPERATIONS:
            assert "401" in responses, f"{method} {path}"
        if "requestBody" in operation:
            assert {"413", "422"} <= set(responses), f"{method} {path}"
        if "{" in path:
            assert "404" in responses, f"{method} {path}"
        for status, response in responses.items():
            # FastAPI's body limit (413) and Starlette's range check of a file (416) answer in plain text
            if status in ("413", "416"):
                assert set(response["content"]) == {"text/plain"}, f"{method} {path}"
            elif status.startswith("4") and status != "422":
                [content] = response["content"].values()
                assert content["schema"] in (
                    {"$ref": "#/components/schemas/ErrorOut"},
                    {"$ref": "#/components/schemas/ConflictOut"},
                ), f"{method} {path} {status}"
    validation = document["components"]["schemas"]["ValidationErrorOut"]
    assert validation["properties"]["detail"]["type"] == "array"


def test_401_and_403_bodies_are_as_documented(anonymous: TestClient, client: TestClient, config, clock) -> None:
    assert anonymous.get("/incidents").json() == {"detail": "not authenticated"}
    viewer = bearer(config, "viewer", clock.now())
    response = client.get("/deliveries", headers=viewer)
    assert response.status_code == 403 and isinstance(response.json()["detail"], str)


def test_405_allow_lists_exactly_the_documented_methods(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path, methods in document["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x1", path)
        documented = {m.upper() for m in methods}
        undocumented = next(m for m in ("PATCH", "PUT", "DELETE", "POST") if m not in documented)
        response = client.request(undocumented, concrete)
        assert response.status_code == 405, f"{undocumented} {path}: {response.status_code}"
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert allowed - {"HEAD"} == documented, f"{path}: Allow {allowed}, documented {documented}"


# ---------------------------------------------------------------------------------------------- security headers


@pytest.mark.parametrize(
    ("path", "csp"),
    [
        ("/console/", CONSOLE_CSP),
        ("/console/app.js", CONSOLE_CSP),
        ("/docs", DOCS_CSP),
        ("/healthz", API_CSP),
        ("/incidents", API_CSP),
        ("/incidents/nope", API_CSP),  # a 404
        ("/no/such/route", API_CSP),
    ],
)
def test_every_response_has_the_security_headers(client: TestClient, path: str, csp: str) -> None:
    response = client.get(path)
    assert response.headers["content-security-policy"] == csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_unauthenticated_answers_have_them_too(anonymous: TestClient) -> None:
    response = anonymous.get("/incidents")
    assert response.status_code == 401 and response.headers["x-frame-options"] == "DENY"


# ---------------------------------------------------------------------------------------------- replay folders


def test_a_replay_outside_the_replay_folders_does_not_tell_whether_the_file_exists(client: TestClient, config) -> None:
    answers = []
    for clip in ("/etc/passwd", "/etc/no-such-file", "/", f"{config.replay_folders()[0]}/../../../etc/passwd"):
        response = client.post("/replays", json={"clip": clip, "camera": CAM_FIRE_LANE})
        assert response.status_code == 422, response.text
        answers.append(response.json())
    assert all(answer == answers[0] for answer in answers), answers
    [problem] = answers[0]["detail"]
    assert problem["loc"] == ["body", "clip"] and "must be in a replay folder" in problem["msg"]
    assert "passwd" not in json.dumps(answers[0])


def test_a_symlink_in_a_replay_folder_pointing_out_is_refused(client: TestClient, config) -> None:
    folder = config.replay_folders()[0]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sneaky.mp4").symlink_to("/etc/passwd")
    response = client.post("/replays", json={"clip": str(folder / "sneaky.mp4"), "camera": CAM_FIRE_LANE})
    assert response.status_code == 422 and "must be in a replay folder" in response.json()["detail"][0]["msg"]


def test_inside_a_replay_folder_the_clip_is_looked_at(client: TestClient, config) -> None:
    folder = config.replay_folders()[0]
    assert folder == (config.store.data_dir / "replays").resolve()  # the default
    response = client.post("/replays", json={"clip": str(folder / "missing.mp4"), "camera": CAM_FIRE_LANE})
    assert response.status_code == 422 and "clip not found" in response.json()["detail"][0]["msg"]
