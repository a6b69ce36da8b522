"""The operators' dashboard: roles, CSRF, masking and audit through its HTTP interface, then in a real
browser (Debian's headless Chromium driven by Selenium and Debian's chromedriver; no browser download):
login, live fleet updates over SSE as a real kiosk comes and goes through the real broker, commands
with confirmation, and what a viewer may not do."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import threading
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.keys import CentralKeys
from central.store import CentralStore
from central.web import auth
from central.web.app import create_app
from central.web.server import DashboardServer, serve
from devtools.broker import MosquittoBroker
from sync.device import OUTBOX_FILE
from sync.outbox.store import Outbox
from sync.protocol import topics
from sync.runtime.mqtt import new_client
from tests.helpers import Central, make_device, start_central, start_daemon, wait_until
from tests.test_fleet import Kiosk

with warnings.catch_warnings():  # starlette asks for httpx2; httpx still works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORDS = {"admin": "admin-secret-1", "wang": "operator-secret-1", "li": "viewer-secret-1"}
ROLES = {"admin": "admin", "wang": "operator", "li": "viewer"}
FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "钱七"},
          {"id": "id_number", "kind": "id_number", "label": "身份证号", "value": "110101199003077777"},
          {"id": "phone", "kind": "phone", "label": "手机号", "value": "13800138000"}]


def _add_operators(store: CentralStore) -> None:
    for user, password in PASSWORDS.items():
        auth.add_operator(store, user, password, ROLES[user])


# -- through HTTP (fast) ------------------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path, central_keys: CentralKeys) -> Iterator[tuple[TestClient, CentralStore]]:
    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    _add_operators(store)
    app = create_app(store, tmp_path, "mqtt://127.0.0.1:1", session_secret="s" * 32)
    with TestClient(app) as c:
        yield c, store
    store.close()


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def _login(c: TestClient, user: str) -> str:
    token = _csrf(c.get("/login").text)
    r = c.post("/login", data={"username": user, "password": PASSWORDS[user], "csrf": token, "next": "/"})
    assert r.status_code == 200 and r.url.path == "/"
    return _csrf(r.text)


def test_pages_need_login_and_api_says_401(client: tuple[TestClient, CentralStore]) -> None:
    c, _ = client
    r = c.get("/alarms", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert c.get("/api/fleet").status_code == 401
    assert c.get("/sse/fleet").status_code == 401
    page = c.get("/login")
    assert "运维人员登录" in page.text  # Chinese by default
    assert "default-src 'self'" in page.headers["content-security-policy"]
    c.get("/lang?to=en&next=/login")
    assert "Operator login" in c.get("/login").text


def test_post_without_csrf_token_is_refused(client: tuple[TestClient, CentralStore],
                                            central_keys: CentralKeys) -> None:
    c, store = client
    Kiosk(store, central_keys, "k-csrf").status("online", 1)
    c.get("/login")
    r = c.post("/login", data={"username": "wang", "password": PASSWORDS["wang"]})
    assert r.status_code == 403  # even the login form carries the token
    token = _login(c, "wang")
    for path, data in (("/devices/k-csrf/command", {"action": "diagnostics", "confirmed": "1"}),
                       ("/alarms/1/clear", {}), ("/logout", {})):
        assert c.post(path, data=data).status_code == 403
        assert c.post(path, data={**data, "csrf": "forged-" + token}).status_code == 403
    assert c.post("/api/devices/k-csrf/commands", json={"action": "diagnostics"}).status_code == 403
    assert [e["action"] for e in auth.audit_entries(store) if e["action"].startswith("command")] == []


def test_viewer_may_not_command(client: tuple[TestClient, CentralStore], central_keys: CentralKeys) -> None:
    c, store = client
    Kiosk(store, central_keys, "k-viewer").status("online", 1)
    token = _login(c, "li")
    page = c.get("/devices/k-viewer")
    assert page.status_code == 200 and 'id="cmd-maintenance_on"' not in page.text
    r = c.post("/devices/k-viewer/command", data={"action": "maintenance_on", "message": "x", "confirmed": "1",
                                                  "csrf": token})
    assert r.status_code == 403
    r = c.post("/api/devices/k-viewer/commands", json={"action": "diagnostics"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 403
    assert c.get("/audit").status_code == 403


def test_submissions_masked_and_full_view_audited(client: tuple[TestClient, CentralStore],
                                                  central_keys: CentralKeys) -> None:
    c, store = client
    from sqlalchemy import insert

    from central.models import Submission

    with store.engine.begin() as conn:
        conn.execute(insert(Submission).values(
            id="s-1", device_id="k-sub", seq=1, service_code="HJ-001", receipt_no="KR-1", created_at=1.0,
            received_at=2.0, fields_json=json.dumps(FIELDS, ensure_ascii=False), attachments_expected=0,
            complete=True))
    token = _login(c, "li")
    assert c.get("/submissions").url.path == "/applications"  # the old list became the applications console
    listing = c.get("/applications/s-1").text
    assert "钱*" in listing and "110101********7777" in listing and "138****8000" in listing
    assert "钱七" not in listing and "110101199003077777" not in listing
    assert "钱七" not in json.dumps(c.get("/api/submissions").json(), ensure_ascii=False)
    assert c.post("/submissions/s-1/full", data={"csrf": token}).status_code == 403
    c.post("/logout", data={"csrf": token})
    token = _login(c, "admin")
    assert 'class="full-view"' in c.get("/applications/s-1").text
    full = c.post("/submissions/s-1/full", data={"csrf": token})
    assert full.status_code == 200 and "110101199003077777" in full.text and "钱七" in full.text
    views = auth.audit_entries(store, action="submission_full_view")
    assert [(e["actor"], e["target"]) for e in views] == [("admin", "s-1")]
    assert "钱七" not in json.dumps(auth.audit_entries(store), ensure_ascii=False)


def test_ratings_summary_by_site_and_service(client: tuple[TestClient, CentralStore],
                                             central_keys: CentralKeys) -> None:
    c, store = client
    east, west = Kiosk(store, central_keys, "k-r1", "东湖街道"), Kiosk(store, central_keys, "k-r2", "西城街道")
    for k in (east, west):
        k.status("online", 1)
    for k, level, service in ((east, "very_satisfied", "HJ-001"), (east, "dissatisfied", "HJ-001"),
                              (west, "satisfied", "SB-002"), (west, "非常不满意", "HJ-001"), (west, "很好", "HJ-001")):
        k.event("rating", level=level, service_code=service)
    _login(c, "li")
    summary = c.get("/api/ratings").json()
    by_site = {r["key"]: r for r in summary["by_site"]}
    assert by_site["东湖街道"]["counts"]["very_satisfied"] == 1 and by_site["东湖街道"]["negative"] == 1
    assert by_site["西城街道"]["total"] == 2  # an unknown level is not counted
    by_item = {r["key"]: r for r in summary["by_item"]}
    assert by_item["HJ-001"]["total"] == 3 and by_item["HJ-001"]["negative"] == 2
    assert summary["total"]["satisfied_rate"] == 0.5
    page = c.get("/ratings").text
    assert "东湖街道" in page and "非常不满意" in page


def test_operator_clears_an_alarm_audited(client: tuple[TestClient, CentralStore],
                                          central_keys: CentralKeys) -> None:
    c, store = client
    from central.fleet import alarms_json, evaluate_alarms

    k = Kiosk(store, central_keys, "k-clear")
    k.status("online", 1)
    k.telemetry()
    k.event("alarm", code="db_quarantined", severity="critical", detail="moved aside")
    evaluate_alarms(store)
    (alarm,) = alarms_json(store)
    token = _login(c, "wang")
    assert "db_quarantined" in c.get("/alarms").text
    assert c.post(f"/alarms/{alarm['id']}/clear", data={"csrf": token}).status_code == 200
    assert alarms_json(store) == []
    assert [(e["actor"], e["action"], e["target"]) for e in auth.audit_entries(store, action="alarm_clear")] \
        == [("wang", "alarm_clear", "k-clear")]


# -- in a real browser ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # The setup installs Debian chromium + chromium-driver; their absence is a failure, not a skip.
    assert os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK), "chromium/chromedriver missing"
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager fetch a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium-profile")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={profile}",
                 "--lang=zh-CN"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def central_with_dashboard(tmp_path: Path, broker: MosquittoBroker,
                           central_keys: CentralKeys) -> Iterator[tuple[Central, DashboardServer]]:
    yield from _central_with_dashboard(tmp_path, broker, central_keys)


@pytest.fixture
def lone_central_with_dashboard(tmp_path: Path, own_broker: MosquittoBroker,
                                central_keys: CentralKeys) -> Iterator[tuple[Central, DashboardServer]]:
    """On a broker of the test's own: the session's keeps other tests' retained kiosk statuses, so their kiosks
    would be in this central's registry (and among a site's push targets)."""
    yield from _central_with_dashboard(tmp_path, own_broker, central_keys)


def _central_with_dashboard(tmp_path: Path, broker: MosquittoBroker,
                            central_keys: CentralKeys) -> Iterator[tuple[Central, DashboardServer]]:
    central_keys.save(tmp_path / "central-home")
    central = start_central(broker.url, tmp_path / "central.db", central_keys, worker_id=uuid.uuid4().hex[:6])
    _add_operators(central.store)
    dash = serve(central.store, "127.0.0.1", 0, keys_home=tmp_path / "central-home", broker_url=broker.url,
                 session_secret=uuid.uuid4().hex * 2, evaluate_every_s=None, sse_poll_s=0.25)
    yield central, dash
    dash.stop()
    central.worker.stop()
    central.store.close()


def _wait(driver: Any, predicate: Any, timeout: float = 15.0, what: str = "the page") -> Any:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    # A predicate that reads an element while a form's POST and redirect replace the page can find it on the
    # old page and read it after the new one arrived (stale): that is "not yet", as a missing element is.
    # Chromedriver sometimes reports the same race as an inspector error instead of a stale element.
    def settled(d: Any) -> Any:
        try:
            return predicate(d)
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc.msg):
                return False
            raise

    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
        settled, message=f"waiting for {what}")


def _browser_login(driver: Any, url: str, user: str, password: str | None = None) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(url + "/login")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password if password is not None else PASSWORDS[user])
    driver.find_element(By.ID, "login-submit").click()


def _row_state(driver: Any, device_id: str) -> str | None:
    return driver.execute_script(
        "var r = document.querySelector('tr[data-device=\"' + arguments[0] + '\"]');"
        "return r ? r.dataset.state : null;", device_id)


@pytest.mark.slow
def test_browser_login_and_wrong_password(browser: Any,
                                          central_with_dashboard: tuple[Central, DashboardServer]) -> None:
    from selenium.webdriver.common.by import By

    central, dash = central_with_dashboard
    _browser_login(browser, dash.url, "wang", "not-the-password")
    error = _wait(browser, lambda d: d.find_elements(By.ID, "login-error"), what="the login error")[0]
    assert error.text == "用户名或密码错误"
    assert browser.current_url.startswith(dash.url + "/login")
    assert not browser.find_elements(By.ID, "who")
    _browser_login(browser, dash.url, "wang")
    who = _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="the fleet page")[0]
    assert who.text == "wang · 操作员"
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("设备总览")
    browser.find_element(By.ID, "lang-toggle").click()
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith("Fleet overview"), what="English")
    actions = [e["action"] for e in auth.audit_entries(central.store)]
    assert actions == ["login", "login_failed"]


@pytest.mark.slow
def test_browser_fleet_updates_live_when_a_kiosk_comes_and_goes(
        browser: Any, central_with_dashboard: tuple[Central, DashboardServer], tmp_path: Path,
        broker: MosquittoBroker, central_keys: CentralKeys) -> None:
    from selenium.webdriver.common.by import By

    _central, dash = central_with_dashboard
    _browser_login(browser, dash.url, "li")
    _wait(browser, lambda d: d.find_element(By.ID, "live").get_attribute("data-state") == "open",
          what="the live connection")
    browser.execute_script("window.__notReloaded = true;")
    # The session's broker may still hold other tests' retained statuses: counts are read relative.
    assert _row_state(browser, "never-seen") is None

    # A real kiosk: its sync daemon connects through the broker, the ingest worker stores its status.
    home = tmp_path / "kiosk"
    device = make_device(home, broker.url, central_keys)
    outbox = Outbox(home / OUTBOX_FILE)
    daemon = start_daemon(outbox, device)
    try:
        _wait(browser, lambda d: _row_state(d, device.device_id) == "online", what="the kiosk online")
        assert int(browser.find_element(By.ID, "count-online").text) >= 1
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-device="{device.device_id}"]')
        assert "测试街道" in row.text and "在线" in row.text
    finally:
        daemon.stop()  # a clean goodbye: offline status, retained
        outbox.close()
    _wait(browser, lambda d: _row_state(d, device.device_id) == "offline", what="the kiosk offline")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-device="{device.device_id}"]')
    assert "离线" in row.text
    assert int(browser.find_element(By.ID, "count-offline").text) >= 1
    assert browser.execute_script("return window.__notReloaded === true;"), "the page was reloaded"
    _clear_retained(broker, device.device_id)


def _clear_retained(broker: MosquittoBroker, device_id: str) -> None:
    c = new_client(f"cleaner-{uuid.uuid4().hex[:6]}")
    host, port = broker.url.removeprefix("mqtt://").split(":")
    c.connect(host, int(port))
    c.loop_start()
    c.publish(topics.up(device_id, "status"), b"", qos=1, retain=True).wait_for_publish(5)
    c.loop_stop()
    c.disconnect()


class _Listener:
    """A raw paho subscriber on a kiosk's command topic."""

    def __init__(self, broker: MosquittoBroker, device_id: str) -> None:
        self.messages: list[bytes] = []
        self.subscribed = threading.Event()
        self.client = new_client(f"listener-{uuid.uuid4().hex[:6]}")
        self.client.on_message = lambda _c, _u, m: self.messages.append(bytes(m.payload))
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        host, port = broker.url.removeprefix("mqtt://").split(":")
        self.client.connect(host, int(port))
        self.client.loop_start()
        self.client.subscribe(topics.down(device_id, "cmd"), qos=1)
        assert self.subscribed.wait(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


COMMANDS_READY = importlib.util.find_spec("central.commands") is not None


@pytest.mark.slow
def test_browser_operator_sends_maintenance_with_confirmation(
        browser: Any, central_with_dashboard: tuple[Central, DashboardServer], broker: MosquittoBroker,
        central_keys: CentralKeys) -> None:
    from selenium.webdriver.common.by import By

    central, dash = central_with_dashboard
    device_id = f"t-{uuid.uuid4().hex[:10]}"
    Kiosk(central.store, central_keys, device_id).status("online", 1)
    listener = _Listener(broker, device_id)
    try:
        _browser_login(browser, dash.url, "wang")
        _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="login")
        browser.get(f"{dash.url}/devices/{device_id}")
        message = browser.find_element(By.ID, "maintenance-message")
        message.clear()
        message.send_keys("系统升级，14:00 恢复")
        browser.find_element(By.ID, "cmd-maintenance_on").click()
        question = _wait(browser, lambda d: d.find_elements(By.ID, "confirm-question"), what="the confirmation")[0]
        assert device_id in question.text and "开启维护模式" in question.text
        assert listener.messages == []  # nothing is sent before the operator confirms
        browser.find_element(By.ID, "confirm-yes").click()
        flash = _wait(browser, lambda d: d.find_elements(By.ID, "flash"), what="the outcome")[0]
        if not COMMANDS_READY:
            assert "命令功能尚不可用" in flash.text and "central.commands" in flash.text
            (entry,) = auth.audit_entries(central.store, action="command_failed")
            assert (entry["actor"], entry["target"], entry["detail"]["action"]) == ("wang", device_id,
                                                                                     "maintenance_on")
            return
        assert "命令已发送" in flash.text, flash.text
        wait_until(lambda: len(listener.messages) == 1, what="the command on down/cmd")
        (entry,) = auth.audit_entries(central.store, action="command")
        assert (entry["actor"], entry["target"], entry["detail"]["action"]) == ("wang", device_id, "maintenance_on")
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-command="{entry["detail"]["command_id"]}"]')
        assert "等待结果" in row.text
    finally:
        listener.close()


@pytest.mark.slow
def test_browser_viewer_has_no_command_buttons_and_csrfless_posts_are_refused(
        browser: Any, central_with_dashboard: tuple[Central, DashboardServer], central_keys: CentralKeys) -> None:
    from selenium.webdriver.common.by import By

    central, dash = central_with_dashboard
    Kiosk(central.store, central_keys, "k-viewer").status("online", 1)
    post = ("var done = arguments[arguments.length - 1];"
            "var body = new URLSearchParams(arguments[1]);"
            "fetch(arguments[0], {method: 'POST', body: body, credentials: 'same-origin'})"
            ".then(function (r) { done(r.status); }, function (e) { done(String(e)); });")
    _browser_login(browser, dash.url, "li")
    _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="login")
    browser.get(f"{dash.url}/devices/k-viewer")
    assert browser.find_element(By.ID, "device-id").text == "k-viewer"
    assert browser.find_elements(By.ID, "cmd-maintenance_on") == []
    assert browser.find_elements(By.ID, "command-forms") == []
    token = browser.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
    form = {"action": "maintenance_on", "message": "x", "confirmed": "1", "csrf": token}
    assert browser.execute_async_script(post, "/devices/k-viewer/command", form) == 403

    _browser_login(browser, dash.url, "wang")
    _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="login")
    browser.get(f"{dash.url}/devices/k-viewer")
    assert browser.find_elements(By.ID, "cmd-diagnostics")
    csrfless = {"action": "diagnostics", "confirmed": "1"}
    assert browser.execute_async_script(post, "/devices/k-viewer/command", csrfless) == 403
    assert browser.execute_async_script(post, "/logout", {}) == 403
    assert not [e for e in auth.audit_entries(central.store) if e["action"].startswith("command")]


# -- application statuses: the applications console (tests/test_dashboard_applications.py) -------------------
