"""Staged OTA rollouts on the console in real headless Chromium at 1366×768, with each role: a viewer and an
operator see the progress and no control; an admin starts a rollout of a published release to chosen sites and
another to a percentage of the fleet (the form shows only the chosen cohort's inputs, by CSS: the strict CSP
allows no inline script), halts one with a reason, resumes it and widens the other. Every move is audited.
Chinese by default, English complete, no console errors."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.keys import CentralKeys
from central.store import CentralStore
from central.web import auth
from central.web.server import DashboardServer, serve
from tests.test_dashboard import _add_operators, _browser_login, _wait, browser  # noqa: F401
from tests.test_dashboard_fleet_browser import _no_csp_errors, _text
from tests.test_fleet import Kiosk
from tests.test_rollouts import publish_release, rollouts_of


@pytest.fixture
def dash(tmp_path: Path, central_keys: CentralKeys) -> Iterator[tuple[DashboardServer, CentralStore]]:
    home = tmp_path / "home"
    central_keys.save(home)
    publish_release(home, "1.5.0")
    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    _add_operators(store)
    for device_id, site in (("kiosk-dh01", "东湖街道"), ("kiosk-dh02", "东湖街道"), ("kiosk-dh03", "东湖街道"),
                            ("kiosk-xc01", "西城街道"), ("kiosk-xc02", "西城街道")):
        Kiosk(store, central_keys, device_id, site=site).status("online", 1)
    # No evaluator: nothing is sent to these kiosks (they are not on a broker); the page is what is under test.
    server = serve(store, "127.0.0.1", 0, keys_home=home, broker_url="mqtt://127.0.0.1:1",
                   session_secret=uuid.uuid4().hex * 2, evaluate_every_s=None)
    yield server, store
    server.stop()
    store.close()


def _flash(driver: Any) -> str:
    return _text(driver, ".flash")


@pytest.mark.slow
def test_rollouts_by_role_in_chromium(browser: Any, dash: tuple[DashboardServer, CentralStore]) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    server, store = dash
    url = server.url
    browser.set_window_size(1366, 768)

    for user in ("li", "wang"):  # a viewer, then an operator: progress only
        _browser_login(browser, url, user)
        _wait(browser, lambda d: d.find_elements(By.ID, "staff-calls"), what=f"{user} logged in")
        browser.get(url + "/rollouts")
        assert "仅管理员可发起" in _text(browser, "#rollouts-admin-only")
        assert not browser.find_elements(By.ID, "rollout-start-form")
        assert not browser.find_elements(By.CSS_SELECTOR, "section.rollout button")

    _browser_login(browser, url, "admin")
    _wait(browser, lambda d: d.find_elements(By.ID, "staff-calls"), what="the admin logged in")
    browser.get(url + "/rollouts")
    form = browser.find_element(By.ID, "rollout-start-form")
    assert "1.5.0 · 完整包" in _text(browser, "#rs-release")
    percent, sites = browser.find_element(By.ID, "rs-percent"), browser.find_element(By.ID, "rs-sites")
    assert percent.is_displayed() and not sites.is_displayed(), "a percentage by default: no site list"
    browser.find_element(By.ID, "rs-by-sites").click()
    assert sites.is_displayed() and not percent.is_displayed()
    assert "西城街道（2 台）" in _text(browser, "#rs-sites")
    form.find_element(By.CSS_SELECTOR, 'input[name=site][value="西城街道"]').click()
    maximum = browser.find_element(By.ID, "rs-max-failure")
    maximum.clear()
    maximum.send_keys("25")
    browser.find_element(By.ID, "rs-base-url").send_keys("https://central.example:8443")
    browser.find_element(By.ID, "rollout-start-submit").click()
    _wait(browser, lambda d: "已开始分批升级 1.5.0：共 2 台终端" in _flash(d), what="the sites rollout started")
    (by_sites,) = rollouts_of(store)
    section = f'section[data-rollout="{by_sites["id"]}"]'
    assert "站点：西城街道" in _text(browser, section) and "失败率超过 25% 即暂停" in _text(browser, section)

    # A second one, to half of the fleet; then widened to all of it.
    browser.find_element(By.ID, "rs-by-percent").click()
    percent = browser.find_element(By.ID, "rs-percent")
    percent.clear()
    percent.send_keys("50")
    browser.find_element(By.ID, "rs-base-url").send_keys("https://central.example:8443")
    browser.find_element(By.ID, "rollout-start-submit").click()
    _wait(browser, lambda d: "共 3 台终端" in _flash(d), what="the percentage rollout started")
    by_percent = rollouts_of(store)[0]
    wide = f'section[data-rollout="{by_percent["id"]}"]'
    assert "设备的 50%" in _text(browser, wide)
    widen = browser.find_element(By.CSS_SELECTOR, wide + " input[name=percent]")
    widen.clear()
    widen.send_keys("100")
    browser.find_element(By.CSS_SELECTOR, wide + " button.rollout-widen").click()
    _wait(browser, lambda d: "设备的 100%" in _text(d, wide), what="the rollout widened")
    assert rollouts_of(store)[0]["total"] == 5

    # Halt the sites rollout with a reason, then resume it.
    browser.find_element(By.CSS_SELECTOR, section + " input[name=reason]").send_keys("西城先观察")
    browser.find_element(By.CSS_SELECTOR, section + " button.rollout-halt").click()
    _wait(browser, lambda d: "已暂停" in _text(d, section), what="the rollout halted")
    assert "西城先观察" in _text(browser, section)
    browser.find_element(By.CSS_SELECTOR, section + " button.rollout-resume").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, section + '[data-state="running"]'),
          what="the rollout resumed")
    actions = [e["action"] for e in auth.audit_entries(store) if e["action"].startswith("rollout_")]
    assert actions == ["rollout_resume", "rollout_halt", "rollout_widen", "rollout_start", "rollout_start"]
    _no_csp_errors(browser)

    # English, complete on this page.
    browser.get(url + "/lang?to=en&next=/rollouts")
    _wait(browser, lambda d: "Start a rollout" in _text(d, "#rollout-start"), what="English")
    assert "Chosen sites" in _text(browser, "#rollout-start") and "1.5.0 · full" in _text(browser, "#rs-release")
    assert "Sites: 西城街道" in _text(browser, section) and "100% of the fleet" in _text(browser, wide)
    assert "running" in _text(browser, section)
    browser.get(url + "/lang?to=zh_CN&next=/")
    _no_csp_errors(browser)
