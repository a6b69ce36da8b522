"""The console's 好差评, 差评整改, report and enrolment pages through HTTP, with each role: a viewer sees, an
operator acts on tickets, an admin changes the deadline settings and issues and revokes enrolment tokens.
The QR code the enrolment page draws is read back with the kiosk's own decoder and enrols a real kiosk."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import select

from central import daily_counts
from central.enrolment import EnrolmentRefused, accept, device_key, list_tokens
from central.feedback_models import Ticket
from central.keys import CentralKeys
from central.store import CentralStore
from central.web import auth
from central.web.app import create_app
from devtools.broker import MosquittoBroker
from drivers.codes.pipeline import DecodePipeline
from kiosk.service_mode.hardware_use import TOKEN_PREFIX
from kiosk.service_mode.provisioning import provision
from sync.protocol.enrolment import enrol_event_proof, read_token
from tests.helpers import Central
from tests.test_dashboard import PASSWORDS, _add_operators, _csrf
from tests.test_fleet import Kiosk

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ITEM, ITEM_NAME = "MZ-GNBZ-002", "高龄津贴申请"  # in the catalogue the kiosks ship


@pytest.fixture
def console(tmp_path: Path, central_keys: CentralKeys) -> Iterator[tuple[TestClient, CentralStore]]:
    central_keys.save(tmp_path / "home")
    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    _add_operators(store)
    app = create_app(store, tmp_path / "home", "mqtt://127.0.0.1:1883", session_secret="s" * 32)
    with TestClient(app) as c:
        yield c, store
    store.close()


def _login(c: TestClient, user: str) -> str:
    c.cookies.clear()
    token = _csrf(c.get("/login").text)
    r = c.post("/login", data={"username": user, "password": PASSWORDS[user], "csrf": token, "next": "/"})
    assert r.status_code == 200
    return _csrf(r.text)


def _rate(store: CentralStore, keys: CentralKeys) -> None:
    k = Kiosk(store, keys, "kiosk-r001", "东湖街道")
    k.status("online", 1)
    k.event("rating", level="very_satisfied", service_code=ITEM, receipt_no="KR-1")
    k.event("rating", level="very_dissatisfied", service_code=ITEM, receipt_no="KR-2")
    k.event("complaint", category="complaint", channel="self_service_terminal")


def test_viewer_sees_ratings_with_item_names_and_charts(console: tuple[TestClient, CentralStore],
                                                        central_keys: CentralKeys) -> None:
    c, store = console
    _rate(store, central_keys)
    _login(c, "li")
    page = c.get("/ratings").text.split("<main>")[1]
    shown = re.sub(r"<[^>]+>", " ", page)  # what a reader sees: item names and level words, not codes
    assert ITEM_NAME in shown and "非常不满意" in shown and "very_dissatisfied" not in shown and ITEM not in shown
    assert page.count("<svg") >= 3 and "50.0%" in page
    assert "<script" not in page and "style=" not in page  # the strict CSP: no inline script or style
    c.get("/lang?to=en&next=/ratings")
    assert "very dissatisfied" in c.get("/ratings").text
    api = c.get("/api/ratings?period=day").json()
    assert api["total"]["total"] == 2 and len(api["by_period"]) == 1


def test_tickets_by_role(console: tuple[TestClient, CentralStore], central_keys: CentralKeys) -> None:
    c, store = console
    _rate(store, central_keys)
    token = _login(c, "li")
    listing = c.get("/tickets").text
    assert listing.count("data-ticket=") == 2 and 'id="record-complaint"' not in listing
    with store.session() as s:
        first = s.scalars(select(Ticket).order_by(Ticket.id)).first()
        assert first is not None
        tid = first.id
    assert 'id="form-respond"' not in c.get(f"/tickets/{tid}").text
    assert c.post(f"/tickets/{tid}/respond", data={"csrf": token, "response": "x"}).status_code == 403
    assert c.post("/tickets", data={"csrf": token, "channel": "phone", "summary": "x"}).status_code == 403

    token = _login(c, "wang")
    r = c.post("/tickets", data={"csrf": token, "channel": "phone", "summary": "办事指南与窗口要求不一致",
                                 "site": "东湖街道", "item": ITEM})
    assert r.status_code == 200 and "整改期限" in r.text and ITEM_NAME in r.text
    new_id = int(r.url.path.rsplit("/", 1)[1])
    page = c.post(f"/tickets/{tid}/close", data={"csrf": token}).text
    assert "未能保存：请先保存整改回复" in page  # refused, and said why
    c.post(f"/tickets/{tid}/assign", data={"csrf": token, "owner": "zhang"})
    c.post(f"/tickets/{tid}/respond", data={"csrf": token, "response": "已优化叫号流程"})
    c.post(f"/tickets/{tid}/contact", data={"csrf": token, "method": "phone", "note": "群众表示满意"})
    page = c.post(f"/tickets/{tid}/close", data={"csrf": token}).text
    assert "已办结" in page and "zhang" in page and "群众表示满意" in page
    assert c.post("/tickets/settings", data={"csrf": token, "days": "10"}).status_code == 403
    assert [e["action"] for e in auth.audit_entries(store) if e["action"].startswith("ticket_")] == [
        "ticket_close", "ticket_contact", "ticket_respond", "ticket_assign", "ticket_record"]
    active = c.get("/tickets?state=active").text
    assert f'data-ticket="{tid}"' not in active and f'data-ticket="{new_id}"' in active
    assert 'data-ticket=' not in c.get("/tickets?state=active&overdue=1").text  # nothing is overdue yet
    assert c.get("/api/tickets?owner=zhang").json()["total"] == 1
    assert 'data-ticket=' not in c.get("/tickets?state=all&mine=1").text  # wang owns none: zhang does

    token = _login(c, "admin")
    r = c.post("/tickets/settings", data={"csrf": token, "days": "0", "holidays": "", "workdays": ""})
    assert "1-60" in r.text
    r = c.post("/tickets/settings", data={"csrf": token, "days": "10", "holidays": "2026-10-01 2026-10-02",
                                          "workdays": "2026-10-10"})
    assert "设置已保存" in r.text and "10 个工作日" in r.text and "2026-10-01 2026-10-02" in r.text
    with store.session() as s:  # the daily counts were recounted under the new calendar as it was saved
        rules = s.scalar(select(daily_counts.STATE.c.rules).where(daily_counts.STATE.c.name == "applications"))
    assert rules is not None and '"holidays": ["2026-10-01", "2026-10-02"]' in rules


def test_reports_export_csv_and_xlsx_to_every_role(console: tuple[TestClient, CentralStore],
                                                   central_keys: CentralKeys) -> None:
    c, store = console
    _rate(store, central_keys)
    _login(c, "li")
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
    default = c.get("/reports").text  # this month so far, by item
    assert f'name="date_from" value="{today[:8]}01"' in default and f'name="date_to" value="{today}"' in default
    page = c.get("/reports?by=item&date_from=1970-01-01").text  # the test kiosk's clock says 1970
    assert ITEM_NAME in page and "满意率" in page and 'id="export-xlsx"' in page
    csv_r = c.get("/reports/export.csv?by=site")
    assert csv_r.headers["content-type"].startswith("text/csv") and "attachment" in csv_r.headers["content-disposition"]
    text = csv_r.content.decode("utf-8-sig")
    assert "东湖街道" in text and "KR-1" not in text and "kiosk-r001" not in text
    x = c.get("/reports/export.xlsx?by=period&period=day")
    book = load_workbook(io.BytesIO(x.content))
    assert book.active is not None and book.active["J2"].value == 0.5
    assert c.get("/reports/export.pdf").status_code == 404
    assert [e["target"] for e in auth.audit_entries(store, action="report_export")] == ["report:period", "report:site"]


def _decode_qr(html: str) -> str:
    m = re.search(r'<img id="enrol-qr" src="data:image/png;base64,([^"]+)"', html)
    assert m, "no QR image on the page"
    image = np.array(Image.open(io.BytesIO(base64.b64decode(m.group(1)))).convert("L"))
    codes = DecodePipeline("live").decode(image)  # the kiosk's scanner pipeline
    assert len(codes) == 1 and codes[0].text
    return codes[0].text


def test_enrolment_page_by_role_and_revocation(console: tuple[TestClient, CentralStore]) -> None:
    c, store = console
    token = _login(c, "li")
    page = c.get("/enrolment").text
    assert 'id="issue-token"' not in page
    assert c.post("/enrolment/tokens", data={"csrf": token, "site": "S", "broker_url": "mqtt://h:1883"}
                  ).status_code == 403
    token = _login(c, "admin")
    r = c.post("/enrolment/tokens", data={"csrf": token, "site": "东湖街道", "broker_url": "mqtt://kiosk-broker:1883",
                                          "ttl_hours": "2"})
    assert r.status_code == 200 and "no-store" in r.headers["cache-control"]
    text = _decode_qr(r.text)
    assert text.startswith(TOKEN_PREFIX)
    listing = c.get("/enrolment").text
    shown = re.sub(r"<[^>]+>", " ", listing.split("<main>")[1])
    assert text not in listing and text.split(":", 1)[1][:40] not in listing
    assert "token_id" not in shown and "device_id" not in shown and "expires_at" not in shown  # human titles
    assert "设备编号" in listing and "有效期至" in listing and "待使用" in listing
    [row] = list_tokens(store)
    r = c.post(f"/enrolment/tokens/{row['token_id']}/revoke", data={"csrf": token})
    assert "已作废" in r.text
    assert "已作废" in c.post(f"/enrolment/tokens/{row['token_id']}/revoke", data={"csrf": token}).text
    assert list_tokens(store)[0]["state"] == "revoked"
    body = read_token(text)  # the kiosk holding the QR still cannot enrol with it
    key = base64.b64encode(b"k" * 32).decode()
    meta = {"token_id": body.tid, "device_public_key": key,
            "proof": enrol_event_proof(hashlib.sha256(body.secret.encode()).hexdigest(), body.device_id, body.tid, key)}
    with store.session() as s, s.begin(), pytest.raises(EnrolmentRefused, match="token_revoked"):
        accept(s, body.device_id, meta, time.time())
    r = c.post("/enrolment/tokens", data={"csrf": token, "site": "东湖街道", "broker_url": "not a url"})
    assert "未能签发" in r.text
    assert [e["action"] for e in auth.audit_entries(store) if e["action"].startswith("enrol_token")] == [
        "enrol_token_revoke", "enrol_token_issue"]


def test_the_qr_on_the_page_enrols_a_kiosk(tmp_path: Path, broker: MosquittoBroker, central: Central,
                                           central_keys: CentralKeys) -> None:
    central_keys.save(tmp_path / "home")
    auth.add_operator(central.store, "admin", PASSWORDS["admin"], "admin")
    app = create_app(central.store, tmp_path / "home", broker.url, session_secret="s" * 32)
    with TestClient(app) as c:
        token = _login(c, "admin")
        r = c.post("/enrolment/tokens", data={"csrf": token, "site": "东湖街道", "broker_url": broker.url})
        withdrawn = _decode_qr(r.text)
        [row] = list_tokens(central.store)
        c.post(f"/enrolment/tokens/{row['token_id']}/revoke", data={"csrf": token})
        (tmp_path / "kiosk0").mkdir()
        refused = provision(tmp_path / "kiosk0", withdrawn, timeout_s=20)
        assert not refused.ok and refused.code == "token_revoked" and "作废" in refused.message, refused
        r = c.post("/enrolment/tokens", data={"csrf": token, "site": "东湖街道", "broker_url": broker.url})
        text = _decode_qr(r.text)
        device = re.search(r'id="issued-device">([^<]+)<', r.text)
        assert device
        home = tmp_path / "kiosk"
        home.mkdir()
        result = provision(home, text, timeout_s=20)
        assert result.ok and result.code == "enrolled", result
        assert device_key(central.store, device.group(1)) is not None
        assert "已使用" in c.get("/enrolment").text


def _sealed_complaint(store: CentralStore, keys: CentralKeys, k: Kiosk, private: dict[str, str]) -> None:
    """A complaint as the kiosk's outbox queues it: the resident's words sealed for the central."""
    import json

    from central.messages import parse
    from sync.protocol import topics
    from sync.protocol.envelope import Envelope
    from sync.protocol.ids import new_message_id
    from sync.protocol.sealing import seal
    from tests.helpers import TEST_KEYRING

    k.seq += 1
    mid = new_message_id()
    sealed = seal(keys.seal.public_raw, json.dumps(private, ensure_ascii=False).encode(), aad=mid.encode("ascii"))
    env = Envelope(id=mid, seq=k.seq, device_id=k.device_id, kind="event", created_at=time.time(), sealed=sealed,
                   meta={"type": "complaint", "category": "complaint", "channel": "self_service_terminal"})
    store.apply([parse(keys, topics.parse(topics.up(k.device_id, "event")), k.signer.sign(env).to_bytes(),
                       TEST_KEYRING)])


def test_an_operator_opens_the_residents_words_audited_and_masked(console: tuple[TestClient, CentralStore],
                                                                   central_keys: CentralKeys) -> None:
    c, store = console
    k = Kiosk(store, central_keys, "kiosk-w001", "东湖街道")
    k.status("online", 1)
    _sealed_complaint(store, central_keys, k, {"text": "等了一个小时没人处理", "phone": "13800138000"})
    with store.session() as s:
        [ticket] = s.scalars(select(Ticket)).all()
    token = _login(c, "li")
    page = c.get(f"/tickets/{ticket.id}").text
    assert "等了一个小时" not in page and 'id="form-words"' not in page
    assert c.post(f"/tickets/{ticket.id}/words", data={"csrf": token}).status_code == 403
    token = _login(c, "wang")
    assert 'id="form-words"' in c.get(f"/tickets/{ticket.id}").text
    words = c.post(f"/tickets/{ticket.id}/words", data={"csrf": token}).text
    assert "等了一个小时没人处理" in words and "138****8000" in words and "13800138000" not in words
    assert [(e["actor"], e["target"]) for e in auth.audit_entries(store, action="ticket_words_view")] == [
        ("wang", f"ticket:{ticket.id}")]
    assert "等了一个小时" not in c.get("/tickets").text and "等了一个小时" not in str(c.get("/api/tickets").json())


def test_statistics_are_counted_at_most_a_minute_ago_and_the_newest_ratings_are_current(
        console: tuple[TestClient, CentralStore], central_keys: CentralKeys) -> None:
    from central.web.console_views import STATS, StatsCache

    calls: list[int] = []

    def count() -> int:
        calls.append(1)
        return len(calls)

    cache = StatsCache(ttl_s=60)
    assert cache.get(("k",), count, 1000.0) == (1, 1000.0)
    assert cache.get(("k",), count, 1059.0) == (1, 1000.0)
    assert cache.get(("k",), count, 1060.5) == (2, 1060.5)

    c, store = console
    STATS.clear()
    _rate(store, central_keys)
    _login(c, "li")
    assert c.get("/api/ratings").json()["total"]["total"] == 2
    Kiosk(store, central_keys, "kiosk-r003", "西城街道").event("rating", level="satisfied", service_code=ITEM,
                                                             receipt_no="KR-3")
    later = c.get("/api/ratings").json()
    assert later["total"]["total"] == 2  # the counts: from the minute-old cache
    assert "KR-3" in {r["receipt_no"] for r in later["recent"]}  # the newest ratings: as they are now
    STATS.clear()
    assert c.get("/api/ratings").json()["total"]["total"] == 3
