"""The applications console (issue 19) through HTTP and in real Chromium: a viewer sees the list and the detail
but no decision; an operator searches, opens an application and decides; an illegal move is refused with a
message that says what is allowed; a decision is audited and reaches the site's kiosk with its words."""

from __future__ import annotations

import json
import warnings
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from central.keys import CentralKeys
from central.models import Device, Submission
from central.store import CentralStore
from central.web import auth
from central.web.server import DashboardServer
from devtools.broker import MosquittoBroker
from sync.device import OUTBOX_FILE
from sync.outbox.store import Outbox
from tests.helpers import Central, make_device, start_daemon, wait_until
from tests.test_dashboard import (  # noqa: F401 - fixtures
    FIELDS,
    _browser_login,
    _csrf,
    _login,
    _wait,
    browser,
    client,
    lone_central_with_dashboard,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _application(store: CentralStore, sid: str = "s-st", receipt: str = "KR-20260101-AB12-000001-0",
                 site: str = "东四街道") -> str:
    with store.engine.begin() as conn:
        if not conn.execute(Device.__table__.select().where(Device.device_id == "k-st")).first():
            conn.execute(insert(Device).values(device_id="k-st", site=site, status="online", conn=1, status_at=1.0,
                                               last_seen=1.0, version="", telemetry_json="{}"))
        conn.execute(insert(Submission).values(
            id=sid, device_id="k-st", seq=1, service_code="MZ-LNYD-001", receipt_no=receipt, created_at=1.0,
            received_at=2.0, fields_json=json.dumps(FIELDS, ensure_ascii=False), attachments_expected=0,
            complete=True))
    return receipt


def test_viewer_sees_operator_decides_illegal_moves_refused(client: tuple[TestClient, CentralStore],  # noqa: F811
                                                            tmp_path: Path, central_keys: CentralKeys) -> None:
    c, store = client
    central_keys.save(tmp_path)  # the app signs with the keys in its keys_home (tmp_path)
    receipt = _application(store)
    token = _login(c, "li")
    page = c.get("/applications").text
    table = page[page.index('id="applications-table"'):page.index("</table>")]
    assert receipt in table and "老年人优待证申领" in table and "MZ-LNYD-001" not in table  # names, not codes
    assert "东四街道" in page and "已接收" in page
    detail = c.get("/applications/s-st").text
    assert "老年人优待证申领" in detail and "3 个工作日" in detail and 'id="move-accepted"' not in detail
    assert c.post("/applications/s-st/move", data={"csrf": token, "status": "accepted"}).status_code == 403
    assert c.post(f"/api/applications/{receipt}/status", json={"status": "受理"},
                  headers={"X-CSRF-Token": token}).status_code == 403
    c.post("/logout", data={"csrf": token})
    token = _login(c, "wang")
    detail = c.get("/applications/s-st").text
    assert all(f'id="move-{s}"' in detail for s in ("accepted", "supplement", "rejected"))
    assert 'id="move-completed"' not in detail
    assert c.post("/applications/s-st/move", data={"status": "accepted"}).status_code == 403  # no CSRF token
    # 办结 straight from 已接收 is refused, saying what is allowed
    r = c.post("/applications/s-st/move", data={"csrf": token, "status": "completed", "result": "approved",
                                                "collect": "counter"})
    assert "“已接收”的办件不能改为“已办结”，只能改为：已受理、不予受理、待补正" in r.text
    r = c.post("/applications/s-st/move", data={"csrf": token, "status": "rejected"})
    assert "不予受理须选择原因" in r.text
    deadline = (date.today() + timedelta(days=7)).isoformat()
    r = c.post("/applications/s-st/move", data={"csrf": token, "status": "supplement", "missing": ["photo", "id_card"],
                                                "deadline": deadline})
    # the broker of this app is unreachable: stored, audited, and the operator told it was not pushed
    assert f"办件 {receipt} 状态已保存，但未能推送" in r.text and "请补交：近期免冠彩色照片、居民身份证" in r.text
    assert 'id="move-completed"' not in r.text and 'id="move-accepted"' in r.text
    api = c.post(f"/api/applications/{receipt}/status", json={"status": "受理"}, headers={"X-CSRF-Token": token})
    assert api.status_code == 202 and api.json()["status"] == "accepted" and not api.json()["pushed"]
    again = c.post(f"/api/applications/{receipt}/status", json={"status": "受理"}, headers={"X-CSRF-Token": token})
    assert again.status_code == 409 and "cannot become accepted" in again.json()["error"]
    assert c.post(f"/api/applications/{receipt}/status", json={"status": "差不多"},
                  headers={"X-CSRF-Token": token}).status_code == 400
    done = c.post("/api/applications/s-st/move", json={"status": "completed", "result": "approved",
                                                         "collect": "post"}, headers={"X-CSRF-Token": token})
    assert done.status_code == 202 and done.json()["detail"]["en"] == ("Result: Approved. Sent by post to the "
                                                                       "address you gave.")
    listed = c.get("/api/applications", params={"status": "completed"}).json()
    assert [r["receipt_no"] for r in listed["rows"]] == [receipt] and listed["rows"][0]["due_at"] is None
    assert c.get("/api/applications", params={"status": "received"}).json()["rows"] == []
    entries = auth.audit_entries(store, action="app_status")
    assert [(e["actor"], e["detail"]["from"], e["detail"]["status"]) for e in entries] == [
        ("wang", "accepted", "completed"), ("wang", "supplement", "accepted"), ("wang", "received", "supplement")]
    assert "110101199003077777" not in json.dumps(auth.audit_entries(store), ensure_ascii=False)
    # the application's ratings and the ticket a bad one opened are on its page
    from central.feedback_models import Rating, Ticket

    with store.engine.begin() as conn:
        conn.execute(insert(Rating).values(event_id="e-1", device_id="k-st", site="东四街道",
                                           service_code="MZ-LNYD-001", receipt_no=receipt, level="dissatisfied",
                                           score=2, negative=True, rated_at=3.0, received_at=4.0))
        conn.execute(insert(Ticket).values(source="rating", event_id="e-1", channel="self_service_terminal",
                                           category="dissatisfied", receipt_no=receipt, device_id="k-st",
                                           site="东四街道", service_code="MZ-LNYD-001", summary="", state="open",
                                           opened_at=4.0, deadline_at=5.0, response="", contact_note="",
                                           created_by="ingest"))
    feedback = c.get("/applications/s-st").text
    assert "不满意" in feedback and 'href="/tickets/1"' in feedback and "待整改" in feedback
    c.get("/lang", params={"to": "en", "next": "/applications"})
    english = c.get("/applications/s-st").text
    assert "Senior citizen card application" in english and "Result: Approved" in english


def test_list_search_filters_and_pages_through_http(client: tuple[TestClient, CentralStore]) -> None:  # noqa: F811
    c, store = client
    for i in range(1, 26):
        from sync.protocol.ids import receipt_number

        _application(store, sid=f"s-{i:03d}", receipt=receipt_number("k-ab12", i, __import__("datetime").datetime(
            2026, 1, 1)))
    _login(c, "li")
    first = c.get("/applications", params={"size": "20"}).text
    assert "共 25 件" in first and first.count('data-application="') == 20 and 'id="page-next"' in first
    import re

    nxt = re.search(r'<a href="([^"]+)" id="page-next">', first)
    assert nxt
    second = c.get(nxt.group(1).replace("&amp;", "&")).text
    assert second.count('data-application="') == 5 and 'id="page-next"' not in second and 'id="page-prev"' in second
    one = c.get("/applications", params={"receipt": "KR-20260101-AB12-000003-" + "x"}).text
    assert "没有符合条件的办件" in one


@pytest.mark.slow
def test_browser_operator_asks_for_materials_and_the_kiosk_shows_them(
        browser: Any, tmp_path: Path, own_broker: MosquittoBroker,  # noqa: F811
        lone_central_with_dashboard: tuple[Central, DashboardServer], central_keys: CentralKeys) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from central.status_push import site_lookup_key
    from kiosk.journey.status import lookup, lookup_by_tag
    from sync.daemon.commands import CommandExecutor
    from sync.protocol.commands import lookup_tag

    central, dash = lone_central_with_dashboard
    home = tmp_path / "kiosk"
    device = make_device(home, own_broker.url, central_keys)
    outbox = Outbox(home / OUTBOX_FILE)
    daemon = start_daemon(outbox, device, command_handler=CommandExecutor(outbox, device, home).handle)
    try:
        receipt = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS).receipt_no
        wait_until(lambda: central.store.count() == 1 and bool((central.store.device(device.device_id) or {})
                                                               .get("site")), 15, "the submission at the central")
        # a viewer: the list and the detail, no decision
        _browser_login(browser, dash.url, "li")
        _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="logged in")
        browser.get(dash.url + "/applications")
        assert receipt in browser.find_element(By.ID, "applications-table").text
        browser.find_element(By.CSS_SELECTOR, "a.receipt").click()
        _wait(browser, lambda d: d.find_elements(By.ID, "app-item"), what="the detail page")
        assert not browser.find_elements(By.CSS_SELECTOR, "form.move")
        # an operator: search by receipt, open, ask for the photo by a deadline
        _browser_login(browser, dash.url, "wang")
        _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="logged in")
        browser.get(dash.url + "/applications")
        browser.find_element(By.ID, "f-receipt").send_keys(receipt.lower())
        Select(browser.find_element(By.ID, "f-status")).select_by_value("received")
        browser.find_element(By.ID, "f-search").click()
        _wait(browser, lambda d: "共 1 件" in d.find_element(By.ID, "app-count").text, what="the search")
        browser.find_element(By.CSS_SELECTOR, "a.receipt").click()
        _wait(browser, lambda d: d.find_elements(By.ID, "move-supplement"), what="the decision forms")
        browser.find_element(By.ID, "missing-photo").click()
        browser.find_element(By.ID, "do-supplement").click()
        flash = _wait(browser, lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, ".flash") if receipt in e.text],
                      what="the confirmation")[0]
        assert "已推送到 1 台终端" in flash.text
        assert browser.find_element(By.ID, "app-status").text == "待补正"
        assert "请补交：近期免冠彩色照片" in browser.find_element(By.ID, "app-detail").text
        wait_until(lambda: (lookup(outbox, receipt) or None) is not None
                   and lookup(outbox, receipt).state == "supplement", 15, "the kiosk's row")  # type: ignore[union-attr]
        shown = lookup(outbox, receipt)
        assert shown is not None and shown.detail_text("zh").startswith("请补交：近期免冠彩色照片。请在")
        assert shown.detail_text("en").startswith("Please bring: Recent colour photo. Bring them to the service")
        tag = lookup_tag(site_lookup_key(central_keys, device.site), "110101199003077777")
        assert [s.state for s in lookup_by_tag(outbox, tag)] == ["supplement"]  # by ID card too
        # the list marks it, and 办结 is not offered before 受理
        assert not browser.find_elements(By.ID, "move-completed")
    finally:
        daemon.stop()
        outbox.close()
