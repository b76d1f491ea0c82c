"""Running it as an operations team would: password-guessing protection on POST /auth/token, users and API keys
kept in the store, token refresh and logout, the audit log. The service's clock is the tests' (no sleeps)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from ingest.health import CameraState
from models.clock import ManualClock
from models.config import ServiceConfig
from tests.api.access import PASSWORDS, api_key, bearer
from tests.api.camera_feed import (
    CAM_WALKWAY,
    CELL_WALKWAY,
    STREET_BEISHAN,
    STREET_LINGYIN,
    CameraFeed,
    minutes,
)
from tests.api.live_client import close_code, close_code_as_time_passes, next_heartbeat, next_message
from tests.api.test_delivery import delivery_config, running_app
from tests.models.conftest import db_url, postgres_admin  # noqa: F401 - the both-backends fixtures

NEW_PASSWORD = "night-shift-2026"


def login(client: TestClient, user: str, password: str, **kwargs: Any) -> Any:
    return client.post("/auth/token", data={"username": user, "password": password}, **kwargs)


def token_header(response: Any) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def audit(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/audit", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------- login throttling


def test_100_wrong_passwords_lock_the_user_out_until_the_lockout_passes(
    anonymous: TestClient, client: TestClient, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    answers = [login(anonymous, "admin", f"guess-{n}").status_code for n in range(100)]

    # 5 wrong passwords are checked (auth.login_throttle.max_failures_per_user), the 95 after them are refused
    assert answers == [401] * 5 + [429] * 95
    locked = login(anonymous, "admin", PASSWORDS["admin"])
    assert locked.status_code == 429  # the right password too, while locked out
    assert 0 < int(locked.headers["Retry-After"]) <= 60
    assert "access_token" not in locked.text
    # logged without the password; visible to admins
    lockout_lines = [r.getMessage() for r in caplog.records if "locked out" in r.getMessage()]
    assert lockout_lines == ["login: user 'admin' locked out for 60 s after 5 failed logins"]
    assert not any("guess-" in r.getMessage() or PASSWORDS["admin"] in r.getMessage() for r in caplog.records)
    lockouts = client.get("/auth/lockouts", params={"locked_only": True}).json()
    assert [(e["kind"], e["name"], e["failures"], e["locked"]) for e in lockouts] == [("user", "admin", 5, True)]
    assert login(anonymous, "viewer", "wrong").status_code == 401
    everything = client.get("/auth/lockouts").json()
    assert [(e["kind"], e["name"], e["failures"], e["locked"]) for e in everything] == [
        ("user", "admin", 5, True),  # the locked first
        ("address", "testclient", 6, False),  # 5 at admin, 1 at viewer: below the address limit (20)
        ("user", "viewer", 1, False),
    ]

    clock.advance(timedelta(seconds=61))
    assert login(anonymous, "admin", PASSWORDS["admin"]).status_code == 200
    # a good login starts the user's count over
    assert client.get("/auth/lockouts", params={"locked_only": True}).json() == []
    assert login(anonymous, "admin", "wrong").status_code == 401


def test_each_failure_after_a_lockout_doubles_it(anonymous: TestClient, clock: ManualClock) -> None:
    for _ in range(5):
        login(anonymous, "beishan", "wrong")
    clock.advance(timedelta(seconds=61))
    assert login(anonymous, "beishan", "wrong").status_code == 401  # the 6th: locked for 120 s
    clock.advance(timedelta(seconds=100))
    assert login(anonymous, "beishan", PASSWORDS["beishan"]).status_code == 429
    clock.advance(timedelta(seconds=21))
    assert login(anonymous, "beishan", PASSWORDS["beishan"]).status_code == 200


def test_guessing_many_user_names_from_one_address_locks_the_address(
    app: FastAPI, anonymous: TestClient, client: TestClient, clock: ManualClock
) -> None:
    # 20 failures from one address (max_failures_per_address), 4 per name: no name reaches its own limit
    names = ["nobody", "admin", "beishan", "lingyin", "viewer"]
    answers = [login(anonymous, name, "wrong").status_code for name in names for _ in range(4)]
    assert answers == [401] * 20
    assert login(anonymous, "viewer", PASSWORDS["viewer"]).status_code == 429
    locked = client.get("/auth/lockouts", params={"locked_only": True}).json()
    assert [(e["kind"], e["name"]) for e in locked] == [("address", "testclient")]
    # from another address the same user logs in
    with TestClient(app, client=("192.0.2.7", 50000)) as elsewhere:
        assert login(elsewhere, "viewer", PASSWORDS["viewer"]).status_code == 200
    clock.advance(timedelta(seconds=61))
    assert login(anonymous, "viewer", PASSWORDS["viewer"]).status_code == 200


def test_lockouts_and_unlocking_are_for_admins(
    anonymous: TestClient, client: TestClient, config: ServiceConfig, clock: ManualClock
) -> None:
    for _ in range(5):
        login(anonymous, "lingyin", "wrong")
    operator = bearer(config, "beishan", clock.now())
    assert client.get("/auth/lockouts", headers=operator).status_code == 403
    assert anonymous.get("/auth/lockouts").status_code == 401
    assert client.delete("/auth/lockouts/user/lingyin", headers=operator).status_code == 403

    assert client.delete("/auth/lockouts/user/lingyin").status_code == 204
    assert login(anonymous, "lingyin", PASSWORDS["lingyin"]).status_code == 200
    assert client.delete("/auth/lockouts/user/lingyin").status_code == 404
    actions = [e["action"] for e in audit(client, target="user:lingyin")]
    assert actions == ["auth.unlock", "auth.lockout"]


def test_the_lockout_and_store_accounts_work_on_both_backends(tmp_path: Path, db_url: str) -> None:  # noqa: F811
    """The same service on a SQLite file and on PostgreSQL: lockout, a store user, a revoked session."""
    config = delivery_config(tmp_path, db_url, {})
    with running_app(config) as (api, _feed):
        assert [login(api, "viewer", "wrong").status_code for _ in range(6)] == [401] * 5 + [429]
        created = api.post("/users", json={"name": "pg.user", "password": "long-enough-1", "role": "viewer"})
        assert created.status_code == 201
        session = token_header(login(api, "pg.user", "long-enough-1"))
        assert api.get("/auth/me", headers=session).status_code == 200
        assert api.post("/auth/logout", headers=session).status_code == 204
        assert api.get("/auth/me", headers=session).status_code == 401
        assert [e["action"] for e in audit(api, actor="pg.user")] == ["auth.logout", "auth.login"]


# ----------------------------------------------------------------------------------------- users in the store


def test_an_admin_creates_a_user_who_logs_in_then_resets_and_disables_it(
    anonymous: TestClient, client: TestClient, clock: ManualClock
) -> None:
    created = client.post(
        "/users", json={"name": "zhang.wei", "password": "first-pass-123", "role": "operator", "grid": STREET_BEISHAN}
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert (user["name"], user["role"], user["grid"], user["source"], user["disabled"]) == (
        "zhang.wei", "operator", STREET_BEISHAN, "store", False
    )
    assert "password" not in created.text and "argon2" not in created.text
    listed = {u["name"]: u["source"] for u in client.get("/users").json()}
    assert listed["zhang.wei"] == "store" and listed["admin"] == "config"

    old_session = token_header(login(anonymous, "zhang.wei", "first-pass-123"))
    me = anonymous.get("/auth/me", headers=old_session).json()
    assert me == {"name": "zhang.wei", "role": "operator", "grid": STREET_BEISHAN, "kind": "user"}
    # bound to 北山街道: another street does not exist for it
    assert anonymous.get(f"/grids/{STREET_LINGYIN}", headers=old_session).status_code == 404

    # bind to another subtree and role: effective at once
    changed = client.patch("/users/zhang.wei", json={"role": "viewer", "grid": CELL_WALKWAY})
    assert changed.status_code == 200
    assert anonymous.get("/auth/me", headers=old_session).json()["grid"] == CELL_WALKWAY

    # a password reset ends the sessions; the new password works, the old one does not
    clock.advance(timedelta(seconds=1))
    assert client.put("/users/zhang.wei/password", json={"password": NEW_PASSWORD}).status_code == 204
    assert anonymous.get("/auth/me", headers=old_session).status_code == 401
    assert login(anonymous, "zhang.wei", "first-pass-123").status_code == 401
    new_session = token_header(login(anonymous, "zhang.wei", NEW_PASSWORD))
    assert anonymous.get("/auth/me", headers=new_session).status_code == 200

    # disabling refuses its token and its logins
    clock.advance(timedelta(seconds=1))
    assert client.patch("/users/zhang.wei", json={"disabled": True}).json()["disabled"] is True
    assert anonymous.get("/auth/me", headers=new_session).status_code == 401
    assert login(anonymous, "zhang.wei", NEW_PASSWORD).status_code == 401
    assert client.patch("/users/zhang.wei", json={"disabled": False}).status_code == 200
    assert login(anonymous, "zhang.wei", NEW_PASSWORD).status_code == 200

    actions = [e["action"] for e in audit(client, target="zhang.wei")]
    assert actions == ["user.updated", "user.updated", "user.password_reset", "user.updated", "user.created"]
    assert all(NEW_PASSWORD not in str(e) and "first-pass" not in str(e) for e in audit(client))


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "admin", "password": "long-enough-1", "role": "viewer"}, 409),  # a config user
        ({"name": "incident-system", "password": "long-enough-1", "role": "viewer"}, 409),  # a config key
        ({"name": "x", "password": "short", "role": "viewer"}, 422),
        ({"name": "bad name", "password": "long-enough-1", "role": "viewer"}, 422),
        ({"name": "x", "password": "long-enough-1", "role": "superuser"}, 422),
        ({"name": "x", "password": "long-enough-1", "role": "viewer", "grid": "999"}, 422),
        ({"name": "x", "password": "long-enough-1", "role": "operator"}, 422),  # an operator needs a subtree
    ],
)
def test_bad_user_creations_are_refused(client: TestClient, body: dict[str, Any], status: int) -> None:
    assert client.post("/users", json=body).status_code == status


def test_an_operator_stays_bound_to_a_subtree(client: TestClient) -> None:
    body = {"name": "op", "password": "long-enough-1", "role": "viewer"}
    assert client.post("/users", json=body).status_code == 201
    assert client.patch("/users/op", json={"role": "operator"}).status_code == 422
    assert client.patch("/users/op", json={"role": "operator", "grid": STREET_BEISHAN}).status_code == 200
    assert client.patch("/users/op", json={"grid": None}).status_code == 422
    assert {u["name"]: u["grid"] for u in client.get("/users").json()}["op"] == STREET_BEISHAN


def test_config_users_cannot_be_changed_through_the_api(client: TestClient) -> None:
    assert client.patch("/users/beishan", json={"disabled": True}).status_code == 409
    assert client.put("/users/beishan/password", json={"password": NEW_PASSWORD}).status_code == 409
    assert client.patch("/users/nobody", json={"disabled": True}).status_code == 404


def test_user_administration_is_for_admins_and_a_subtree_admin_stays_in_its_subtree(
    anonymous: TestClient, client: TestClient, config: ServiceConfig, clock: ManualClock
) -> None:
    operator = bearer(config, "beishan", clock.now())
    assert client.get("/users", headers=operator).status_code == 403
    assert client.post("/users", headers=operator, json={"name": "x", "password": "long-enough-1",
                                                         "role": "viewer"}).status_code == 403  # fmt: skip
    assert anonymous.get("/users").status_code == 401
    assert anonymous.get("/api-keys").status_code == 401
    assert anonymous.get("/audit").status_code == 401

    # an admin of 北山街道 (itself created in the store) manages users inside 北山 only
    assert client.post("/users", json={"name": "beishan-admin", "password": "long-enough-1", "role": "admin",
                                        "grid": STREET_BEISHAN}).status_code == 201  # fmt: skip
    assert client.post("/users", json={"name": "lingyin-op", "password": "long-enough-1", "role": "operator",
                                        "grid": STREET_LINGYIN}).status_code == 201  # fmt: skip
    sub_admin = token_header(login(anonymous, "beishan-admin", "long-enough-1"))
    visible = {u["name"] for u in anonymous.get("/users", headers=sub_admin).json()}
    assert "lingyin-op" not in visible and "admin" not in visible and "beishan" in visible
    assert anonymous.patch("/users/lingyin-op", headers=sub_admin, json={"disabled": True}).status_code == 404
    refused = anonymous.post("/users", headers=sub_admin, json={"name": "y", "password": "long-enough-1",
                                                                "role": "viewer", "grid": STREET_LINGYIN})  # fmt: skip
    assert refused.status_code == 422
    assert anonymous.post("/users", headers=sub_admin, json={"name": "y", "password": "long-enough-1",
                                                             "role": "viewer"}).status_code == 422  # fmt: skip
    assert anonymous.post("/users", headers=sub_admin, json={"name": "y", "password": "long-enough-1",
                                                             "role": "viewer", "grid": CELL_WALKWAY}).status_code == 201  # fmt: skip
    # its audit log: only its subtree's events (not the root admin's creation of lingyin-op)
    targets = {e["target"] for e in anonymous.get("/audit", headers=sub_admin).json()["items"]}
    assert "lingyin-op" not in targets and "y" in targets


# ------------------------------------------------------------------------------------------------- API keys


def test_an_api_key_is_shown_once_works_and_is_refused_once_revoked(
    anonymous: TestClient, client: TestClient, feed: CameraFeed
) -> None:
    created = client.post("/api-keys", json={"name": "gis-sync", "role": "viewer", "grid": STREET_BEISHAN})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    listed = client.get("/api-keys").json()
    assert [k["name"] for k in listed] == ["gis-sync", "incident-system"]
    assert key not in client.get("/api-keys").text  # never shown again
    me = anonymous.get("/auth/me", headers={"X-API-Key": key}).json()
    assert me == {"name": "gis-sync", "role": "viewer", "grid": STREET_BEISHAN, "kind": "api_key"}
    assert anonymous.get(f"/grids/{STREET_LINGYIN}", headers={"X-API-Key": key}).status_code == 404
    feed.camera_status(CAM_WALKWAY, CameraState.ONLINE, minutes(0))
    with anonymous.websocket_connect(f"/ws?api_key={key}") as ws:
        assert next_message(ws)["type"] == "camera.status"  # accepted

    revoked = client.delete("/api-keys/gis-sync")
    assert revoked.status_code == 200 and revoked.json()["revoked_by"] == "admin"
    assert anonymous.get("/auth/me", headers={"X-API-Key": key}).status_code == 401
    with anonymous.websocket_connect(f"/ws?api_key={key}") as ws:
        assert close_code(ws)[0] == 4401
    assert client.delete("/api-keys/incident-system").status_code == 409  # the config's
    assert client.delete("/api-keys/nothing").status_code == 404
    assert anonymous.get("/auth/me", headers=api_key()).status_code == 200  # the config's key keeps working
    assert client.post("/api-keys", json={"name": "gis-sync", "role": "viewer"}).status_code == 409
    events = audit(client, target="gis-sync")
    assert [e["action"] for e in events] == ["api_key.revoked", "api_key.created"]
    assert key not in str(events)


# --------------------------------------------------------------------------------------- refresh and logout


def test_a_12_hour_shift_renews_its_token_and_logout_ends_it_for_rest_and_websocket(
    config: ServiceConfig, clock: ManualClock
) -> None:
    auth = config.auth.model_copy(update={"token_ttl_minutes": 60, "session_max_hours": 16})
    shift = config.model_copy(update={"auth": auth})
    with TestClient(create_app(shift, run_cameras=False, clock=clock)) as api:
        issued = login(api, "lingyin", PASSWORDS["lingyin"]).json()
        assert issued["expires_in"] == 3600
        headers = {"Authorization": f"Bearer {issued['access_token']}"}
        for _ in range(12 * 4):  # renewed every 15 minutes for 12 hours
            clock.advance(timedelta(minutes=15))
            renewed = api.post("/auth/refresh", headers=headers)
            assert renewed.status_code == 200, renewed.text
            headers = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
        assert api.get("/auth/me", headers=headers).status_code == 200
        # without renewal a token expires
        clock.advance(timedelta(minutes=61))
        assert api.get("/auth/me", headers=headers).status_code == 401
        assert api.post("/auth/refresh", headers=headers).status_code == 401

        # a session cannot be renewed past session_max_hours
        headers = token_header(login(api, "lingyin", PASSWORDS["lingyin"]))
        for _ in range(16):
            clock.advance(timedelta(minutes=59))
            renewed = api.post("/auth/refresh", headers=headers)
            headers = token_header(renewed)
        assert renewed.json()["expires_in"] < 3600  # the last one ends with the session
        clock.advance(timedelta(minutes=59))
        assert api.post("/auth/refresh", headers=headers).status_code == 401

        # logout revokes the session: the token and the one renewed from it, REST and websocket
        first = token_header(login(api, "lingyin", PASSWORDS["lingyin"]))
        second = token_header(api.post("/auth/refresh", headers=first))
        other = token_header(login(api, "lingyin", PASSWORDS["lingyin"]))  # another login (another console)
        assert api.post("/auth/logout", headers=second).status_code == 204
        for headers in (first, second):
            assert api.get("/auth/me", headers=headers).status_code == 401
            assert api.post("/auth/refresh", headers=headers).status_code == 401
            with api.websocket_connect("/ws", headers=headers) as ws:
                assert close_code(ws)[0] == 4401
        token = second["Authorization"].split()[1]
        with api.websocket_connect(f"/ws?access_token={token}") as ws:
            assert close_code(ws)[0] == 4401
        assert api.get("/auth/me", headers=other).status_code == 200
        assert api.post("/auth/logout", headers=second).status_code == 401


# ------------------------------------------------------------------------------------------------- audit log


def test_the_audit_log_records_logins_failures_and_closed_loop_steps(
    anonymous: TestClient, client: TestClient, feed: CameraFeed, config: ServiceConfig, clock: ManualClock
) -> None:
    assert login(anonymous, "beishan", "wrong").status_code == 401
    headers = token_header(login(anonymous, "beishan", PASSWORDS["beishan"]))
    opened = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), count=40)
    step = anonymous.post(
        f"/incidents/{opened.id}/transitions", headers=headers, json={"to": "rejected", "reason": "误报: 演练"}
    )
    assert step.status_code == 201, step.text

    events = audit(client)
    summary = [(e["action"], e["actor"], e["target"]) for e in events]
    assert summary == [
        ("incident.transition", "beishan", opened.id),
        ("auth.login", "beishan", None),
        ("auth.login_failed", "beishan", None),
    ]
    assert events[0]["details"] == {"action": "reject", "from": "reported", "to": "rejected"}
    assert events[0]["grid_code"] == opened.grid_code and events[0]["address"] == "testclient"
    assert "wrong" not in str(events) and PASSWORDS["beishan"] not in str(events)

    # filters and paging
    assert [e["action"] for e in audit(client, action="auth.login_failed")] == ["auth.login_failed"]
    page = client.get("/audit", params={"limit": 1, "offset": 1}).json()
    assert (page["total"], [e["action"] for e in page["items"]]) == (3, ["auth.login"])
    assert audit(client, since=clock.now().isoformat(), until=(clock.now() + timedelta(seconds=1)).isoformat()) == events
    assert audit(client, until=clock.now().isoformat()) == []
    assert client.get("/audit", params={"since": "2026-03-01T08:00:00"}).status_code == 422  # no zone
    assert client.get("/audit", params={"action": "nonsense"}).status_code == 422
    # admins only
    assert anonymous.get("/audit", headers=headers).status_code == 403


HEARTBEAT_S = 0.2


def test_open_websockets_close_when_their_login_or_key_is_revoked(config: ServiceConfig, clock: ManualClock) -> None:
    """A logout (or a revoked key) also ends connections already open, within a heartbeat interval; a token's
    expiry alone does not (the console renews its token; its connection lives on)."""
    quick = config.model_copy(
        update={"server": config.server.model_copy(update={"websocket_heartbeat_s": HEARTBEAT_S})}
    )
    with TestClient(create_app(quick, run_cameras=False, clock=clock)) as api:
        admin = bearer(config, "admin", clock.now())
        key = api.post("/api-keys", headers=admin, json={"name": "wall", "role": "viewer"}).json()["key"]
        session = token_header(login(api, "lingyin", PASSWORDS["lingyin"]))
        token = session["Authorization"].split()[1]
        with api.websocket_connect(f"/ws?access_token={token}") as by_token, api.websocket_connect(
            f"/ws?api_key={key}"
        ) as by_key:
            assert next_heartbeat(by_token, clock, HEARTBEAT_S)["type"] == "heartbeat"
            clock.set(clock.now() + timedelta(days=8))  # past the token's expiry: the connection stays
            assert next_heartbeat(by_token, clock, HEARTBEAT_S)["type"] == "heartbeat"  # checked: still valid
            assert next_heartbeat(by_token, clock, HEARTBEAT_S)["type"] == "heartbeat"
            clock.set(clock.now() - timedelta(days=8))
            assert api.post("/auth/logout", headers=session).status_code == 204
            assert close_code_as_time_passes(by_token, clock, HEARTBEAT_S) == 4401
            assert next_message(by_key)["type"] == "heartbeat"
            assert api.delete("/api-keys/wall", headers=admin).status_code == 200
            assert close_code_as_time_passes(by_key, clock, HEARTBEAT_S) == 4401
