"""Alarm rules an admin sets (thresholds, off, notify), alarms acknowledged with a note, and notifications
by e-mail through a real SMTP server (aiosmtpd on a free port) and by webhook (a real HTTP server), retried
with backoff, carrying no personal data."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from central import alarm_rules, alarms, notifier
from central.fleet import alarms_list, evaluate_alarms
from central.keys import CentralKeys
from central.store import CentralStore
from central.web import auth
from central.web.app import create_app
from central.web.server import alarm_titles
from tests.test_dashboard import _add_operators, _csrf, _login
from tests.test_fleet import Kiosk, pg_server  # noqa: F401

MESSAGE_KEYS = {"type", "alarm_id", "device_id", "site", "district", "code", "title_zh", "title_en", "severity",
                "detail", "raised_at", "open"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CentralStore]:
    s = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    yield s
    s.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])  # ~8 s to start a cluster
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CentralStore]:
    """SQLite and a private PostgreSQL (test_fleet's server), as the central runs on either."""
    if request.param == "sqlite":
        yield request.getfixturevalue("store")
        return
    import psycopg

    pg = request.getfixturevalue("pg_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    s = CentralStore(pg.url.rsplit("/", 1)[0] + f"/{name}")
    yield s
    s.close()
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        self.arrived.set()
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller

    from devtools.broker import free_port

    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


class Hook:
    """A webhook receiver that answers 500 to the first ``fail`` requests."""

    def __init__(self, fail: int) -> None:
        self.fail, self.bodies, self.statuses = fail, [], []  # type: ignore[var-annotated]


@pytest.fixture
def webhook() -> Iterator[tuple[Hook, str]]:
    hook = Hook(fail=1)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = 500 if len(hook.statuses) < hook.fail else 204
            hook.statuses.append(status)
            if status == 204:
                hook.bodies.append(json.loads(body))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook, f"http://127.0.0.1:{server.server_address[1]}/alarms"
    server.shutdown()
    server.server_close()


def _set_rule(store: CentralStore, code: str, *, enabled: bool = True, threshold: Any = None,
              notify: bool = False) -> None:
    with store.session() as s, s.begin():
        alarm_rules.put(s, code, enabled, threshold, notify, actor="admin", now=1.0)


def _open_codes(store: CentralStore, device_id: str) -> set[str]:
    return {a["code"] for a in alarms_list(store) if a["device_id"] == device_id}


def test_admin_rules_set_thresholds_and_switch_codes_off(any_store: CentralStore, central_keys: CentralKeys) -> None:
    store = any_store
    k = Kiosk(store, central_keys, "k-rules")
    k.status("online", 1)
    k.telemetry(oldest=31 * 60.0)  # 31 min undelivered: under the server's 60 min
    now = k.last_seen + 1
    evaluate_alarms(store, now)
    assert "oldest_pending" not in _open_codes(store, "k-rules")
    _set_rule(store, "oldest_pending", threshold=30)  # the example: over 30 min
    evaluate_alarms(store, now)
    assert "oldest_pending" in _open_codes(store, "k-rules")
    _set_rule(store, "oldest_pending", enabled=False, threshold=30)  # switched off: cleared, not raised again
    evaluate_alarms(store, now)
    evaluate_alarms(store, now + 1)
    assert "oldest_pending" not in _open_codes(store, "k-rules")
    with pytest.raises(ValueError, match="1-10080 min"):
        _set_rule(store, "oldest_pending", threshold=0)
    with pytest.raises(ValueError, match="unknown alarm code"):
        _set_rule(store, "no_such_code")
    # No heartbeat for N minutes: 2 min instead of the server's 5.
    _set_rule(store, "offline", threshold=2, notify=True)
    evaluate_alarms(store, k.last_seen + 150)
    assert "offline" in _open_codes(store, "k-rules")


def test_acknowledge_needs_a_note_and_keeps_the_alarm_open(store: CentralStore, central_keys: CentralKeys) -> None:
    k = Kiosk(store, central_keys, "k-ack")
    k.status("online", 1)
    k.telemetry(disk=100 * 1024 * 1024)
    evaluate_alarms(store, k.last_seen + 1)
    (alarm,) = [a for a in alarms_list(store) if a["device_id"] == "k-ack"]
    with store.session() as s, s.begin(), pytest.raises(ValueError, match="needs a note"):
        alarms.acknowledge(s, alarm["id"], "wang", "   ", 5.0)
    with store.session() as s, s.begin():
        acked = alarms.acknowledge(s, alarm["id"], "wang", "已通知站点  清理磁盘", 5.0)
        assert acked is not None
    (after,) = [a for a in alarms_list(store) if a["device_id"] == "k-ack"]
    assert after["open"] and after["acked_by"] == "wang" and after["ack_note"] == "已通知站点 清理磁盘"


def test_email_and_webhook_notifications_retry_and_hold_no_personal_data(
        any_store: CentralStore, central_keys: CentralKeys, smtp: tuple[Mailbox, int],
        webhook: tuple[Hook, str]) -> None:
    store = any_store
    box, port = smtp
    hook, url = webhook
    with store.session() as s, s.begin():
        notifier.add_channel(s, "email", "duty@street.example.cn", actor="admin", now=1.0)
        notifier.add_channel(s, "webhook", url, actor="admin", now=1.0)
        with pytest.raises(ValueError, match="e-mail"):
            notifier.add_channel(s, "email", "not an address", actor="admin", now=1.0)
        with pytest.raises(ValueError, match="http"):
            notifier.add_channel(s, "webhook", "file:///etc/passwd", actor="admin", now=1.0)
    k = Kiosk(store, central_keys, "k-notify", site="东湖街道")
    k.status("online", 1)
    # A resident's name in a submission's event meta must never reach a notification.
    k.event("staff_call_note", applicant_name="钱七")
    k.telemetry(oldest=45 * 60.0)
    _set_rule(store, "oldest_pending", threshold=30, notify=True)
    delivery = notifier.Delivery(smtp=notifier.SmtpRelay("127.0.0.1", port, sender="central@street.example.cn"),
                                 backoff_s=60, max_attempts=3, titles=alarm_titles, timeout_s=5)
    now = k.last_seen + 1
    evaluate_alarms(store, now)

    first = notifier.run_once(store, delivery, now)
    assert first == {"queued": 2, "sent": 1, "retry": 1, "failed": 0}  # the webhook answered 500
    assert box.arrived.wait(5)
    (mail,) = box.messages
    assert mail["To"] == "duty@street.example.cn" and "k-notify" in mail["Subject"]
    body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "积压过久" in body and "东湖街道" in body and "钱七" not in body and "钱七" not in mail["Subject"]
    # Nothing is due before the backoff; then the webhook is sent, once.
    assert notifier.run_once(store, delivery, now + 59) == {"queued": 0, "sent": 0, "retry": 0, "failed": 0}
    assert notifier.run_once(store, delivery, now + 61)["sent"] == 1
    (payload,) = hook.bodies
    assert set(payload) == MESSAGE_KEYS and payload["code"] == "oldest_pending" and payload["site"] == "东湖街道"
    assert "钱七" not in json.dumps(payload, ensure_ascii=False)
    assert notifier.run_once(store, delivery, now + 3600) == {"queued": 0, "sent": 0, "retry": 0, "failed": 0}
    assert len(box.messages) == 1 and hook.statuses == [500, 204]


def test_notifications_give_up_and_skip_acknowledged_alarms(store: CentralStore, central_keys: CentralKeys) -> None:
    with store.session() as s, s.begin():
        notifier.add_channel(s, "email", "duty@street.example.cn", actor="admin", now=1.0)
    k = Kiosk(store, central_keys, "k-giveup")
    k.status("online", 1)
    k.telemetry(disk=10 * 1024 * 1024)  # disk_low notifies by default
    evaluate_alarms(store, k.last_seen + 1)
    delivery = notifier.Delivery(smtp=None, backoff_s=10, max_attempts=2)  # no relay: every e-mail fails
    t = k.last_seen + 1
    assert notifier.run_once(store, delivery, t)["retry"] == 1
    assert notifier.run_once(store, delivery, t + 10)["failed"] == 1
    with store.session() as s:
        (row,) = notifier.recent(s)
    assert row["state"] == "failed" and row["attempts"] == 2 and row["last_error"] == "RuntimeError"
    # An alarm acknowledged before the notifier saw it is not notified.
    k2 = Kiosk(store, central_keys, "k-acked")
    k2.status("online", 1)
    k2.telemetry(disk=10 * 1024 * 1024)
    evaluate_alarms(store, k2.last_seen + 1)
    (a,) = [x for x in alarms_list(store) if x["device_id"] == "k-acked"]
    with store.session() as s, s.begin():
        alarms.acknowledge(s, a["id"], "wang", "technician on the way", t)
    assert notifier.run_once(store, delivery, t + 20)["queued"] == 0


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, CentralStore]]:
    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    _add_operators(store)
    app = create_app(store, tmp_path, "mqtt://127.0.0.1:1", session_secret="s" * 32)
    with TestClient(app) as c:
        yield c, store
    store.close()


def test_roles_over_http_ack_audited_rules_and_channels_admin_only(client: tuple[TestClient, CentralStore],
                                                                   central_keys: CentralKeys) -> None:
    c, store = client
    k = Kiosk(store, central_keys, "k-http")
    k.status("online", 1)
    k.telemetry(disk=10 * 1024 * 1024)
    evaluate_alarms(store, k.last_seen + 1)
    (a,) = alarms_list(store)
    token = _login(c, "li")  # viewer: sees, cannot act
    assert "告警规则与通知" in c.get("/alarms/rules").text
    assert c.post(f"/alarms/{a['id']}/ack", data={"csrf": token, "note": "x"}).status_code == 403
    assert c.post("/alarms/rules", data={"csrf": token}).status_code == 403
    token = _login(c, "wang")  # operator: acknowledges, cannot set rules
    page = c.post(f"/alarms/{a['id']}/ack", data={"csrf": token, "note": "已联系站点更换硬盘"})
    assert "已联系站点更换硬盘" in page.text and "告警已确认" in page.text
    assert c.post("/alarms/channels", data={"csrf": _csrf(page.text), "kind": "email",
                                            "target": "a@b.cn"}).status_code == 403
    (entry,) = auth.audit_entries(store, action="alarm_ack")
    assert entry["actor"] == "wang" and entry["detail"]["note"] == "已联系站点更换硬盘"
    token = _login(c, "admin")
    form = {"csrf": token, "threshold-oldest_pending": "30", "enabled-oldest_pending": "1",
            "notify-oldest_pending": "1"}
    for spec in alarm_rules.CATALOGUE:
        if spec.code != "oldest_pending":
            form[f"enabled-{spec.code}"] = "1"
            if spec.unit:
                form[f"threshold-{spec.code}"] = str(alarm_rules.shown_threshold(
                    c.app.state.web.thresholds, alarm_rules.Rule(spec.code, True, None, spec.notify, spec.unit)))
            if spec.notify:
                form[f"notify-{spec.code}"] = "1"
    page = c.post("/alarms/rules", data=form)
    assert "告警规则已保存" in page.text
    (entry,) = auth.audit_entries(store, action="alarm_rules")
    assert entry["detail"] == {"oldest_pending": {"enabled": True, "threshold": 30.0, "notify": True}}
    bad = c.post("/alarms/rules", data={**form, "csrf": _csrf(page.text), "threshold-offline": "abc"})
    assert "规则未保存" in bad.text
    page = c.post("/alarms/channels", data={"csrf": _csrf(bad.text), "kind": "webhook",
                                            "target": "https://ops.example.cn/hook"})
    assert "https://ops.example.cn/hook" in page.text and "已添加通知接收方" in page.text
    c.get("/lang?to=en&next=/alarms/rules")
    english = c.get("/alarms/rules").text
    assert "Alarm rules and notifications" in english and "oldest undelivered" in english


def test_serve_flags_configure_the_relay_and_keep_the_password_out_of_argv() -> None:
    import argparse

    p = argparse.ArgumentParser()
    notifier.add_arguments(p)
    args = p.parse_args(["--smtp", "mail.street.example.cn:587", "--smtp-starttls", "--smtp-user", "ops",
                         "--public-url", "https://ops.example.cn/"])
    d = notifier.delivery_from_args(args, {"KIOSK_CENTRAL_SMTP_PASSWORD": "pw"}, alarm_titles)
    assert d.smtp == notifier.SmtpRelay("mail.street.example.cn", 587, starttls=True, username="ops", password="pw")
    assert "pw" not in repr(d.smtp) and d.dashboard_url == "https://ops.example.cn/"
    assert notifier.delivery_from_args(p.parse_args([]), {}, alarm_titles).smtp is None
    with pytest.raises(ValueError, match="HOST:PORT"):
        notifier.delivery_from_args(p.parse_args(["--smtp", "mail"]), {}, alarm_titles)


def test_the_dashboard_server_evaluates_and_notifies_by_itself(tmp_path: Path, central_keys: CentralKeys,
                                                               webhook: tuple[Hook, str]) -> None:
    import time

    from central.web.server import serve

    hook, url = webhook
    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    with store.session() as s, s.begin():
        notifier.add_channel(s, "webhook", url, actor="admin", now=1.0)
    server = serve(store, "127.0.0.1", 0, keys_home=tmp_path / "home", broker_url="mqtt://127.0.0.1:1",
                   session_secret="s" * 32, evaluate_every_s=0.1,
                   delivery=notifier.Delivery(backoff_s=0.1, titles=alarm_titles, timeout_s=5))
    try:
        k = Kiosk(store, central_keys, "k-served")
        k.status("online", 1)
        k.telemetry(disk=10 * 1024 * 1024)  # disk_low: notified by default
        deadline = time.monotonic() + 15
        while not hook.bodies and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [b["code"] for b in hook.bodies] == ["disk_low"] and hook.statuses == [500, 204]  # retried once
    finally:
        server.stop()
        store.close()
