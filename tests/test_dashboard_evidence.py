"""Evidence levels of materials on the application's page (issue 20, 国办函〔2016〕108号), over HTTP and in real
Chromium: each material shows its level in words (A 电子证照..., C 自助拍照, D 承诺), not a bare letter; a viewer
sees it and cannot change it; an operator marks a material 已由工作人员核验 (CSRF, audited), which makes it B at the
central while the kiosk's level stays on record; once, for a material the application has."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from sqlalchemy import insert, select

from central.fleet_models import AuditEntry
from central.models import Device, Submission
from central.store import CentralStore
from central.web.server import DashboardServer
from tests.helpers import Central
from tests.test_dashboard import (  # noqa: F401 - fixtures
    FIELDS,
    _browser_login,
    _login,
    _wait,
    browser,
    central_with_dashboard,
    client,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

RECEIPT = "KR-20260101-AB12-000002-0"
MATERIALS = [
    {"id": "material_id_card", "kind": "material", "label": "居民身份证", "value": "exempt", "exempt": "chip",
     "evidence": "A", "evidence_basis": "chip"},
    {"id": "material_residence_permit", "kind": "material", "label": "居住证", "value": "declared",
     "declared": True, "evidence": "D", "evidence_basis": "declaration"},
    {"id": "material_photo", "kind": "material", "label": "近期免冠彩色照片", "value": "captured", "file": 0,
     "evidence": "C", "evidence_basis": "photo"},
]


def _application(store: CentralStore, sid: str = "s-ev") -> None:
    with store.engine.begin() as conn:
        conn.execute(insert(Device).values(device_id="k-ev", site="东四街道", status="online", conn=1, status_at=1.0,
                                           last_seen=1.0, version="", telemetry_json="{}"))
        conn.execute(insert(Submission).values(
            id=sid, device_id="k-ev", seq=1, service_code="MZ-LNYD-001", receipt_no=RECEIPT, created_at=1.0,
            received_at=2.0, fields_json=json.dumps(FIELDS + MATERIALS, ensure_ascii=False), attachments_expected=0,
            complete=True))


def _row(page: str, material: str) -> str:
    start = page.index(f'id="material-{material}"')
    return page[start:page.index("</tr>", start)]


def _checks(store: CentralStore) -> list[dict[str, Any]]:
    with store.session() as s:
        return [{"actor": a.actor, "target": a.target, **json.loads(a.detail)}
                for a in s.scalars(select(AuditEntry).where(AuditEntry.action == "material_checked"))]


def test_levels_in_words_and_staff_check_over_http(client: tuple[TestClient, CentralStore]) -> None:  # noqa: F811
    c, store = client
    _application(store)
    token = _login(c, "li")  # a viewer sees the levels, in words, and no check button
    page = c.get("/applications/s-ev").text
    assert "A 级：电子证照（加盖签发机关电子印章，已核验）" in _row(page, "id_card")
    assert "D 级：申请人承诺（告知承诺制）" in _row(page, "residence_permit")
    assert "C 级：申请人自助拍照" in _row(page, "photo") and 'id="check-photo"' not in page
    assert c.post("/applications/s-ev/materials/photo/checked", data={"csrf": token}).status_code == 403
    c.post("/logout", data={"csrf": token})

    token = _login(c, "wang")  # an operator checks the photo against the original
    page = c.get("/applications/s-ev").text
    assert all(f'id="check-{m}"' in page for m in ("id_card", "residence_permit", "photo"))
    assert c.post("/applications/s-ev/materials/photo/checked", data={}).status_code == 403  # no CSRF token
    assert _checks(store) == []
    r = c.post("/applications/s-ev/materials/photo/checked", data={"csrf": token})
    assert r.status_code == 200 and "“近期免冠彩色照片”已记为工作人员核验（B 级）" in r.text
    row = _row(r.text, "photo")
    assert "B 级：工作人员核验" in row and "wang 于" in row and "自助终端记录：C 级：申请人自助拍照" in row
    assert 'id="check-photo"' not in r.text and 'id="check-residence_permit"' in r.text
    assert "D 级" in _row(r.text, "residence_permit")  # the others keep theirs
    [check] = _checks(store)
    assert check == {"actor": "wang", "target": RECEIPT, "submission_id": "s-ev", "material": "photo",
                     "from": "C", "to": "B"}
    # Once only; and only a material the application has.
    r = c.post("/applications/s-ev/materials/photo/checked", data={"csrf": token})
    assert "这项材料已核验过" in r.text and len(_checks(store)) == 1
    r = c.post("/applications/s-ev/materials/hukou/checked", data={"csrf": token})
    assert "此办件没有这项材料" in r.text and len(_checks(store)) == 1
    assert c.post("/applications/nope/materials/photo/checked", data={"csrf": token}).status_code == 404
    # The JSON API and the English page say the same.
    api = c.get("/api/applications/s-ev").json()
    assert {m["id"]: (m["evidence"], m["kiosk_evidence"]) for m in api["evidence"]} == {
        "id_card": ("A", "A"), "residence_permit": ("D", "D"), "photo": ("B", "C")}
    c.get("/lang", params={"to": "en", "next": "/applications"})
    page = c.get("/applications/s-ev").text
    assert "Recent colour photo" in _row(page, "photo") and "B: checked by staff" in _row(page, "photo")
    assert "A: e-licence with the issuer&#39;s seal, verified" in _row(page, "id_card")


@pytest.mark.slow
def test_browser_operator_marks_a_material_checked_by_staff(
        browser: Any, central_with_dashboard: tuple[Central, DashboardServer]) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    central, dash = central_with_dashboard
    _application(central.store)
    _browser_login(browser, dash.url, "li")
    _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="logged in")
    browser.get(dash.url + "/applications/s-ev")
    assert browser.find_element(By.ID, "evidence-photo").text == "C 级：申请人自助拍照"
    assert not browser.find_elements(By.CSS_SELECTOR, "form.check-material")
    _browser_login(browser, dash.url, "wang")
    _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="logged in")
    browser.get(dash.url + "/applications/s-ev")
    browser.find_element(By.ID, "check-photo").click()
    _wait(browser, lambda d: d.find_element(By.ID, "evidence-photo").text == "B 级：工作人员核验",
          what="level B after the check")
    assert "已记为工作人员核验" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    assert browser.find_element(By.ID, "evidence-id_card").text.startswith("A 级：电子证照")
    assert not browser.find_elements(By.ID, "check-photo")
    assert [c["material"] for c in _checks(central.store)] == ["photo"]
