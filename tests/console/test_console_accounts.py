"""The console's 用户与密钥 page in a real headless Chromium against the real service (one camera that never answers
and has no rule, so no model is loaded): an admin creates an operator and an API key, revokes the key, resets the
password and disables the user; the token is renewed before it expires; logging out revokes it; the camera wall
shows admins, and only them, the node serving each camera. Screenshots go to test-artifacts/console/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from selenium.webdriver.support.ui import Select

from tests.conftest import demo_raw_config
from tests.console.browser import Browser
from tests.e2e.service import Service, free_port

pytestmark = pytest.mark.slow

CAMERA = "dead"
TOKEN_TTL_S = 12  # short, so the test sees the console renew its token on its own


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("console-accounts")
    raw = demo_raw_config()
    raw["cameras"] = {
        CAMERA: {"name": "北山路口", "url": f"rtsp://127.0.0.1:{free_port()}/gone", "grid_cell": "330106001001001",
                 "rules": {"camera_offline": {"enabled": False}}},
    }  # fmt: skip
    raw["store"] = {"url": f"sqlite:///{tmp / 'xueliang.db'}", "data_dir": str(tmp / "data")}
    port = free_port()
    raw["server"] = {"host": "127.0.0.1", "port": port}
    raw["auth"]["token_ttl_minutes"] = TOKEN_TTL_S / 60
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    service = Service(config, port, tmp / "service.log")
    service.start()
    admin = operator = None
    try:
        admin = Browser(service.base, "admin")
        operator = Browser(service.base, "wang")
        yield {"service": service, "admin": admin, "operator": operator}
    finally:
        for browser in (admin, operator):
            if browser is not None:
                browser.quit()
        service.stop()


def token(browser: Browser) -> str:
    return str(browser.js("return sessionStorage.getItem('xueliang.token')"))


def status_as(service: Service, headers: dict[str, str]) -> int:
    return httpx.get(f"{service.base}/auth/me", headers=headers, timeout=10).status_code


def row(browser: Browser, kind: str, name: str) -> str:
    return f'#{kind}-rows tr[data-{"user" if kind == "users" else "key"}="{name}"]'


def test_an_admin_manages_users_and_keys_from_the_console(world):
    admin: Browser = world["admin"]
    operator: Browser = world["operator"]
    service: Service = world["service"]
    admin.open("/console/")
    admin.login("admin", "admin-demo")
    admin.wait(lambda: admin.visible("#users-tab"), "the users tab (admins only)")
    assert admin.text("#users-tab") == "用户与密钥"
    admin.click("#users-tab")
    admin.wait(lambda: admin.find_all(row(admin, "users", "beishan")), "the config's users")
    assert "配置文件中定义" in admin.text(row(admin, "users", "beishan"))

    # a new operator bound to 北山街道
    admin.find("#new-user-name").send_keys("wang.fang")
    admin.find("#new-user-password").send_keys("first-shift-1")
    Select(admin.find("#new-user-role")).select_by_value("operator")
    Select(admin.find("#new-user-grid")).select_by_value("330106001")
    admin.click('#new-user button[type="submit"]')
    admin.wait(lambda: admin.find_all(row(admin, "users", "wang.fang")), "the new user's row")
    assert "已新建用户 wang.fang" in admin.text(".users-message")

    operator.open("/console/")
    operator.login("wang.fang", "first-shift-1")
    assert "北山街道" in operator.text("#who") and "值班员" in operator.text("#who")
    assert not operator.visible("#users-tab")

    # an API key, shown once, works until revoked
    admin.find("#new-key-name").send_keys("gis-sync")
    Select(admin.find("#new-key-role")).select_by_value("viewer")
    admin.click('#new-key button[type="submit"]')
    key = admin.wait(lambda: admin.text("#new-key-value"), "the new key")
    assert status_as(service, {"X-API-Key": key}) == 200
    admin.screenshot("20-users-and-keys")
    admin.click(f'{row(admin, "keys", "gis-sync")} .key-revoke')
    admin.wait(lambda: admin.find(row(admin, "keys", "gis-sync")).get_attribute("data-revoked") == "true", "revoked")
    assert status_as(service, {"X-API-Key": key}) == 401

    # a password reset ends the operator's session: its console asks for the login again
    admin.find(f'{row(admin, "users", "wang.fang")} .user-password').send_keys("second-shift-2")
    admin.click(f'{row(admin, "users", "wang.fang")} .user-reset')
    admin.wait(lambda: "已重置" in admin.text(".users-message"), "the reset")
    operator.go("#/cameras")
    operator.wait(lambda: operator.visible("#login-form"), "the login form after the reset")
    operator.login("wang.fang", "second-shift-2")

    # disabled: its logins are refused
    admin.click(f'{row(admin, "users", "wang.fang")} .user-disable')
    admin.wait(lambda: admin.find(row(admin, "users", "wang.fang")).get_attribute("data-disabled") == "true",
               "disabled")  # fmt: skip
    operator.go("#/dashboard")
    operator.wait(lambda: operator.visible("#login-form"), "the login form after disabling")
    operator.find("#login-username").clear()
    operator.find("#login-username").send_keys("wang.fang")
    operator.find("#login-password").send_keys("second-shift-2")
    operator.click("#login-submit")
    operator.wait(lambda: "不正确" in operator.text("#login-error"), "the refusal")
    assert admin.errors() == [] and operator.errors() == []


def test_the_console_renews_its_token_and_logout_revokes_it(world):
    admin: Browser = world["admin"]
    service: Service = world["service"]
    first = token(admin)
    # the token lives 12 s: the console renews it at about 4/5 of that, and keeps working past the first expiry
    admin.wait(lambda: token(admin) != first, "a renewed token", 15)
    time.sleep(TOKEN_TTL_S / 2)
    assert status_as(service, {"Authorization": f"Bearer {first}"}) == 401  # the first one expired
    admin.go("#/cameras")
    admin.go("#/users")
    admin.wait(lambda: admin.find_all(row(admin, "users", "wang.fang")), "the users page, still logged in")
    renewed = token(admin)
    assert status_as(service, {"Authorization": f"Bearer {renewed}"}) == 200

    admin.click("#logout")
    admin.wait(lambda: admin.visible("#login-form"), "the login form")
    assert admin.js("return sessionStorage.getItem('xueliang.token')") is None
    assert status_as(service, {"Authorization": f"Bearer {renewed}"}) == 401  # revoked on the server
    assert admin.errors() == []


def test_the_camera_wall_shows_admins_the_node_serving_each_camera(world):
    admin: Browser = world["admin"]
    operator: Browser = world["operator"]
    admin.login("admin", "admin-demo")  # logged out by the test before
    admin.go("#/cameras")
    card = f'.camera-card[data-camera-id="{CAMERA}"]'
    node = admin.wait(lambda: admin.text(card + " .camera-node"), "the camera's node")
    assert node.startswith("服务节点: 单机 · ")  # the single-process mode: this service's host
    assert admin.find(card + " .camera-node").get_attribute("data-node-id") == "local"
    admin.screenshot("22-camera-wall-nodes")

    operator.login("beishan", "beishan-demo")  # an operator of the camera's street: the wall, without nodes
    operator.go("#/cameras")
    operator.wait(lambda: operator.find_all(card), "the operator's camera card")
    time.sleep(0.5)  # a moment in which a node badge would appear
    assert not operator.find_all(card + " .camera-node")
    assert admin.errors() == [] and operator.errors() == []
