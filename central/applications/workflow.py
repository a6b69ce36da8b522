"""The state machine of an application (办件), enforced here for the console and its API:

    已接收 received ─┬─▶ 受理 accepted ──▶ 办结 completed (result + how to collect)
                     ├─▶ 不予受理 rejected (reason)
                     └─▶ 补正 supplement (missing materials + deadline) ─┬─▶ 受理 accepted
                                                                         └─▶ 不予受理 rejected

Statuses the back office set through ``kiosk-central status`` before (办理中 processing, 待领取 ready) may go on to
办结; 办结, 不予受理 and 退回 are final. A move the machine does not allow is refused with a message that says what
is allowed. Each move is one transaction: the submission's ``app_status``/``due_at``, its
``application_status`` row (with the decision's detail) and an audit entry; then the status and the detail, in
Chinese and English, are pushed to the kiosks of the application's site (``central.status_push``), which show
it in the resident's status lookup (by receipt QR, receipt number or ID card).

Due times: 补正 is due at its deadline; 受理 starts the item's 承诺时限 (``time_limit_days`` working days from the
catalogue); an application still 已接收 after ``ACCEPT_DAYS`` working days is overdue (行政许可法 第三十二条: a
decision to accept, or one notice of everything missing, within five days)."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from central import console_settings, daily_counts
from central.applications import texts, workdays
from central.catalogue import Catalogue
from central.field_encryption import FieldKeyError
from central.fleet_models import AuditEntry
from central.keys import CentralKeys
from central.models import ApplicationStatus, Device, Submission
from central.status_push import _mark_pushed, _push, submission_tag
from central.store import CentralStore
from central.workdays import Calendar
from sync.runtime.mqtt import TlsFiles

log = logging.getLogger("kiosk.central.applications")

ACCEPT_DAYS = 5
MAX_NOTE = 200
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("accepted", "rejected", "supplement"),
    "supplement": ("accepted", "rejected"),
    "accepted": ("completed",),
    "processing": ("completed",),
    "ready": ("completed",),
}
FINAL = ("completed", "rejected", "returned")
OPEN = ("received", "supplement", "accepted", "processing", "ready")


class TransitionError(ValueError):
    """A move the machine refuses, or a decision missing what it needs; ``key`` names the console's text."""

    def __init__(self, key: str, message: str, **values: Any) -> None:
        super().__init__(message)
        self.key = key
        self.values = values


@dataclass
class Decision:
    """What an operator decided: the new status and, depending on it, a reason, the missing materials and a
    deadline, or a result and how to collect it; an optional note (no personal data: it reaches the kiosks)."""

    status: str
    reason: str = ""
    missing: tuple[str, ...] = ()
    deadline: str = ""
    result: str = ""
    collect: str = ""
    note: str = ""


def allowed(current: str) -> tuple[str, ...]:
    return TRANSITIONS.get(current, ())


def _detail(decision: Decision, catalogue: Catalogue, service_code: str, now: float) -> dict[str, Any]:
    """Check a decision against its status and build the detail stored and pushed (TransitionError if short)."""
    note = " ".join(decision.note.split())
    if len(note) > MAX_NOTE:
        raise TransitionError("app.err.note_long", f"the note is longer than {MAX_NOTE} characters", n=MAX_NOTE)
    detail: dict[str, Any] = {"note": note} if note else {}
    if decision.status == "rejected":
        if decision.reason not in texts.REASONS:
            raise TransitionError("app.err.reason", "不予受理 needs a reason")
        if decision.reason == "other" and not note:
            raise TransitionError("app.err.reason_note", "another reason needs a note that says it")
        detail["reason"] = decision.reason
    elif decision.status == "supplement":
        item = catalogue.item(service_code)
        names = {m.id: (m.zh, m.en) for m in item.materials}
        missing = [m for m in decision.missing if m in names]
        if not missing and not note:
            raise TransitionError("app.err.missing", "补正 needs the missing materials (or a note naming them)")
        try:
            deadline = workdays.parse_date(decision.deadline)
        except ValueError:
            raise TransitionError("app.err.deadline", "补正 needs a deadline (a date)") from None
        if deadline <= workdays.local_date(now):
            raise TransitionError("app.err.deadline_past", "the deadline must be after today")
        detail.update(missing=missing, missing_names=[list(names[m]) for m in missing],
                      deadline=deadline.isoformat())
    elif decision.status == "completed":
        if decision.result not in texts.RESULTS:
            raise TransitionError("app.err.result", "办结 needs the result")
        if decision.collect not in texts.COLLECT:
            raise TransitionError("app.err.collect", "办结 needs how the result is collected")
        detail.update(result=decision.result, collect=decision.collect)
    detail["text"] = {"zh": texts.compose(decision.status, detail, "zh"),
                      "en": texts.compose(decision.status, detail, "en")}
    return detail


def due_after(status: str, detail: dict[str, Any], catalogue: Catalogue, service_code: str,
              now: float, received_at: float, calendar: Calendar = workdays.WEEKDAYS) -> float | None:
    """When the new stage falls due: the 补正 deadline, 承诺时限 from 受理; nothing once finished."""
    if status == "supplement":
        return workdays.end_of_day(date.fromisoformat(detail["deadline"]))
    if status == "accepted":
        return workdays.add_workdays(now, catalogue.item(service_code).time_limit_days, calendar)
    if status == "received":
        return workdays.add_workdays(received_at, ACCEPT_DAYS, calendar)
    return None


def office_calendar(store: CentralStore) -> Calendar:
    """The working-day calendar an admin keeps (holidays, make-up days); weekdays only if it cannot be read."""
    try:
        with store.session() as s:
            return console_settings.calendar(console_settings.get_all(s))
    except (ValueError, SQLAlchemyError) as exc:
        log.warning("the office calendar cannot be read (%s); counting weekdays", type(exc).__name__)
        return workdays.WEEKDAYS


@dataclass
class Outcome:
    receipt_no: str
    status: str
    site: str
    devices: list[str]
    push_error: str | None
    detail: dict[str, Any]


def transition(store: CentralStore, keys: CentralKeys, catalogue: Catalogue, submission_id: str,
               decision: Decision, *, actor: str, broker_url: str | None, tls: TlsFiles | None = None,
               now: float | None = None) -> Outcome:
    """Move one application to ``decision.status`` if the machine allows it (TransitionError otherwise), store and
    audit it in one transaction, then push it to the site's kiosks (a failed push is kept: ``push_error``)."""
    now = round(time.time() if now is None else now, 3)
    calendar = office_calendar(store)
    with store.session() as s, s.begin():
        sub = s.scalars(select(Submission).where(Submission.id == submission_id).with_for_update()).first()
        if sub is None:
            raise TransitionError("app.err.unknown", "no such application")
        current = sub.app_status or "received"
        if decision.status not in allowed(current):
            raise TransitionError("app.err.illegal", f"an application that is {current} cannot become "
                                  f"{decision.status}; allowed: {', '.join(allowed(current)) or 'nothing (final)'}",
                                  current=current, wanted=decision.status, allowed=allowed(current))
        detail = _detail(decision, catalogue, sub.service_code, now)
        device = s.get(Device, sub.device_id)
        site = device.site if device is not None else ""
        with daily_counts.moving(s, Submission.id == sub.id):  # the statistics' counts, same transaction
            row = s.get(ApplicationStatus, sub.id)
            if row is None:
                try:
                    tag = submission_tag(keys, site, store.fields.submission_fields(sub)) if site else ""
                except FieldKeyError as exc:  # the lookup by receipt still works; by card it cannot
                    log.warning("no lookup tag for %s: %s", sub.receipt_no, type(exc).__name__)
                    tag = ""
                row = ApplicationStatus(submission_id=sub.id, receipt_no=sub.receipt_no, service_code=sub.service_code,
                                        device_id=sub.device_id, site=site, lookup_tag=tag)
                s.add(row)
            row.status, row.updated_at, row.updated_by = decision.status, now, actor[:64]
            row.detail_json = json.dumps(detail, ensure_ascii=False)
            row.pushed_at, row.command_id, row.push_error = None, None, None
            sub.app_status = decision.status
            sub.due_at = due_after(decision.status, detail, catalogue, sub.service_code, now, sub.received_at, calendar)
        audit = {k: v for k, v in detail.items() if k not in ("text", "missing_names")}
        s.add(AuditEntry(at=now, actor=actor[:64], action="app_status", target=sub.receipt_no,
                         detail=json.dumps({"status": decision.status, "from": current, "site": site,
                                            "submission_id": sub.id, **audit}, ensure_ascii=False)))
        entry = {"receipt_no": row.receipt_no, "service_code": row.service_code, "status": row.status,
                 "updated_at": row.updated_at, "lookup_tag": row.lookup_tag}
        if detail["text"]["zh"]:
            entry["detail"] = detail["text"]
        receipt = sub.receipt_no
    outcome = Outcome(receipt, decision.status, site, [], None, detail)
    if not site:
        outcome.push_error = "the kiosk that took this application has no site"
    elif broker_url is not None:
        command_id, devices, error = _push(store, keys, broker_url, site, [entry], tls)
        _mark_pushed(store, [receipt], command_id if devices else None, error)
        outcome.devices, outcome.push_error = devices, error
    log.info("application %s: %s -> %s by %s (%d kiosk(s) reached)", receipt, current, decision.status, actor,
             len(outcome.devices))
    return outcome


__all__ = ["ACCEPT_DAYS", "FINAL", "OPEN", "TRANSITIONS", "Decision", "Outcome", "TransitionError", "allowed",
           "due_after", "office_calendar", "transition"]
