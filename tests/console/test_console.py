"""The operator console in a real headless Chromium, against the whole service: real RTSP servers serving real
footage, the real models, the real store, uvicorn. One service and two browsers (one per operator) are shared by
the tests of this module, which run in file order like a shift: both operators log in, fire breaks out on a
北山街道 camera, its operator sees it arrive and verifies it, the 灵隐街道 operator never sees it.

Screenshots of each main view go to test-artifacts/console/ (look at them: they are how the console looks).

Cameras (the demo grid): `fire` (fire stills, 宝石山第二网格, its server started once the operators are watching),
`walkway` (vtest.avi pedestrians, 宝石山第一网格, crowd ≥ 3), `dead` (nothing listens: offline with a reason), all
in 北山街道 (operator beishan); `yuquan` (pedestrians, 玉泉第一网格 in 灵隐街道, operator lingyin).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import av
import httpx
import pytest
import yaml
from selenium.webdriver.support.ui import Select

from ingest.demo.footage import fire_clip, pedestrian_clip
from ingest.rtsp_server import LocalRtspServer
from models.store import Store
from tests.console.browser import Browser
from tests.console.network import CuttableLink
from tests.e2e.service import Service, free_port, service_config

pytestmark = pytest.mark.slow

USER, PASSWORD = "xl-cam", "Cam-Pa55word"
CELL_A, CELL_B, CELL_YUQUAN = "330106001001001", "330106001001002", "330106002001001"
FAST_RECONNECT = {"open_timeout_s": 3, "read_timeout_s": 2, "stall_timeout_s": 2, "backoff_initial_s": 0.2,
                  "backoff_max_s": 1.0}  # fmt: skip
NO_FAULT = {"camera_offline": {"enabled": False}}
CLIPS = {"pre_s": 3.0, "post_s": 4.0}  # event clips, short to keep the shift lean
PROBE_S = 1.0  # what FFmpeg buffers while probing an RTSP connection (ingest/sources.py analyzeduration)


def camera(name: str, url: str, grid_cell: str, lat: float, lon: float, rules: dict[str, Any],
           fps: float = 1.0) -> dict[str, Any]:  # fmt: skip
    return {"name": name, "url": url, "grid_cell": grid_cell, "lat": lat, "lon": lon, "analysis_fps": fps,
            "stream": FAST_RECONNECT, "rules": {**rules, **NO_FAULT}}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("console")
    pedestrians = LocalRtspServer(user=USER, password=PASSWORD)
    pedestrians.add_stream("walkway", pedestrian_clip())
    fire = LocalRtspServer(port=free_port(), user=USER, password=PASSWORD)  # started by the fire test
    fire.add_stream("warehouse", fire_clip())
    crowd = {"crowd": {"min_people": 3, "open_after_s": 2}}
    with pedestrians:
        pedestrians.start()
        pedestrians.wait_ready(30)
        cameras = {
            "fire": camera("仓库消防通道", fire.url("warehouse"), CELL_B, 30.265, 120.145,
                           {"fire_smoke": {"window_frames": 4, "min_hits": 3, "clear_frames": 6}}, fps=2),
            "walkway": {**camera("宝石山步行道", pedestrians.url("walkway"), CELL_A, 30.265, 120.135, crowd),
                        "zones": {"plaza": {"polygon": [[420, 150], [768, 150], [768, 330], [420, 330]]}},
                        "lines": {"sign_post": {"points": [[310, 180], [310, 370]]}}},
            "dead": camera("北山路口", f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/gone", CELL_A,
                           30.262, 120.132, {}),
            "yuquan": camera("玉泉广场", pedestrians.url("walkway"), CELL_YUQUAN, 30.245, 120.09, crowd),
        }  # fmt: skip
        port = free_port()
        service = Service(service_config(tmp, cameras, port, clips=CLIPS), port, tmp / "service.log")
        service.start()
        link = CuttableLink(port)  # beishan's network, which a test cuts
        beishan = lingyin = None
        try:
            beishan = Browser(link.base, "beishan")
            lingyin = Browser(service.base, "lingyin")
            yield {"service": service, "fire": fire, "beishan": beishan, "lingyin": lingyin, "link": link,
                   "seen": {}}  # fmt: skip
        finally:
            for browser in (beishan, lingyin):
                if browser is not None:
                    browser.quit()
            link.close()
            service.stop()
            fire.stop()


def feed_ids(browser: Browser, category: str | None = None) -> list[str]:
    selector = "#feed-list li" + (f'[data-category="{category}"]' if category else "")
    return [str(li.get_attribute("data-incident-id")) for li in browser.find_all(selector)]


def api_as(service: Service, user: str) -> httpx.Client:
    return httpx.Client(base_url=service.base, headers=service.login(user, f"{user}-demo"), timeout=10)


# ------------------------------------------------------------------------------------------------- tests


def test_the_root_leads_to_the_console_and_a_wrong_password_is_refused(world):
    beishan: Browser = world["beishan"]
    beishan.open("/")
    assert beishan.driver.current_url.endswith("/console/")
    beishan.wait(lambda: beishan.visible("#login-form"), "login form")
    assert "登录" in beishan.text("#login-submit")  # Chinese first
    beishan.screenshot("01-login")
    beishan.find("#login-username").send_keys("beishan")
    beishan.find("#login-password").send_keys("not-the-password")
    beishan.click("#login-submit")
    beishan.wait(lambda: "不正确" in beishan.text("#login-error"), "refusal")
    assert not beishan.visible("#console")
    assert beishan.find("#login-password").get_attribute("value") == ""


def test_each_operator_logs_in_to_their_own_grid(world):
    beishan: Browser = world["beishan"]
    lingyin: Browser = world["lingyin"]
    beishan.login("beishan", "beishan-demo")
    lingyin.open("/console/")
    lingyin.login("lingyin", "lingyin-demo")
    for browser, own, other in ((beishan, "北山街道", "灵隐街道"), (lingyin, "灵隐街道", "北山街道")):
        assert own in browser.text("#who") and "值班员" in browser.text("#who")
        cells = [o.text.strip() for o in browser.find_all("#filter-grid option")]
        assert own in cells and other not in cells
        browser.wait(lambda b=browser: b.find("#link-state").get_attribute("data-state") == "open", "live link")
        browser.js("window.sameDocument = true")  # gone if the page ever reloads
    # the map, the default view, shows each operator only their own subtree
    beishan.wait(lambda: beishan.find_all(f'.grid-map g.cell[data-code="{CELL_B}"]'), "beishan's map")
    lingyin.wait(lambda: lingyin.find_all('.grid-map g.cell[data-code="330106002"]'), "lingyin's map")
    assert not lingyin.find_all(f'.grid-map g.cell[data-code="{CELL_B}"]')
    assert not lingyin.find_all('.grid-map g.camera-point[data-camera-id="fire"]')


def test_a_fire_on_camera_appears_in_the_feed_without_a_reload(world):
    beishan: Browser = world["beishan"]
    world["fire"].start()  # the camera has been retrying; its first frame is a fire frame
    ids = beishan.wait(lambda: feed_ids(beishan, "fire_hazard"), "fire incident in the feed", 90)
    incident_id = ids[0]
    world["seen"]["fire"] = incident_id
    assert beishan.js("return window.sameDocument") is True  # it arrived over the websocket
    item = beishan.find(f'#feed-list li[data-incident-id="{incident_id}"]')
    assert "火灾隐患" in item.text and "待核实" in item.text and "仓库消防通道" in item.text
    severity = item.get_attribute("data-severity")
    assert severity in {"A", "B"}
    if severity == "A":  # a new A-level incident is announced: banner (and a WebAudio alarm)
        assert beishan.visible("#alarm") and "A 级" in beishan.text("#alarm")
        assert beishan.js("return document.body.dataset.alarms") == "1"
    # the incidents are the newest first
    opened = [beishan.js("return arguments[0].querySelector('time').getAttribute('datetime')", li)
              for li in beishan.find_all("#feed-list li")]  # fmt: skip
    assert opened == sorted(opened, reverse=True)
    beishan.screenshot("02-feed-live-fire")


def test_the_operator_opens_the_incident_and_verifies_it(world):
    beishan: Browser = world["beishan"]
    incident_id = world["seen"]["fire"]
    if beishan.visible("#alarm button"):
        beishan.click("#alarm button")
    beishan.click(f'#feed-list li[data-incident-id="{incident_id}"] a')
    beishan.wait(lambda: beishan.visible("#incident-status"), "incident view")
    beishan.wait(lambda: beishan.js("const i = document.getElementById('incident-snapshot');"
                                    "return i && i.complete && i.naturalWidth > 0"), "evidence snapshot")  # fmt: skip
    view = beishan.text(".incident-view")
    for expected in ("安全生产 / 火灾隐患", "仓库消防通道", "西湖区 › 北山街道 › 宝石山社区 › 宝石山第二网格",
                     "西湖区消防救援大队", "待核实", "尚无处置记录"):  # fmt: skip
        assert expected in view
    assert beishan.find("#incident-deadline").get_attribute("data-light") == "green"
    actions = {b.get_attribute("data-action") for b in beishan.find_all(".step-buttons button")}
    assert actions == {"file", "reject"}  # what an operator may do with a reported incident
    beishan.screenshot("03-incident-reported")

    beishan.click('.step-buttons button[data-action="file"]')
    beishan.find('.step-fields textarea[name="note"]').send_keys("监控核实，确有明火")
    beishan.click("#step-confirm")
    beishan.wait(lambda: beishan.text("#incident-status") == "已立案", "status filed")
    history = beishan.wait(lambda: beishan.text("#incident-history"), "history")
    assert "核实立案" in history and "beishan" in history and "监控核实，确有明火" in history
    actions = {b.get_attribute("data-action") for b in beishan.find_all(".step-buttons button")}
    assert actions == {"dispatch"}
    # the feed shows the new status too, and the API agrees
    beishan.wait(lambda: beishan.find(f'#feed-list li[data-incident-id="{incident_id}"]').get_attribute("data-status")
                 == "filed", "feed status")  # fmt: skip
    with api_as(world["service"], "beishan") as api:
        assert api.get(f"/incidents/{incident_id}").json()["status"] == "filed"
    beishan.screenshot("04-incident-filed")


def test_the_incident_view_plays_the_event_clip(world, tmp_path):
    """Chromium plays the clip (HAVE_CURRENT_DATA, then its time runs); its length is pre_s + post_s where the
    stream was that long, else what the camera gave: from its first packet (the fire camera came up with the fire
    already burning; its first packets are the second FFmpeg buffered while probing the connection, before the
    camera was online) to post_s after the opening frame. Either way within 1 s (a GOP of this footage)."""
    beishan: Browser = world["beishan"]
    incident_id = world["seen"]["fire"]
    ready = beishan.wait(lambda: beishan.js("const v = document.getElementById('incident-clip');"
                                            "return v && v.readyState >= 2 && v.duration"), "clip playable", 60)  # fmt: skip
    beishan.js("document.getElementById('incident-clip').play()")
    beishan.wait(lambda: beishan.js("return document.getElementById('incident-clip').currentTime") > 0.5,
                 "clip playing")  # fmt: skip
    with api_as(world["service"], "beishan") as api:
        incident = api.get(f"/incidents/{incident_id}").json()
        clip = api.get(incident["clip_url"])
        camera = api.get("/cameras/fire").json()
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip.content)
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
        stream = container.streams.video[0]
        held = float((frames[-1].pts - frames[0].pts) * stream.time_base) + 0.1  # + one frame at 10 fps
    opened = datetime.fromisoformat(incident["opened_at"]).timestamp()
    came_up = datetime.fromisoformat(camera["status"]["since"]).timestamp()  # online since its first frame
    expected = CLIPS["post_s"] + min(CLIPS["pre_s"], opened - (came_up - PROBE_S))
    assert abs(held - expected) <= 1.0, (held, expected)
    assert abs(float(ready) - held) <= 0.2  # what Chromium plays is what the file holds
    beishan.screenshot("04b-incident-clip")


def test_the_operator_of_another_grid_never_sees_it(world):
    lingyin: Browser = world["lingyin"]
    incident_id = world["seen"]["fire"]
    assert lingyin.js("return window.sameDocument") is True
    assert incident_id not in feed_ids(lingyin) and not feed_ids(lingyin, "fire_hazard")
    assert incident_id not in lingyin.driver.page_source
    assert not lingyin.find_all('.grid-map g.camera-point[data-camera-id="fire"]')
    lingyin.screenshot("05-map-lingyin")
    lingyin.go(f"#/incidents/{incident_id}")  # even by its address
    lingyin.wait(lambda: lingyin.visible("#incident-not-found"), "not-found notice")
    assert "不在您的网格范围内" in lingyin.text("#incident-not-found")
    assert "火灾" not in lingyin.text(".incident-view")
    lingyin.go("#/map")


def test_the_feed_resumes_without_gaps_after_the_network_drops(world):
    beishan: Browser = world["beishan"]
    incident_id = world["seen"]["fire"]
    beishan.go(f"#/incidents/{incident_id}")
    beishan.wait(lambda: beishan.text("#incident-status") == "已立案", "incident view")
    link: CuttableLink = world["link"]
    link.cut()
    try:
        beishan.wait(lambda: beishan.find("#link-state").get_attribute("data-state") == "retry", "link down", 20)
        with api_as(world["service"], "admin") as api:  # meanwhile, the command centre dispatches it
            response = api.post(f"/incidents/{incident_id}/transitions",
                                json={"to": "dispatched", "department": "西湖区消防救援大队", "staff": "张队"})  # fmt: skip
            assert response.status_code == 201, response.text
        time.sleep(1)
        assert beishan.find(f'#feed-list li[data-incident-id="{incident_id}"]').get_attribute("data-status") == "filed"
    finally:
        link.restore()
    beishan.wait(lambda: beishan.find("#link-state").get_attribute("data-state") == "open", "link back", 40)
    beishan.wait(lambda: beishan.find(f'#feed-list li[data-incident-id="{incident_id}"]').get_attribute("data-status")
                 == "dispatched", "the step taken while offline")  # fmt: skip
    beishan.wait(lambda: beishan.text("#incident-status") == "已派遣", "incident view updated")
    assert "张队" in beishan.text(".incident-view")
    assert beishan.js("return window.sameDocument") is True


def test_the_console_reloads_when_what_it_missed_was_pruned(world):
    """Offline for longer than the server keeps messages: the resume is refused (close code 4410) and the console
    loads afresh, as after login (lists, then a new link), instead of retrying a resume point that is gone."""
    beishan: Browser = world["beishan"]
    service: Service = world["service"]
    link: CuttableLink = world["link"]
    beishan.js("window.linkBefore = window.xueliangLink")
    link.cut()
    try:
        beishan.wait(lambda: beishan.find("#link-state").get_attribute("data-state") == "retry", "link down", 20)
        # Meanwhile two messages the console misses (the dead camera's status, as it is), and the server prunes
        # everything older than tomorrow: the first of them goes.
        url = yaml.safe_load(service.config_path.read_text(encoding="utf-8"))["store"]["url"]
        with Store(url) as store:
            dead = next(m for m in store.push_log.latest_camera_messages() if m.camera_id == "dead")
            status = next(s for s in store.cameras.statuses() if s.camera_id == "dead")
            for _ in range(2):
                store.cameras.record(status, dead.grid_code, dead.data)
            missed_from = beishan.js("return window.xueliangLink.lastSeq")
            assert store.push_log.prune(datetime.now(UTC) + timedelta(days=1)) > 0
            assert store.push_log.pruned_through_seq() > missed_from
    finally:
        link.restore()
    beishan.wait(lambda: beishan.js("return window.xueliangLink !== window.linkBefore"), "console reloaded", 40)
    beishan.wait(lambda: beishan.find("#link-state").get_attribute("data-state") == "open", "new link open", 20)
    assert world["seen"]["fire"] in feed_ids(beishan)
    assert beishan.js("return window.sameDocument") is True  # reloaded its lists, not the page


def test_the_operator_redispatches_it_from_the_incident_view(world):
    """Dispatched by the command centre meanwhile (see the network test); the operator sends it to another team
    with the dispatch form, prefilled with the current assignee."""
    beishan: Browser = world["beishan"]
    incident_id = world["seen"]["fire"]
    beishan.go(f"#/incidents/{incident_id}")
    beishan.wait(lambda: beishan.text("#incident-status") == "已派遣", "dispatched incident")
    actions = {b.get_attribute("data-action") for b in beishan.find_all(".step-buttons button")}
    assert "redispatch" in actions
    beishan.click('.step-buttons button[data-action="redispatch"]')
    department = beishan.find('.step-fields input[name="department"]')
    assert department.get_attribute("value") == "西湖区消防救援大队"
    staff = beishan.find('.step-fields input[name="staff"]')
    staff.clear()
    staff.send_keys("李班长")
    beishan.find('.step-fields textarea[name="note"]').send_keys("张队在处置另一起警情，改派")
    beishan.click("#step-confirm")
    beishan.wait(lambda: "李班长" in beishan.text("#incident-history"), "the redispatch in the history")
    assert beishan.text("#incident-status") == "已派遣"
    with api_as(world["service"], "beishan") as api:
        incident = api.get(f"/incidents/{incident_id}").json()
        steps = api.get(f"/incidents/{incident_id}/transitions").json()
    assert (incident["assignee_department"], incident["assignee_staff"]) == ("西湖区消防救援大队", "李班长")
    assert steps[-1]["actor"] == "beishan" and steps[-1]["note"] == "张队在处置另一起警情，改派"


def test_camera_wall_shows_health_errors_fps_and_pictures(world):
    beishan: Browser = world["beishan"]
    service: Service = world["service"]
    beishan.go("#/cameras")
    beishan.wait(lambda: len(beishan.find_all(".camera-card")) == 3, "three camera cards")
    assert not beishan.find_all('.camera-card[data-camera-id="yuquan"]')
    card = '.camera-card[data-camera-id="{}"]'.format
    beishan.wait(lambda: beishan.find(card("fire")).get_attribute("data-state") == "online", "fire camera online")
    beishan.wait(lambda: beishan.find(card("dead")).get_attribute("data-state") in {"offline", "connecting"}
                 and "最近错误" in beishan.text(card("dead")), "dead camera's error")  # fmt: skip
    for camera_id in ("fire", "walkway"):
        beishan.wait(lambda c=camera_id: beishan.js(
            "const i = document.querySelector(arguments[0]); return i && i.complete && i.naturalWidth > 0",
            card(c) + " img.thumb"), f"{camera_id} thumbnail", 20)  # fmt: skip
        beishan.wait(lambda c=camera_id: "分析帧率\n—" not in beishan.text(card(c)), f"{camera_id} fps", 20)
    assert PASSWORD not in beishan.driver.page_source
    # what each camera watches, drawn over its picture in the analysed frame's pixels (768x576 for vtest)
    overlay = card("walkway") + " svg.overlay"
    beishan.wait(lambda: beishan.find_all(overlay), "the walkway's zones and lines drawn", 20)
    assert beishan.js("return document.querySelector(arguments[0]).getAttribute('viewBox')", overlay) == "0 0 768 576"
    assert [g.get_attribute("data-name") for g in beishan.find_all(overlay + " g.zone")] == ["plaza"]
    assert [g.get_attribute("data-name") for g in beishan.find_all(overlay + " g.line")] == ["sign_post"]
    assert not beishan.find_all(card("fire") + " svg.overlay")  # nothing configured, nothing drawn
    picture, plaza, line = beishan.js(
        "const r = (s) => { const b = document.querySelector(s).getBoundingClientRect();"
        " return [b.left, b.top, b.width, b.height]; };"
        "return [r(arguments[0] + ' img.thumb'), r(arguments[0] + ' g.zone polygon'), r(arguments[0] + ' g.line polyline')]",
        card("walkway"))  # fmt: skip
    left, top, width, height = picture
    assert abs(plaza[0] - (left + width * 420 / 768)) < 3 and abs(plaza[0] + plaza[2] - (left + width)) < 3
    assert abs(plaza[1] - (top + height * 150 / 576)) < 3 and abs(plaza[3] - height * 180 / 576) < 3
    assert abs(line[0] - (left + width * 310 / 768)) < 3 and abs(line[3] - height * 190 / 576) < 3
    beishan.screenshot("06-camera-wall")

    # the thumbnail route is scoped like every camera read
    with api_as(service, "beishan") as api, api_as(service, "lingyin") as other:
        thumbnail = api.get("/cameras/fire/thumbnail")
        assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8"
        assert thumbnail.headers["content-type"] == "image/jpeg"
        assert other.get("/cameras/fire/thumbnail").status_code == 404
        assert api.get("/cameras/dead/thumbnail").status_code == 404  # no frame, ever
        # the counters move while the health stays the same (refreshed every few seconds, no message)
        before = api.get("/cameras/fire").json()["status"]
        time.sleep(6)
        after = api.get("/cameras/fire").json()["status"]
        assert after["state"] == before["state"] == "online" and after["since"] == before["since"]
        assert after["frames_decoded"] > before["frames_decoded"] and after["analysed_fps"] > 0


def test_map_shows_cells_cameras_and_open_incidents(world):
    beishan: Browser = world["beishan"]
    beishan.go("#/map")
    cell_b = beishan.wait(lambda: beishan.find_all(f'.grid-map g.cell[data-code="{CELL_B}"]'), "map")[0]
    beishan.wait(lambda: int(cell_b.get_attribute("data-open")) >= 1, "open incident on the fire's cell")
    states = {p.get_attribute("data-camera-id"): p.get_attribute("data-state")
              for p in beishan.find_all(".grid-map g.camera-point")}  # fmt: skip
    assert set(states) == {"fire", "walkway", "dead"}
    assert states["fire"] == "online" and states["dead"] in {"offline", "connecting"}
    assert not beishan.find_all('.grid-map g.cell[data-code="330106002"]')
    # clicking a cell filters the feed to it
    beishan.js("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", cell_b)
    beishan.wait(lambda: beishan.find("#filter-grid").get_attribute("value") == CELL_B, "grid filter")
    assert feed_ids(beishan) and set(feed_ids(beishan)) <= set(feed_ids(beishan, "fire_hazard"))
    beishan.screenshot("07-map-beishan-filtered")
    Select(beishan.find("#filter-grid")).select_by_value("")
    beishan.wait(lambda: world["seen"]["fire"] in feed_ids(beishan) and len(feed_ids(beishan)) > 1, "whole feed")


def test_rejecting_a_false_alarm_needs_a_reason_and_counts_on_the_dashboard(world):
    beishan: Browser = world["beishan"]
    crowd_ids = beishan.wait(lambda: feed_ids(beishan, "crowd_gathering"), "a crowd incident", 60)
    # the category filter keeps the feed to one kind of incident
    Select(beishan.find("#filter-category")).select_by_value("crowd_gathering")
    assert feed_ids(beishan) == feed_ids(beishan, "crowd_gathering") and "火灾隐患" not in beishan.text("#feed-list")
    Select(beishan.find("#filter-category")).select_by_value("")
    assert set(feed_ids(beishan, "fire_hazard")) >= {world["seen"]["fire"]}
    beishan.go(f"#/incidents/{crowd_ids[-1]}")
    beishan.wait(lambda: beishan.text("#incident-status") == "待核实", "crowd incident")
    beishan.click('.step-buttons button[data-action="reject"]')
    beishan.click("#step-confirm")  # no reason: the form does not go
    time.sleep(0.5)
    assert beishan.text("#incident-status") == "待核实"
    beishan.find('.step-fields input[name="reason"]').send_keys("行人正常通行，非聚集")
    beishan.click("#step-confirm")
    beishan.wait(lambda: beishan.text("#incident-status") == "误报", "rejected")
    assert "行人正常通行，非聚集" in beishan.text("#incident-history")
    assert not beishan.find_all(".step-buttons button")  # rejected is final

    beishan.go("#/dashboard")
    beishan.wait(lambda: beishan.text('[data-tile="false_rate"] .tile-value') == "50%", "false-alarm rate")
    with api_as(world["service"], "beishan") as api:
        stats = api.get("/stats").json()
    # one snapshot of the page: the dashboard redraws itself on each incident change (an element read one at a
    # time may be replaced in between, and read as empty)
    shown = beishan.js(
        "const q = (css) => document.querySelector(css)?.textContent ?? '';"
        "return {total: q('[data-tile=\"total\"] .tile-value'), overdue: q('[data-tile=\"overdue\"] .tile-value'),"
        " category: q('#dash-by-category'), grid: q('#dash-by-grid')}"
    )
    assert shown["total"] == str(stats["total"]) and shown["overdue"] == "0", shown
    assert "火灾隐患" in shown["category"] and "人员聚集" in shown["category"], shown
    assert "宝石山第二网格" in shown["grid"] and "灵隐" not in shown["grid"], shown
    # the bars' widths are styles set from script: the CSP (no 'unsafe-inline') must let them through, and each
    # bar is drawn at its share of the cell (a blocked style leaves a full-width block)
    bars = beishan.js(
        "return [...document.querySelectorAll('#dash-by-category .bar')]"
        ".map(b => [b.style.width, b.offsetWidth / b.parentElement.clientWidth])"
    )
    assert bars and all(width.endswith("%") for width, _ in bars), bars
    assert all(abs(float(width[:-1]) / 100 - drawn) < 0.05 for width, drawn in bars), bars
    beishan.screenshot("08-dashboard")


def test_the_language_switches_to_english_and_stays(world):
    beishan: Browser = world["beishan"]
    beishan.go("#/dashboard")
    beishan.click(".session .lang-switch")
    beishan.wait(lambda: beishan.text(".feed-head h2") == "Live incidents", "English feed title")
    assert beishan.text('.tabs a[data-view="map"]') == "Grid map"
    beishan.wait(lambda: "False-alarm rate" in beishan.text(".dashboard-view"), "English dashboard")
    assert "Fire hazard" in beishan.text("#feed-list")
    beishan.screenshot("09-dashboard-english")
    beishan.driver.refresh()  # the choice (and the session) survive a reload
    beishan.wait(lambda: beishan.text(".feed-head h2") == "Live incidents", "English after reload")
    beishan.go(f"#/incidents/{world['seen']['fire']}")
    beishan.wait(lambda: beishan.text("#incident-status") == "Dispatched", "English incident view")
    beishan.screenshot("10-incident-english")
    beishan.click(".session .lang-switch")
    beishan.wait(lambda: beishan.text(".feed-head h2") == "实时事件", "Chinese again")


def test_the_other_operator_still_saw_nothing_of_it_and_no_page_failed(world):
    lingyin: Browser = world["lingyin"]
    fire_id = world["seen"]["fire"]
    assert lingyin.js("return window.sameDocument") is True
    assert not feed_ids(lingyin, "fire_hazard") and fire_id not in lingyin.driver.page_source
    assert all(item.get_attribute("data-camera-id") == "yuquan" for item in lingyin.find_all("#feed-list li"))
    lingyin.go("#/cameras")
    lingyin.wait(lambda: len(lingyin.find_all(".camera-card")) == 1, "lingyin's one camera")
    assert lingyin.find_all('.camera-card[data-camera-id="yuquan"]')
    lingyin.screenshot("11-camera-wall-lingyin")
    for browser in (world["beishan"], lingyin):
        assert browser.errors() == []
