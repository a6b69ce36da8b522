"""The fleet console in real headless Chromium at 1366×768 with each role: a viewer watches a resident's call
for staff arrive live (SSE, no reload), the counts by site and district and a kiosk's printer out of paper;
an operator acknowledges the call with a note; an admin sets an alarm rule, adds a webhook and files a site
under its district. Chinese by default, English complete, the strict CSP holds (no console errors).

``FLEET_SCREENSHOTS=<dir>`` saves the screenshots docs/OPERATIONS.md shows."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central import alarm_rules, notifier, rollouts
from central.fleet import alarms_list
from central.keys import CentralKeys
from central.store import CentralStore
from central.web import auth
from central.web.server import DashboardServer, serve
from tests.test_dashboard import _add_operators, _browser_login, _wait, browser  # noqa: F401
from tests.test_fleet import Kiosk

SHOTS = os.environ.get("FLEET_SCREENSHOTS")
ROLLOUT_ARGS = {"version": "1.4.0", "url": "http://central.invalid/ota/artifacts/" + "a" * 64, "sha256": "a" * 64,
                "size": 1024, "signature": "A" * 86 + "=="}


@pytest.fixture
def dash(tmp_path: Path, central_keys: CentralKeys) -> Iterator[tuple[DashboardServer, CentralStore]]:
    central_keys.save(tmp_path / "home")
    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    _add_operators(store)
    server = serve(store, "127.0.0.1", 0, keys_home=tmp_path / "home", broker_url="mqtt://127.0.0.1:1883",
                   session_secret=uuid.uuid4().hex * 2, evaluate_every_s=0.2, sse_poll_s=0.2)
    yield server, store
    server.stop()
    store.close()


def _text(driver: Any, css: str) -> str:
    return str(driver.execute_script(
        "var e = document.querySelector(arguments[0]); return e ? (e.innerText || '') : '';", css))


def _no_csp_errors(driver: Any) -> None:
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert not errors, errors


def _shot(driver: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(SHOTS) / f"{name}.png"))


@pytest.mark.slow
def test_fleet_console_by_role_in_chromium(browser: Any, dash: tuple[DashboardServer, CentralStore],  # noqa: F811
                                          central_keys: CentralKeys) -> None:
    from selenium.webdriver.common.by import By

    server, store = dash
    url = server.url
    browser.set_window_size(1366, 768)
    kiosks = {}
    for device_id, site in (("kiosk-dh01", "东湖街道"), ("kiosk-dh02", "东湖街道"), ("kiosk-xc01", "西城街道")):
        k = kiosks[device_id] = Kiosk(store, central_keys, device_id, site=site)
        k.status("online", 1)
        k.telemetry(drivers=[{"driver": "idcard", "state": "ok"}, {"driver": "camera.scanner", "state": "ok"},
                             {"driver": "printer", "state": "ok"}])
    kiosks["kiosk-xc01"].telemetry(drivers=[
        {"driver": "idcard", "state": "ok"}, {"driver": "camera.scanner", "state": "ok"},
        {"driver": "printer", "state": "failed", "last_error": "printer_paper_out"}])

    rollout_id = rollouts.create(store, "1.4.0", ROLLOUT_ARGS, percent=100, actor="cli", wave=1)

    # A viewer watches: the overview, then a resident's call for staff arrives without a reload.
    _browser_login(browser, url, "li")
    _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="login")
    browser.get(url + "/")
    _wait(browser, lambda d: d.execute_script("return document.body.dataset.updates") is not None, what="live")
    assert _text(browser, "#staff-count") == "0"
    assert "打印机·缺纸" in _text(browser, 'tr[data-device="kiosk-xc01"] td.parts')
    assert _text(browser, '#by-site-body tr[data-name="东湖街道"] td[data-count="total"]') == "2"
    assert not browser.find_elements(By.ID, "district-form")
    kiosks["kiosk-dh02"].event("alarm", code="staff_call", severity="critical",
                               detail="screen=form item=hukou_move lang=zh_CN")
    _wait(browser, lambda d: _text(d, "#staff-count") == "1", what="the staff call, live")
    assert "东湖街道 · kiosk-dh02" in _text(browser, "#staff-list")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1366
    _shot(browser, "fleet-overview")
    browser.get(url + "/alarms")
    assert browser.find_elements(By.CSS_SELECTOR, 'tr[data-code="staff_call"]')
    assert not browser.find_elements(By.CSS_SELECTOR, "form.ack-form")
    browser.get(url + "/alarms/rules")
    assert not browser.find_elements(By.ID, "rules-save") and not browser.find_elements(By.ID, "channel-add")
    browser.get(url + "/rollouts")
    section = f'section[data-rollout="{rollout_id}"]'
    assert "进行中" in _text(browser, section) and not browser.find_elements(By.CSS_SELECTOR, "button.rollout-halt")
    _no_csp_errors(browser)

    # An operator acknowledges the call with a note; rules stay the admin's.
    _browser_login(browser, url, "wang")
    _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="login")
    browser.get(url + "/alarms")
    row = 'tr[data-code="staff_call"]'
    browser.find_element(By.CSS_SELECTOR, row + " form.ack-form input[name=note]").send_keys("张姐已去 2 号机协助")
    browser.find_element(By.CSS_SELECTOR, row + " form.ack-form button").click()
    _wait(browser, lambda d: "张姐已去 2 号机协助" in _text(d, row + " td.ack"), what="the acknowledgement")
    assert "已确认" in _text(browser, row + " td.ack") and "告警已确认" in _text(browser, "#flash, .flash")
    (call,) = [a for a in alarms_list(store) if a["code"] == "staff_call"]
    assert call["open"] and call["acked_by"] == "wang"
    _shot(browser, "fleet-alarms")
    browser.get(url + "/alarms/rules")
    assert not browser.find_elements(By.ID, "rules-save")
    _no_csp_errors(browser)

    # An admin configures: the oldest-undelivered rule at 30 min with notification, a webhook, a district.
    _browser_login(browser, url, "admin")
    _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="login")
    browser.get(url + "/alarms/rules")
    threshold = browser.find_element(By.ID, "threshold-oldest_pending")
    threshold.clear()
    threshold.send_keys("30")
    browser.find_element(By.ID, "rules-save").click()
    _wait(browser, lambda d: "告警规则已保存" in _text(d, ".flash"), what="the rules saved")
    with store.session() as s:
        rule = alarm_rules.rules(s)["oldest_pending"]
    assert rule.threshold == 30 and rule.notify and rule.custom
    browser.find_element(By.ID, "channel-kind").send_keys("Webhook")
    browser.find_element(By.ID, "channel-target").send_keys("http://127.0.0.1:9/kiosk-alarms")
    browser.find_element(By.ID, "channel-submit").click()
    _wait(browser, lambda d: "http://127.0.0.1:9/kiosk-alarms" in _text(d, "#channels-table"), what="the webhook")
    with store.session() as s:
        assert [c["kind"] for c in notifier.channels(s)] == ["webhook"]
    _shot(browser, "fleet-rules")
    browser.get(url + "/")
    browser.find_element(By.ID, "district-name").send_keys("江汉区")
    browser.find_element(By.ID, "district-submit").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#by-district-body tr[data-name="江汉区"]'),
          what="the district")
    browser.get(url + "/rollouts")
    browser.find_element(By.CSS_SELECTOR, section + " input[name=reason]").send_keys("先观察一天")
    browser.find_element(By.CSS_SELECTOR, section + " button.rollout-halt").click()
    _wait(browser, lambda d: "已暂停" in _text(d, section), what="the rollout halted")
    assert "先观察一天" in _text(browser, section)
    _shot(browser, "fleet-rollouts")
    assert {e["action"] for e in auth.audit_entries(store)} >= {"alarm_ack", "alarm_rules", "notify_channel_add",
                                                                "site_district", "rollout_halt"}
    _no_csp_errors(browser)

    # English, complete on these pages.
    browser.get(url + "/lang?to=en&next=/")
    _wait(browser, lambda d: "Residents calling for staff" in _text(d, "#staff-calls"), what="English")
    assert "By district" in _text(browser, "#by-district") and "Printer·out" in _text(browser, "#fleet-table")
    browser.get(url + "/alarms/rules")
    assert "Alarm rules and notifications" in _text(browser, "h1")
    assert "oldest undelivered" in _text(browser, "#rules-table")
    browser.get(url + "/lang?to=zh_CN&next=/")
    _no_csp_errors(browser)
