"""Who may see what: 401 without credentials, 403 for the wrong role, 404 for another subtree's incident, on every
REST read and export and on the websocket; login, token expiry, wrong passwords, API keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from api.app import create_app
from api.cli import main as cli_main
from models.clock import ManualClock
from models.config import ServiceConfig
from models.incident import Incident
from models.push import LocalBroker, PushJournal
from models.store import Store
from tests.api.access import INCIDENT_SYSTEM_KEY, PASSWORDS, api_key, bearer
from tests.api.camera_feed import (
    CAM_FIRE_LANE,
    CAM_WALKWAY,
    CAM_YUQUAN,
    CELL_WALKWAY,
    CELL_YUQUAN,
    DISTRICT,
    STREET_BEISHAN,
    STREET_LINGYIN,
    T0,
    CameraFeed,
    demo_config,
    minutes,
)
from tests.api.live_client import assert_quiet, close_code, next_message

# Every protected read, with {beishan} / {lingyin} standing for an incident in that street.
READS = [
    "/cameras",
    f"/cameras/{CAM_WALKWAY}",
    "/grids",
    "/grids/geojson",
    f"/grids/{STREET_BEISHAN}",
    "/incidents",
    "/incidents/geojson",
    "/incidents/lifecycle",
    "/incidents/{beishan}",
    "/incidents/{beishan}/snapshot",
    "/incidents/{beishan}/clip.mp4",
    "/incidents/{beishan}/cap",
    "/incidents/{beishan}/transitions",
    "/stats",
    "/open311/v2/services.json",
    "/open311/v2/requests.json",
    "/open311/v2/requests/{beishan}.json",
    "/auth/me",
]
# Reads of one incident: another subtree's is 404 (as if it did not exist).
INCIDENT_READS = [
    "/incidents/{id}",
    "/incidents/{id}/snapshot",
    "/incidents/{id}/clip.mp4",
    "/incidents/{id}/cap",
    "/incidents/{id}/transitions",
    "/open311/v2/requests/{id}.json",
]


@dataclass(frozen=True)
class World:
    client: TestClient  # no credentials by default
    config: ServiceConfig
    feed: CameraFeed
    clock: ManualClock
    beishan: Incident  # a fire with a snapshot and a clip in 北山街道
    lingyin: Incident  # a crowd in 灵隐街道

    def path(self, template: str) -> str:
        return template.format(beishan=self.beishan.id, lingyin=self.lingyin.id, id="{id}")

    def as_user(self, user: str) -> dict[str, str]:
        return bearer(self.config, user, self.clock.now())


@pytest.fixture
def world(config: ServiceConfig, broker: LocalBroker, feed: CameraFeed, clock: ManualClock) -> Iterator[World]:
    beishan = feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(0), magnitude=6, snapshot=True, clip=True)
    lingyin = feed.open_incident(CAM_YUQUAN, "crowd", minutes(1), magnitude=8)
    with TestClient(create_app(config, run_cameras=False, broker=broker, clock=clock)) as client:
        yield World(client, config, feed, clock, beishan, lingyin)


# ------------------------------------------------------------------------------------------------------- 401


@pytest.mark.parametrize("path", READS)
def test_every_read_needs_credentials(world: World, path: str) -> None:
    response = world.client.get(world.path(path))

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic YWRtaW46YWRtaW4tZGVtbw=="},  # admin:admin-demo, but not how this API logs in
        {"X-API-Key": "wrong-key"},
        {"X-API-Key": INCIDENT_SYSTEM_KEY + "x"},
        {"X-API-Key": ""},
    ],
)
def test_bad_credentials_are_401(world: World, headers: dict[str, str]) -> None:
    assert world.client.get("/incidents", headers=headers).status_code == 401


def test_a_step_needs_credentials(world: World) -> None:
    response = world.client.post(f"/incidents/{world.beishan.id}/transitions", json={"to": "filed"})

    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/healthz", "/docs", "/openapi.json", "/redoc"])
def test_open_routes(world: World, path: str) -> None:
    assert world.client.get(path).status_code == 200


# ------------------------------------------------------------------------------------------- login and tokens


@pytest.mark.parametrize("user", ["admin", "beishan"])
def test_login_gives_a_token_that_works(world: World, user: str) -> None:
    response = world.client.post("/auth/token", data={"username": user, "password": PASSWORDS[user]})

    assert response.status_code == 200
    token = response.json()
    assert (token["token_type"], token["expires_in"]) == ("bearer", 7 * 24 * 3600)
    me = world.client.get("/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert me == {"name": user, "role": token["role"], "grid": token["grid"], "kind": "user"}


@pytest.mark.parametrize(
    ("username", "password"),
    [("admin", "wrong"), ("admin", ""), ("admin", PASSWORDS["beishan"]), ("nobody", "admin-demo"), ("", "x")],
)
def test_wrong_password_or_unknown_user_is_401(world: World, username: str, password: str) -> None:
    response = world.client.post("/auth/token", data={"username": username, "password": password})

    assert response.status_code in (401, 422)  # 422: an empty form field
    if username and password:
        assert response.status_code == 401
        assert response.json()["detail"] == "wrong user name or password"  # the same for both


def test_a_token_expires(world: World) -> None:
    headers = world.as_user("admin")
    assert world.client.get("/incidents", headers=headers).status_code == 200

    world.clock.advance(timedelta(days=7))  # the test config's token lifetime

    assert world.client.get("/incidents", headers=headers).status_code == 401


def test_a_token_signed_with_another_key_is_401(world: World) -> None:
    claims = jwt.decode(world.as_user("admin")["Authorization"][7:], options={"verify_signature": False})
    forged = jwt.encode(claims, "another-key-of-at-least-32-characters!!", algorithm="HS256")

    assert world.client.get("/incidents", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_a_token_of_a_removed_user_stops_working(world: World, tmp_path: Any) -> None:
    headers = world.as_user("beishan")
    users = {name: user for name, user in world.config.auth.users.items() if name != "beishan"}
    config = world.config.model_copy(update={"auth": world.config.auth.model_copy(update={"users": users})})

    with TestClient(create_app(config, run_cameras=False, clock=world.clock)) as client:
        assert client.get("/incidents", headers=headers).status_code == 401
        assert client.get("/incidents", headers=world.as_user("admin")).status_code == 200


def test_the_hash_password_helper_makes_a_hash_the_config_takes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from api.auth import password_hasher

    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert cli_main(["hash-password", "--stdin"]) == 0
    hashed = capsys.readouterr().out.strip()

    assert hashed.startswith("$argon2id$") and "a-long-password" not in hashed
    assert password_hasher().verify("a-long-password", hashed)


def test_the_new_api_key_helper_prints_a_key_and_the_sha256_the_config_takes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import hashlib

    from api.auth import new_api_key

    assert cli_main(["new-api-key"]) == 0
    printed = dict(line.split(":", 1) for line in capsys.readouterr().out.strip().splitlines())
    key, digest = printed["key"].strip(), printed["key_sha256"].strip()

    assert key.startswith("xl_") and len(key) > 40
    assert digest == hashlib.sha256(key.encode()).hexdigest()
    issued = new_api_key()
    assert issued.key != key and issued.key not in repr(issued)  # fresh each time; never in a repr (or a log)


# --------------------------------------------------------------------------------------------- grid scopes


@pytest.mark.parametrize("path", INCIDENT_READS)
def test_another_subtrees_incident_is_404(world: World, path: str) -> None:
    lingyin_path = path.format(id=world.lingyin.id)
    beishan_path = path.format(id=world.beishan.id)
    beishan, lingyin = world.as_user("beishan"), world.as_user("lingyin")

    assert world.client.get(lingyin_path, headers=beishan).status_code == 404
    assert world.client.get(beishan_path, headers=lingyin).status_code == 404
    # and the same answer as for an incident that does not exist
    assert world.client.get(path.format(id="0" * 32), headers=beishan).json()["detail"].startswith("unknown")
    assert world.client.get(beishan_path, headers=beishan).status_code == 200
    assert world.client.get(beishan_path, headers=world.as_user("admin")).status_code == 200


def test_another_subtrees_incident_cannot_be_stepped(world: World) -> None:
    response = world.client.post(
        f"/incidents/{world.lingyin.id}/transitions", json={"to": "filed"}, headers=world.as_user("beishan")
    )

    assert response.status_code == 404
    assert world.client.get(f"/incidents/{world.lingyin.id}", headers=world.as_user("admin")).json()["status"] == (
        "reported"
    )


@pytest.mark.parametrize(
    ("user", "grid", "expected"),
    [
        ("admin", None, ["lingyin", "beishan"]),
        ("viewer", None, ["lingyin", "beishan"]),
        ("beishan", None, ["beishan"]),
        ("beishan", DISTRICT, ["beishan"]),  # an ancestor narrows to the caller's subtree
        ("lingyin", None, ["lingyin"]),
        ("lingyin", CELL_YUQUAN, ["lingyin"]),
    ],
)
def test_lists_keep_to_the_callers_subtree(world: World, user: str, grid: str | None, expected: list[str]) -> None:
    params = {"grid": grid} if grid else {}
    headers = world.as_user(user)
    ids = {"beishan": world.beishan.id, "lingyin": world.lingyin.id}

    listed = world.client.get("/incidents", params=params, headers=headers).json()
    geojson = world.client.get("/incidents/geojson", params=params, headers=headers).json()
    open311 = world.client.get("/open311/v2/requests.json", params=params, headers=headers).json()
    stats = world.client.get("/stats", params=params, headers=headers).json()

    assert [i["id"] for i in listed["items"]] == [ids[name] for name in expected]
    assert [f["id"] for f in geojson["features"]] == [ids[name] for name in expected]
    assert [r["service_request_id"] for r in open311] == [ids[name] for name in expected]
    assert stats["total"] == len(expected)


@pytest.mark.parametrize("path", ["/incidents", "/incidents/geojson", "/open311/v2/requests.json", "/stats"])
def test_a_grid_filter_outside_the_subtree_is_like_an_unknown_cell(world: World, path: str) -> None:
    response = world.client.get(path, params={"grid": STREET_LINGYIN}, headers=world.as_user("beishan"))

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["query", "grid"], "msg": f"unknown grid cell {STREET_LINGYIN!r}", "type": "value_error"}
    ]


def test_cameras_and_grids_keep_to_the_callers_subtree(world: World) -> None:
    beishan = world.as_user("beishan")

    cameras = [c["id"] for c in world.client.get("/cameras", headers=beishan).json()]
    tree = world.client.get("/grids", headers=beishan).json()
    cells = {f["id"] for f in world.client.get("/grids/geojson", headers=beishan).json()["features"]}

    assert cameras == [CAM_WALKWAY, CAM_FIRE_LANE]
    assert world.client.get(f"/cameras/{CAM_YUQUAN}", headers=beishan).status_code == 404
    assert tree["code"] == STREET_BEISHAN
    assert all(code.startswith(STREET_BEISHAN) for code in cells) and CELL_WALKWAY in cells
    for path in (f"/grids/{STREET_LINGYIN}", f"/grids/{DISTRICT}", f"/grids/geojson?root={CELL_YUQUAN}"):
        assert world.client.get(path, headers=beishan).status_code == 404
    assert world.client.get(f"/grids/{CELL_WALKWAY}", headers=beishan).status_code == 200


# ------------------------------------------------------------------------------------------------------ roles


def test_a_viewer_reads_but_takes_no_step(world: World) -> None:
    viewer = world.as_user("viewer")

    assert world.client.get(f"/incidents/{world.beishan.id}", headers=viewer).status_code == 200
    response = world.client.post(f"/incidents/{world.beishan.id}/transitions", json={"to": "filed"}, headers=viewer)
    assert response.status_code == 403


def test_the_incident_system_posts_steps_with_its_api_key(world: World) -> None:
    response = world.client.post(
        f"/incidents/{world.lingyin.id}/transitions", json={"to": "filed", "note": "受理"}, headers=api_key()
    )

    assert response.status_code == 201
    assert response.json()["transition"]["actor"] == "incident-system"
    assert world.client.get("/auth/me", headers=api_key()).json() == {
        "name": "incident-system", "role": "incident-system", "grid": None, "kind": "api_key"
    }  # fmt: skip


# -------------------------------------------------------------------------------------------------- websocket


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("", {}),
        ("?access_token=nonsense", {}),
        ("?api_key=wrong", {}),
        ("", {"Authorization": "Bearer nonsense"}),
        ("", {"X-API-Key": "wrong"}),
    ],
)
def test_websocket_without_valid_credentials_is_refused_4401(world: World, query: str, headers: dict[str, str]) -> None:
    with world.client.websocket_connect(f"/ws{query}", headers=headers) as ws, pytest.raises(WebSocketDisconnect) as refused:
        ws.receive_text()  # nothing comes but the close

    assert refused.value.code == 4401


def test_websocket_with_an_expired_token_is_refused(world: World) -> None:
    token = world.as_user("admin")["Authorization"][7:]
    world.clock.advance(timedelta(days=8))

    with world.client.websocket_connect(f"/ws?access_token={token}") as ws, pytest.raises(WebSocketDisconnect) as refused:
        ws.receive_text()

    assert refused.value.code == 4401


@pytest.mark.parametrize(
    "credentials", ["query-token", "header-token", "query-key", "header-key"]
)
def test_websocket_credentials_by_header_or_query(world: World, credentials: str) -> None:
    token = world.as_user("admin")["Authorization"][7:]
    path, headers = {
        "query-token": (f"/ws?access_token={token}", {}),
        "header-token": ("/ws", {"Authorization": f"Bearer {token}"}),
        "query-key": (f"/ws?api_key={INCIDENT_SYSTEM_KEY}", {}),
        "header-key": ("/ws", api_key()),
    }[credentials]

    with world.client.websocket_connect(path, headers=headers) as ws:
        incident = world.feed.open_incident(CAM_WALKWAY, "crowd", minutes(5), magnitude=8)
        assert next_message(ws)["data"]["id"] == incident.id


def test_websocket_keeps_to_the_callers_subtree(world: World) -> None:
    with world.client.websocket_connect("/ws", headers=world.as_user("lingyin")) as ws:
        world.feed.open_incident(CAM_WALKWAY, "crowd", minutes(5), magnitude=8)  # 北山: not for lingyin
        yuquan = world.feed.open_incident(CAM_YUQUAN, "crowd", minutes(6), magnitude=8)
        received = next_message(ws)
        assert_quiet(ws)
    with world.client.websocket_connect("/ws?after=0", headers=world.as_user("lingyin")) as ws:
        replayed = [next_message(ws), next_message(ws)]
        assert_quiet(ws)

    assert received["data"]["id"] == yuquan.id
    assert [m["data"]["id"] for m in replayed] == [world.lingyin.id, yuquan.id]


@pytest.mark.parametrize("grid", [STREET_BEISHAN, CELL_WALKWAY])
def test_websocket_grid_outside_the_subtree_is_closed_1008(world: World, grid: str) -> None:
    with world.client.websocket_connect(f"/ws?grid={grid}", headers=world.as_user("lingyin")) as ws:
        code, received = close_code(ws)

    assert (code, received) == (1008, [])


def test_websocket_ancestor_grid_narrows_to_the_subtree(world: World) -> None:
    with world.client.websocket_connect(f"/ws?grid={DISTRICT}", headers=world.as_user("lingyin")) as ws:
        world.feed.open_incident(CAM_WALKWAY, "crowd", minutes(5), magnitude=8)
        yuquan = world.feed.open_incident(CAM_YUQUAN, "crowd", minutes(6), magnitude=8)
        assert next_message(ws)["data"]["id"] == yuquan.id
        assert_quiet(ws)


def test_other_stores_see_the_same_users(tmp_path: Any) -> None:
    """Users come from the config, not the store: a second API over another store accepts the same token."""
    config = demo_config(tmp_path)
    with Store(config.store.url.get_secret_value()) as store:
        store.migrate()
        CameraFeed(config, PushJournal(store, LocalBroker())).open_incident(CAM_WALKWAY, "crowd", T0, magnitude=8)
    with TestClient(create_app(config, run_cameras=False, clock=ManualClock(T0))) as client:
        assert client.get("/incidents", headers=bearer(config, "beishan", T0)).json()["total"] == 1
