"""“我的申请”: the status of a resident's applications, from this machine's database.

By receipt number: the status the central pushed down (``application_status``, written by the sync
daemon from signed ``app_status`` commands) wins; otherwise the kiosk shows what it knows itself: queued,
being sent, delivered (acked) or rejected, with the time.

By ID card: the kiosk computes the lookup tag HMAC-SHA256(site lookup key, normalised ID number) and lists
every application of that card it knows of: those the central pushed with that tag (made at any kiosk of
the site, once the central has set a status) and those made at this kiosk, whose tag the kiosk records
at submission (:func:`record_own`, status :data:`OWN`) until the central's status replaces it. Before,
only the central's rows were listed: a card with three applications, one of them with a status set,
listed one. The kiosk stores no link between a person and a receipt beyond that keyed tag (the same the
central pushes); the ID number is used for the tag and dropped. The site key is in
``{home}/secrets/lookup_key`` (base64, 0600, delivered in the enrolment token); without it the card
lookup is unavailable.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, select, text

from sync.daemon.app_status import OWN, application_status
from sync.outbox.models import OutboxMessage, State
from sync.outbox.store import Outbox
from sync.protocol.commands import APP_STATUSES, lookup_tag
from sync.runtime.files import write_private

STATUS_TABLE = "application_status"
LOOKUP_KEY_FILE = Path("secrets") / "lookup_key"
MAX_LISTED = 50

_LOCAL_KEYS = {State.PENDING: "statusQueued", State.SENT: "statusSent", State.ACKED: "statusDelivered",
               State.REJECTED: "statusRejected"}


@dataclass(frozen=True)
class ApplicationStatus:
    receipt_no: str
    state: str  # a local state (pending/sent/acked/rejected) or the central's status code
    text_key: str  # i18n key of the state; "" when the central sent a code this kiosk does not know
    updated_at: float
    source: str  # "central" | "local"
    service_code: str = ""
    detail: dict[str, str] | None = None  # the central's decision in words, {"zh", "en"}

    def detail_text(self, lang: str) -> str:
        if not self.detail:
            return ""
        return self.detail.get("en" if lang == "en" else "zh", "") or self.detail.get("zh", "")


def _detail(raw: object) -> dict[str, str] | None:
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return {k: str(v) for k, v in value.items() if k in ("zh", "en")} if isinstance(value, dict) else None


def _central_text_key(code: str) -> str:
    return f"appStatus_{code}" if code in APP_STATUSES else ""


def _has_table(outbox: Outbox) -> bool:
    with outbox.engine.connect() as conn:
        return STATUS_TABLE in inspect(conn).get_table_names()


def lookup(outbox: Outbox, receipt_no: str) -> ApplicationStatus | None:
    receipt_no = receipt_no.strip().upper()
    with outbox.engine.connect() as conn:
        if STATUS_TABLE in inspect(conn).get_table_names():
            row = conn.execute(text(f"select status, updated_at, service_code, detail_json from {STATUS_TABLE} "  # noqa: S608
                                    "where receipt_no = :r and status != :own order by updated_at desc limit 1"),
                               {"r": receipt_no, "own": OWN}).first()
            if row is not None:
                code = str(row[0])
                return ApplicationStatus(receipt_no, code, _central_text_key(code), float(row[1] or 0), "central",
                                         str(row[2]), _detail(row[3]))
        local = conn.execute(
            select(OutboxMessage.state, OutboxMessage.created_at, OutboxMessage.sent_at, OutboxMessage.acked_at,
                   OutboxMessage.service_code)
            .where(OutboxMessage.receipt_no == receipt_no, OutboxMessage.kind == "submission",
                   OutboxMessage.parent_id.is_(None))).first()
    if local is None:
        return None
    state, created, sent, acked, service_code = local
    when = acked or sent or created
    return ApplicationStatus(receipt_no, state, _LOCAL_KEYS.get(state, "statusQueued"), float(when), "local",
                             str(service_code))


def lookup_by_tag(outbox: Outbox, tag: str) -> list[ApplicationStatus]:
    """Every application of this lookup tag the kiosk knows of, newest first (at most 50): the central's
    statuses, and this kiosk's own applications the central has no status for yet (their local state)."""
    if not tag or not _has_table(outbox):
        return []
    with outbox.engine.connect() as conn:
        rows = conn.execute(text(f"select receipt_no, status, updated_at, service_code, detail_json "  # noqa: S608
                                 f"from {STATUS_TABLE} where lookup_tag = :t order by updated_at desc limit :n"),
                            {"t": tag, "n": MAX_LISTED}).all()
    out: list[ApplicationStatus] = []
    for receipt_no, status, updated_at, service_code, detail_json in rows:
        if status == OWN:
            local = lookup(outbox, str(receipt_no))
            if local is not None:
                out.append(local)
            continue
        out.append(ApplicationStatus(str(receipt_no), str(status), _central_text_key(str(status)), float(updated_at),
                                     "central", str(service_code), _detail(detail_json)))
    return sorted(out, key=lambda r: r.updated_at, reverse=True)


def record_own(outbox: Outbox, receipt_no: str, service_code: str, tag: str, now: float | None = None) -> bool:
    """Remember this kiosk's own application under its lookup tag (a status the central pushes later
    replaces the row: it is newer). False when the table is missing or the row exists already."""
    if not tag or not _has_table(outbox):
        return False
    now = time.time() if now is None else now
    with outbox.engine.begin() as conn:
        have = conn.execute(select(application_status.c.receipt_no)
                            .where(application_status.c.receipt_no == receipt_no)).first()
        if have is not None:
            return False
        conn.execute(application_status.insert().values(receipt_no=receipt_no, service_code=service_code, status=OWN,
                                                        updated_at=now, lookup_tag=tag, received_at=now))
    return True


def submission_tag(home: Path, fields: list[dict[str, object]]) -> str:
    """The lookup tag of a submission's first valid ID-number field under this kiosk's site key ("" if none),
    the same tag the central computes for it (central.status_push.submission_tag)."""
    key = load_lookup_key(home)
    if key is None:
        return ""
    for f in fields:
        if f.get("kind") == "id_number" and isinstance(f.get("value"), str):
            try:
                return lookup_tag(key, str(f["value"]))
            except ValueError:
                continue
    return ""


def tag_for(key: bytes, id_number: str) -> str:
    """The lookup tag of an ID number read from a card (ValueError if it is not a valid number)."""
    return lookup_tag(key, id_number)


def load_lookup_key(home: Path) -> bytes | None:
    """The site lookup key from the kiosk's secrets folder, or None if this kiosk has none (or it is damaged)."""
    try:
        raw = base64.b64decode((home / LOOKUP_KEY_FILE).read_text(encoding="ascii").strip(), validate=True)
    except (OSError, ValueError, binascii.Error):
        return None
    return raw if len(raw) == 32 else None


def save_lookup_key(home: Path, key: bytes) -> Path:
    """Store a site lookup key as provisioning does (folder 0700, file 0600): for technicians and tests."""
    if len(key) != 32:
        raise ValueError("a site lookup key is 32 bytes")
    folder = home / LOOKUP_KEY_FILE.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    path = home / LOOKUP_KEY_FILE
    return write_private(path, base64.b64encode(key))


def age_text(seconds: float, lang: str) -> str:
    """“3 分钟前” / “3 min ago”."""
    s = max(0, int(seconds))
    if lang == "en":
        if s < 60:
            return "just now"
        if s < 3600:
            return f"{s // 60} min ago"
        if s < 86400:
            return f"{s // 3600} h ago"
        return f"{s // 86400} days ago"
    if s < 60:
        return "刚刚"
    if s < 3600:
        return f"{s // 60} 分钟前"
    if s < 86400:
        return f"{s // 3600} 小时前"
    return f"{s // 86400} 天前"
