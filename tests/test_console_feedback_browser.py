"""The 好差评, 差评整改, report and enrolment pages in real headless Chromium on a 1366×768 office screen, with each
role: a viewer sees the ratings and tickets, an operator records a complaint and takes its ticket to closed, an
admin changes the deadline settings, issues an enrolment token whose on-screen QR code the kiosk's decoder
reads, and revokes it. The strict CSP holds throughout (no console errors, the QR image loads)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from central.enrolment import list_tokens
from central.keys import CentralKeys
from central.store import CentralStore
from central.web.server import DashboardServer, serve
from drivers.codes.pipeline import DecodePipeline
from kiosk.service_mode.hardware_use import TOKEN_PREFIX
from tests.test_console_feedback import ITEM, ITEM_NAME, _rate
from tests.test_dashboard import _add_operators, _browser_login, _wait, browser  # noqa: F401
from tests.test_fleet import Kiosk


@pytest.fixture
def dash(tmp_path: Path, central_keys: CentralKeys) -> Iterator[tuple[DashboardServer, CentralStore]]:
    central_keys.save(tmp_path / "home")
    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    _add_operators(store)
    server = serve(store, "127.0.0.1", 0, keys_home=tmp_path / "home", broker_url="mqtt://127.0.0.1:1883",
                   session_secret=uuid.uuid4().hex * 2, evaluate_every_s=None)
    yield server, store
    server.stop()
    store.close()


def _text(driver: Any, element_id: str) -> str:
    """The element's text, "" while the page it is on is being replaced (read in one step, never stale)."""
    return str(driver.execute_script(
        "var e = document.getElementById(arguments[0]); return e ? (e.value || e.innerText || '') : '';",
        element_id))


def _no_csp_errors(driver: Any) -> None:
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert not errors, errors


@pytest.mark.slow
def test_console_feedback_pages_by_role_in_chromium(browser: Any, dash: tuple[DashboardServer, CentralStore],  # noqa: F811
                                                    central_keys: CentralKeys) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    server, store = dash
    _rate(store, central_keys)
    Kiosk(store, central_keys, "kiosk-r002", "西城街道").event("rating", level="satisfied", service_code=ITEM)
    browser.set_window_size(1366, 768)
    url = server.url

    # A viewer sees: ratings with item names and charts, the tickets, the enrolment list; no forms.
    _browser_login(browser, url, "li")
    _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="login")
    browser.get(url + "/ratings")
    assert ITEM_NAME in _text(browser, "ratings-item") and "非常不满意" in _text(browser, "ratings-item")
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.bars rect")) >= 3
    assert "66.7%" in _text(browser, "ratings-total")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1366  # fits the office screen
    browser.get(url + "/tickets")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tickets-table tbody tr")) == 2
    assert not browser.find_elements(By.ID, "record-complaint") and not browser.find_elements(By.ID, "ticket-settings")
    browser.get(url + "/enrolment")
    assert not browser.find_elements(By.ID, "issue-token")
    _no_csp_errors(browser)

    # An operator acts: records a phone complaint and takes its ticket through to closed.
    _browser_login(browser, url, "wang")
    _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="login")
    browser.get(url + "/tickets")
    Select(browser.find_element(By.ID, "complaint-channel")).select_by_value("phone")
    browser.find_element(By.ID, "complaint-site").send_keys("东湖街道")
    browser.find_element(By.ID, "complaint-summary").send_keys("窗口告知的材料与办事指南不一致")
    browser.find_element(By.ID, "complaint-submit").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "ticket-facts"), what="the new ticket")
    assert "窗口告知的材料" in _text(browser, "ticket-facts") and "待整改" in _text(browser, "ticket-state")
    browser.find_element(By.ID, "close-submit").click()
    _wait(browser, lambda d: "请先保存整改回复" in _text(d, "flash"), what="closing refused without a response")
    browser.find_element(By.ID, "assign-owner").clear()
    browser.find_element(By.ID, "assign-owner").send_keys("zhang")
    browser.find_element(By.ID, "assign-submit").click()
    _wait(browser, lambda d: _text(d, "ticket-owner") == "zhang", what="the owner")
    browser.find_element(By.ID, "respond-text").send_keys("已统一窗口与指南的材料清单")
    browser.find_element(By.ID, "respond-submit").click()
    _wait(browser, lambda d: "已回复" in _text(d, "ticket-state"), what="the response")
    Select(browser.find_element(By.ID, "contact-method")).select_by_value("phone")
    browser.find_element(By.ID, "contact-note").send_keys("群众表示认可")
    browser.find_element(By.ID, "contact-submit").click()
    _wait(browser, lambda d: "群众表示认可" in _text(d, "ticket-contact"), what="the contact record")
    browser.find_element(By.ID, "close-submit").click()
    _wait(browser, lambda d: "已办结" in _text(d, "ticket-state"), what="closed")
    assert not browser.find_elements(By.ID, "form-respond")
    browser.get(url + "/tickets")
    browser.find_element(By.ID, "filter-overdue").click()
    browser.find_element(By.ID, "filter-apply").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "tickets-none"), what="no overdue ticket")
    assert not browser.find_elements(By.ID, "ticket-settings")
    browser.get(url + "/enrolment")
    assert not browser.find_elements(By.ID, "issue-token")
    _no_csp_errors(browser)

    # An admin configures and enrols: the deadline, then a token whose QR the kiosk's decoder reads on screen.
    _browser_login(browser, url, "admin")
    _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="login")
    browser.get(url + "/tickets")
    days = browser.find_element(By.ID, "settings-days")
    days.clear()
    days.send_keys("10")
    browser.find_element(By.ID, "settings-save").click()
    _wait(browser, lambda d: "设置已保存" in _text(d, "flash"), what="settings saved")
    browser.get(url + "/enrolment")
    browser.find_element(By.ID, "issue-site").send_keys("朝阳门街道")
    browser.find_element(By.ID, "issue-submit").click()
    img = _wait(browser, lambda d: d.find_elements(By.ID, "enrol-qr"), what="the QR code")[0]
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img)
    shot = np.array(Image.open(io.BytesIO(img.screenshot_as_png)).convert("L"))  # the QR as the screen shows it
    codes = DecodePipeline("live").decode(shot)
    assert [c.text for c in codes] == [_text(browser, "issued-token")]
    assert (codes[0].text or "").startswith(TOKEN_PREFIX)
    device = _text(browser, "issued-device")
    browser.find_element(By.ID, "back-to-tokens").click()
    row = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-device="{device}"]'), what="row")[0]
    assert "待使用" in row.text and str(codes[0].text) not in browser.page_source
    row.find_element(By.CLASS_NAME, "revoke-token").click()
    _wait(browser, lambda d: "已作废" in d.find_element(By.CSS_SELECTOR, f'tr[data-device="{device}"]').text,
          what="revoked")
    assert list_tokens(store)[0]["state"] == "revoked"
    _no_csp_errors(browser)

    # English is complete on these pages.
    browser.get(url + "/lang?to=en&next=/tickets")
    _wait(browser, lambda d: "Rectification tickets" in d.find_element(By.TAG_NAME, "h1").text, what="English")
    browser.get(url + "/reports?by=site&date_from=1970-01-01")  # the test kiosk's clock says 1970
    assert "Satisfied rate" in _text(browser, "report-table") and "东湖街道" in _text(browser, "report-table")
    browser.get(url + "/lang?to=zh_CN&next=/")
