"""The applications list and detail behind the console: filters (receipt, item, site, status, overdue, date
range), server-side sorting and keyset paging that stay fast over millions of rows (every filter and sort has an
index, revision c0012; a page is ``LIMIT n`` after the last row's key, never ``OFFSET``), and a capped count.

Nothing here decrypts: fields are the masked copy made at ingest."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, false, func, or_, select, tuple_

from central import face_result
from central.applications import evidence, workdays
from central.applications.workflow import ACCEPT_DAYS, OPEN, allowed, office_calendar
from central.catalogue import Catalogue
from central.feedback_models import Rating, Ticket
from central.field_encryption import listed_fields
from central.fleet_models import AuditEntry
from central.models import ApplicationStatus, Device, Submission
from central.store import CentralStore

PAGE_SIZES = (20, 50, 100)
COUNT_CAP = 10_000
SORTS: dict[str, Any] = {"received": Submission.received_at, "receipt": Submission.receipt_no,
                         "due": Submission.due_at}


@dataclass
class Filters:
    receipt: str = ""
    item: str = ""
    site: str = ""
    status: str = ""
    overdue: bool = False
    date_from: str = ""  # YYYY-MM-DD, the office's time zone, on the day received
    date_to: str = ""

    def active(self) -> bool:
        return bool(self.receipt or self.item or self.site or self.status or self.overdue or self.date_from
                    or self.date_to)


def _day_start(text: str) -> float | None:
    try:
        d = date.fromisoformat(text.strip())
    except ValueError:
        return None
    return datetime.combine(d, time(0, 0), workdays.CST).timestamp()


def overdue_clause(now: float, accept_cutoff: float) -> ColumnElement[bool]:
    """Open and past due: 补正/受理 past their due time, or 已接收 since before ``accept_cutoff`` (``ACCEPT_DAYS``
    working days ago)."""
    return or_(and_(Submission.app_status == "received", Submission.received_at < accept_cutoff),
               and_(Submission.app_status.in_([s for s in OPEN if s != "received"]),
                    Submission.due_at.is_not(None), Submission.due_at < now))


RECEIPT_TEXT = re.compile(r"[A-Z0-9-]+")  # every character a receipt number has (sync.protocol.ids)


def receipt_clause(text: str, dialect: str) -> ColumnElement[bool]:
    """Receipt numbers beginning with ``text`` (the whole number is its own prefix), in a form the database's
    index serves: ``LIKE 'prefix%'`` on PostgreSQL (``text_pattern_ops`` index, revision c0016, whatever the
    collation), the byte range on SQLite (its binary ``receipt_no`` index; LIKE there ignores case and no index)."""
    prefix = text.strip().upper()
    if not RECEIPT_TEXT.fullmatch(prefix):
        return false()  # no receipt number holds anything else (and no LIKE wildcard gets through)
    if dialect == "postgresql":
        # Inline (it is [A-Z0-9-] only): a prepared statement's generic plan could not use the index for LIKE $1.
        return Submission.receipt_no.like(bindparam("receipt_prefix", prefix + "%", literal_execute=True))
    return and_(Submission.receipt_no >= prefix, Submission.receipt_no < prefix + "\x7f")


def _where(f: Filters, now: float, accept_cutoff: float, dialect: str = "sqlite") -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if f.receipt.strip():
        clauses.append(receipt_clause(f.receipt, dialect))
    if f.item:
        clauses.append(Submission.service_code == f.item)
    if f.site:
        clauses.append(Submission.device_id.in_(select(Device.device_id).where(Device.site == f.site)))
    if f.status:
        clauses.append(Submission.app_status == f.status)
    if f.overdue:
        clauses.append(overdue_clause(now, accept_cutoff))
    start = _day_start(f.date_from) if f.date_from else None
    if start is not None:
        clauses.append(Submission.received_at >= start)
    end = _day_start(f.date_to) if f.date_to else None
    if end is not None:
        clauses.append(Submission.received_at < end + 86400)
    return clauses


def encode_cursor(value: Any, row_id: str, before: bool = False) -> str:
    raw = json.dumps([1 if before else 0, value, row_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[bool, Any, str] | None:
    try:
        raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        before, value, row_id = raw
    except (ValueError, TypeError):
        return None
    if not isinstance(row_id, str) or not isinstance(value, (int, float, str, type(None))):
        return None
    return bool(before), value, row_id


def is_overdue(status: str, received_at: float, due_at: float | None, now: float, accept_cutoff: float) -> bool:
    if status == "received":
        return received_at < accept_cutoff
    return status in OPEN and due_at is not None and due_at < now


def list_applications(store: CentralStore, catalogue: Catalogue, f: Filters, *, sort: str = "received",
                      desc: bool = True, cursor: str = "", limit: int = 50, lang: str = "zh_CN",
                      now: float) -> dict[str, Any]:
    """One page: ``rows``, ``next`` and ``prev`` cursors (None at an end), ``count`` (capped at ``COUNT_CAP``:
    ``count_capped``)."""
    col = SORTS.get(sort, Submission.received_at)
    if sort == "due":  # open applications only: the finished have no due time
        col_expr: Any = Submission.due_at
    else:
        col_expr = col
    limit = limit if limit in PAGE_SIZES else 50
    calendar = office_calendar(store)
    cutoff = workdays.workdays_before(now, ACCEPT_DAYS, calendar)
    dialect = store.engine.dialect.name
    clauses = _where(f, now, cutoff, dialect)
    if sort == "due":
        clauses.append(Submission.due_at.is_not(None))
    parsed = decode_cursor(cursor) if cursor else None
    before = bool(parsed and parsed[0])
    forward_desc = desc != before  # walking back flips the order; the page is reversed afterwards
    if parsed is not None:
        key = tuple_(col_expr, Submission.id)
        clauses.append(key < tuple_(parsed[1], parsed[2]) if forward_desc else key > tuple_(parsed[1], parsed[2]))
    order = [col_expr.desc(), Submission.id.desc()] if forward_desc else [col_expr.asc(), Submission.id.asc()]
    stmt = (select(Submission.id, Submission.receipt_no, Submission.service_code, Submission.device_id,
                   Submission.received_at, Submission.app_status, Submission.due_at)
            .where(*clauses).order_by(*order).limit(limit + 1))
    with store.session() as s:
        found = list(s.execute(stmt).all())
        more = len(found) > limit
        found = found[:limit]
        if before:
            found.reverse()
        sites = dict(s.execute(select(Device.device_id, Device.site)
                               .where(Device.device_id.in_({r.device_id for r in found}))).all()) if found else {}
        count = s.scalar(select(func.count()).select_from(
            select(Submission.id).where(*_where(f, now, cutoff, dialect)).limit(COUNT_CAP + 1).subquery())) or 0
    lang_key = "en" if lang == "en" else "zh"
    rows = [{"id": r.id, "receipt_no": r.receipt_no, "service_code": r.service_code,
             "item": catalogue.item(r.service_code).name(lang_key), "device_id": r.device_id,
             "site": sites.get(r.device_id, ""), "received_at": r.received_at, "status": r.app_status,
             "due_at": (workdays.add_workdays(r.received_at, ACCEPT_DAYS, calendar) if r.app_status == "received"
                        else r.due_at), "overdue": is_overdue(r.app_status, r.received_at, r.due_at, now, cutoff)}
            for r in found]

    def key_of(row: dict[str, Any]) -> Any:
        return {"received": row["received_at"], "receipt": row["receipt_no"], "due": row["due_at"]}.get(
            sort, row["received_at"])

    has_next = more if not before else parsed is not None
    has_prev = (parsed is not None) if not before else more
    return {"rows": rows, "count": min(count, COUNT_CAP), "count_capped": count > COUNT_CAP,
            "next": encode_cursor(key_of(rows[-1]), rows[-1]["id"]) if rows and has_next else None,
            "prev": encode_cursor(key_of(rows[0]), rows[0]["id"], before=True) if rows and has_prev else None,
            "limit": limit}


def application_detail(store: CentralStore, catalogue: Catalogue, submission_id: str, *, lang: str,
                       now: float) -> dict[str, Any] | None:
    """Everything the detail page shows: the application (fields masked), its item, site, state, due time,
    the last decision in words, the moves allowed from here, and its history from the audit log."""
    with store.session() as s:
        sub = s.get(Submission, submission_id)
        if sub is None:
            return None
        device = s.get(Device, sub.device_id)
        status_row = s.get(ApplicationStatus, sub.id)
        history = s.scalars(select(AuditEntry).where(AuditEntry.target == sub.receipt_no,
                                                     AuditEntry.action == "app_status")
                            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(50)).all()
        fields = listed_fields(sub)
        materials = evidence.materials(s, sub)
        ratings = [{"level": r.level, "negative": r.negative, "rated_at": r.rated_at}
                   for r in s.scalars(select(Rating).where(Rating.receipt_no == sub.receipt_no)
                                      .order_by(Rating.rated_at).limit(20))]
        tickets = [{"id": t.id, "state": t.state, "opened_at": t.opened_at, "deadline_at": t.deadline_at}
                   for t in s.scalars(select(Ticket).where(Ticket.receipt_no == sub.receipt_no)
                                      .order_by(Ticket.opened_at).limit(20))]
    lang_key = "en" if lang == "en" else "zh"
    item = catalogue.item(sub.service_code)
    names = {m.id: m.en if lang_key == "en" else m.zh for m in item.materials}
    for m in materials:  # the catalogue's name in the page's language (the kiosk sealed the Chinese label)
        m["label"] = names.get(m["id"], m["label"])
    detail: dict[str, Any] = {}
    if status_row is not None and status_row.detail_json:
        try:
            detail = json.loads(status_row.detail_json)
        except ValueError:
            detail = {}
    status = sub.app_status or "received"
    calendar = office_calendar(store)
    due = sub.due_at if status != "received" else workdays.add_workdays(sub.received_at, ACCEPT_DAYS, calendar)

    def entry(a: AuditEntry) -> dict[str, Any]:
        try:
            d = json.loads(a.detail or "{}")
        except ValueError:
            d = {}
        return {"at": a.at, "actor": a.actor, "status": d.get("status", ""), "from": d.get("from", ""),
                "detail": d}

    return {"id": sub.id, "receipt_no": sub.receipt_no, "service_code": sub.service_code,
            "item": item.name(lang_key), "department": item.department_en if lang_key == "en" else item.department_zh,
            "time_limit_days": item.time_limit_days,
            "materials": [(m.id, m.en if lang_key == "en" else m.zh) for m in item.materials],
            "device_id": sub.device_id, "site": device.site if device is not None else "",
            "created_at": sub.created_at, "received_at": sub.received_at, "complete": sub.complete,
            "attachments": sub.attachments_expected, "status": status, "due_at": due,
            "overdue": is_overdue(status, sub.received_at, sub.due_at, now,
                                  workdays.workdays_before(now, ACCEPT_DAYS, calendar)),
            "allowed": list(allowed(status)),
            "detail_text": (detail.get("text") or {}).get(lang_key, ""),
            "pushed_at": status_row.pushed_at if status_row is not None else None,
            "push_error": status_row.push_error if status_row is not None else None,
            "fields": [{"label": f.get("label"), "value": face_result.words(f, lang_key)
                        if f.get("kind") == face_result.KIND else f.get("value")}
                       for f in fields if f.get("kind") != "material"],
            "evidence": materials,
            "history": [entry(a) for a in history], "ratings": ratings, "tickets": tickets,
            "min_deadline": (workdays.local_date(now) + timedelta(days=1)).isoformat(),
            "default_deadline": workdays.local_date(workdays.add_workdays(now, ACCEPT_DAYS, calendar)).isoformat()}


def submission_id_of(store: CentralStore, receipt_no: str) -> str | None:
    """The application with this receipt number (the first received, as ``central.status_push``)."""
    with store.session() as s:
        return s.scalars(select(Submission.id).where(Submission.receipt_no == receipt_no.strip().upper())
                         .order_by(Submission.received_at).limit(1)).first()


def sites(store: CentralStore) -> list[str]:
    with store.session() as s:
        return sorted({site for site in s.scalars(select(Device.site).distinct()) if site})


__all__ = ["COUNT_CAP", "PAGE_SIZES", "SORTS", "Filters", "application_detail", "decode_cursor", "encode_cursor",
           "is_overdue", "list_applications", "overdue_clause", "sites", "submission_id_of"]
