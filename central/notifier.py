"""Alarm notifications by e-mail (through an SMTP relay) and by webhook (an HTTP POST of JSON), with retries.

``queue_new`` looks at the alarms not yet considered (``alarms.notified_at`` NULL): those whose rule says
notify (``central.alarm_rules``) get one ``notifications`` row per enabled channel. ``deliver_due`` sends
the rows that are due; a failure is retried after ``backoff_s``, doubled each time, until ``max_attempts``,
then the row is ``failed`` (shown on the rules page). ``run_once`` does both; the dashboard server calls it
after each alarm evaluation.

A message says which kiosk, where, what and when: the alarm's code, severity and detail (which never hold
personal data, see ``central.fleet_models.Alarm``), the site and its district, never anything a resident
entered. Errors are logged by type and status only.
"""

from __future__ import annotations

import json
import logging
import re
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from central import alarm_rules
from central.alerting_models import Notification, NotifyChannel, SiteDistrict
from central.fleet_models import Alarm
from central.models import Device
from central.store import CentralStore

log = logging.getLogger("kiosk.central.notifier")

KINDS = ("email", "webhook")
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$|^[^@\s<>\"',;]{1,64}@localhost$")


def _plain_titles(code: str) -> tuple[str, str]:
    return code, code


@dataclass(frozen=True)
class SmtpRelay:
    """The SMTP server the central sends through (deployment configuration, not kept in the database)."""

    host: str
    port: int = 25
    sender: str = "kiosk-central@localhost"
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 10.0


@dataclass(frozen=True)
class Delivery:
    smtp: SmtpRelay | None = None
    timeout_s: float = 10.0  # per webhook request
    max_attempts: int = 5
    backoff_s: float = 60.0  # after the first failure; doubled after each further one
    batch: int = 50
    dashboard_url: str = ""  # the link in a message, if the dashboard has a public address
    titles: Callable[[str], tuple[str, str]] = _plain_titles  # code -> (Chinese, English) title


def _sessions(store: CentralStore) -> sessionmaker[Session]:
    return sessionmaker(store.engine, expire_on_commit=False)


# -- channels ---------------------------------------------------------------------------------------------


def check_target(kind: str, target: str) -> str:
    """The target to store, or ValueError: one e-mail address, or an http(s) URL with a host."""
    target = target.strip()
    if kind == "email":
        if not _EMAIL.match(target):
            raise ValueError("not an e-mail address")
        return target
    if kind == "webhook":
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(target) > 512:
            raise ValueError("a webhook is an http:// or https:// URL")
        return target
    raise ValueError(f"unknown channel kind {kind!r}")


def add_channel(s: Session, kind: str, target: str, *, actor: str, now: float) -> NotifyChannel:
    channel = NotifyChannel(kind=kind, target=check_target(kind, target), enabled=True, created_at=now,
                            created_by=actor[:64])
    s.add(channel)
    s.flush()
    return channel


def remove_channel(s: Session, channel_id: int) -> NotifyChannel | None:
    channel = s.get(NotifyChannel, channel_id)
    if channel is not None:
        s.delete(channel)
        for n in s.scalars(select(Notification).where(Notification.channel_id == channel_id,
                                                      Notification.state == "pending")):
            n.state, n.last_error = "failed", "channel removed"
    return channel


def channels(s: Session) -> list[dict[str, Any]]:
    return [{"id": c.id, "kind": c.kind, "target": c.target, "enabled": c.enabled, "created_by": c.created_by}
            for c in s.scalars(select(NotifyChannel).order_by(NotifyChannel.id))]


def recent(s: Session, limit: int = 50) -> list[dict[str, Any]]:
    """The last notifications, newest first, with their alarm's device and code."""
    rows = s.execute(select(Notification, Alarm.device_id, Alarm.code, NotifyChannel.kind)
                     .join(Alarm, Alarm.id == Notification.alarm_id)
                     .outerjoin(NotifyChannel, NotifyChannel.id == Notification.channel_id)
                     .order_by(Notification.id.desc()).limit(limit)).all()
    return [{"id": n.id, "alarm_id": n.alarm_id, "device_id": device_id, "code": code, "kind": kind or "-",
             "state": n.state, "attempts": n.attempts, "last_error": n.last_error, "created_at": n.created_at,
             "sent_at": n.sent_at} for n, device_id, code, kind in rows]


# -- queueing and sending ---------------------------------------------------------------------------------


def queue_new(s: Session, now: float) -> int:
    """Queue the notifications of alarms raised since the last call; how many rows were queued."""
    fresh = list(s.scalars(select(Alarm).where(Alarm.notified_at.is_(None)).order_by(Alarm.id)))
    if not fresh:
        return 0
    rules = alarm_rules.rules(s)
    targets = [c.id for c in s.scalars(select(NotifyChannel).where(NotifyChannel.enabled.is_(True)))]
    queued = 0
    for a in fresh:
        a.notified_at = now
        if a.cleared_at is not None or a.acked_at is not None or not alarm_rules.notified(rules, a.code):
            continue
        for channel_id in targets:
            s.add(Notification(alarm_id=a.id, channel_id=channel_id, state="pending", attempts=0, next_at=now,
                               last_error="", created_at=now))
            queued += 1
    return queued


def message(a: Alarm, site: str, district: str, delivery: Delivery) -> dict[str, Any]:
    """What a notification says (JSON for a webhook, the text of an e-mail): nothing about any resident."""
    zh, en = delivery.titles(a.code)
    out: dict[str, Any] = {
        "type": "alarm", "alarm_id": a.id, "device_id": a.device_id, "site": site, "district": district,
        "code": a.code, "title_zh": zh, "title_en": en, "severity": a.severity, "detail": a.detail,
        "raised_at": datetime.fromtimestamp(a.raised_at, UTC).isoformat(timespec="seconds"),
        "open": a.cleared_at is None,
    }
    if delivery.dashboard_url:
        out["url"] = delivery.dashboard_url.rstrip("/") + "/alarms"
    return out


def email_for(msg: dict[str, Any], sender: str, to: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = f"【自助终端告警】{msg['site']} {msg['device_id']} {msg['title_zh']}"
    lines = [
        f"设备 Kiosk: {msg['device_id']}", f"站点 Site: {msg['site']}", f"区 District: {msg['district'] or '-'}",
        f"告警 Alarm: {msg['title_zh']} / {msg['title_en']} ({msg['code']})", f"级别 Severity: {msg['severity']}",
        f"详情 Detail: {msg['detail'] or '-'}", f"时间 Raised (UTC): {msg['raised_at']}",
    ]
    if msg.get("url"):
        lines.append(f"处理 Handle at: {msg['url']}")
    mail.set_content("\n".join(lines) + "\n")
    return mail


def _send_email(relay: SmtpRelay, mail: EmailMessage) -> None:
    with smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout_s) as smtp:
        if relay.starttls:
            smtp.starttls()
        if relay.username:
            smtp.login(relay.username, relay.password or "")
        smtp.send_message(mail)


def _post_webhook(url: str, msg: dict[str, Any], timeout_s: float) -> None:
    body = json.dumps(msg, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 (checked http/https)
                                     headers={"Content-Type": "application/json; charset=utf-8",
                                              "User-Agent": "kiosk-central-alarms"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
        if not 200 <= response.status < 300:
            raise urllib.error.HTTPError(url, response.status, "not 2xx", response.headers, None)


def _error_text(exc: BaseException) -> str:
    """The failure without any server-supplied text that could echo a message: its type and code."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"SMTP {exc.smtp_code}"
    return type(exc).__name__


def deliver_due(store: CentralStore, delivery: Delivery, now: float | None = None) -> dict[str, int]:
    """Send the notifications that are due; counts of ``sent``, ``retry`` and ``failed``."""
    now = time.time() if now is None else now
    with _sessions(store)() as s:
        due = s.execute(select(Notification, Alarm, NotifyChannel, Device.site)
                        .join(Alarm, Alarm.id == Notification.alarm_id)
                        .join(NotifyChannel, NotifyChannel.id == Notification.channel_id)
                        .outerjoin(Device, Device.device_id == Alarm.device_id)
                        .where(Notification.state == "pending", Notification.next_at <= now)
                        .order_by(Notification.next_at, Notification.id).limit(delivery.batch)).all()
        districts = {d.site: d.district for d in s.scalars(select(SiteDistrict))}
    counts = {"sent": 0, "retry": 0, "failed": 0}
    outcomes: list[tuple[int, str | None]] = []
    for n, a, channel, site in due:
        msg = message(a, site or "", districts.get(site or "", ""), delivery)
        try:
            if channel.kind == "email":
                if delivery.smtp is None:
                    raise RuntimeError("no SMTP relay configured")
                _send_email(delivery.smtp, email_for(msg, delivery.smtp.sender, channel.target))
            else:
                _post_webhook(channel.target, msg, delivery.timeout_s)
            outcomes.append((n.id, None))
        except (OSError, smtplib.SMTPException, RuntimeError) as exc:
            outcomes.append((n.id, _error_text(exc)))
            log.warning("alarm notification %d (%s) failed: %s", n.id, channel.kind, _error_text(exc))
    with _sessions(store).begin() as s:
        for notification_id, error in outcomes:
            row = s.get(Notification, notification_id)
            if row is None:
                continue
            row.attempts += 1
            if error is None:
                row.state, row.sent_at, row.last_error = "sent", now, ""
                counts["sent"] += 1
            elif row.attempts >= delivery.max_attempts:
                row.state, row.last_error = "failed", error
                counts["failed"] += 1
            else:
                row.next_at, row.last_error = now + delivery.backoff_s * 2 ** (row.attempts - 1), error
                counts["retry"] += 1
    return counts


def run_once(store: CentralStore, delivery: Delivery, now: float | None = None) -> dict[str, int]:
    """Queue what new alarms call for, then send what is due."""
    now = time.time() if now is None else now
    with _sessions(store).begin() as s:
        queued = queue_new(s, now)
    return {"queued": queued, **deliver_due(store, delivery, now)}


# -- configuration ------------------------------------------------------------------------------------------


def add_arguments(p: Any) -> None:
    """``kiosk-central serve``'s flags for the SMTP relay (the password only from the environment)."""
    p.add_argument("--smtp", metavar="HOST:PORT", help="SMTP relay for alarm e-mail (default $KIOSK_CENTRAL_SMTP)")
    p.add_argument("--smtp-from", metavar="ADDRESS", help="sender of alarm e-mail (default kiosk-central@localhost)")
    p.add_argument("--smtp-starttls", action="store_true", help="STARTTLS before sending")
    p.add_argument("--smtp-user", help="log in to the relay as this user (password: $KIOSK_CENTRAL_SMTP_PASSWORD)")
    p.add_argument("--public-url", help="the dashboard's address, linked from alarm notifications")


def delivery_from_args(args: Any, environ: dict[str, str], titles: Callable[[str], tuple[str, str]]) -> Delivery:
    """The notifier's configuration from those flags; ValueError for a malformed ``--smtp``."""
    relay = None
    value = getattr(args, "smtp", None) or environ.get("KIOSK_CENTRAL_SMTP", "")
    if value:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError("--smtp takes HOST:PORT")
        relay = SmtpRelay(host.strip("[]"), int(port), sender=getattr(args, "smtp_from", None) or SmtpRelay.sender,
                          starttls=bool(getattr(args, "smtp_starttls", False)),
                          username=getattr(args, "smtp_user", None),
                          password=environ.get("KIOSK_CENTRAL_SMTP_PASSWORD"))
    return Delivery(smtp=relay, titles=titles, dashboard_url=getattr(args, "public_url", None) or "")
