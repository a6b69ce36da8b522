"""好差评 at ingest and the rectification tickets (差评整改) that follow it.

``on_event`` runs inside the ingest transaction for every new event: a ``rating`` becomes a row of
``ratings`` (for the statistics); a 不满意/非常不满意 rating, and a ``complaint`` of kind complaint, open a
ticket whose deadline is the configured number of working days (``central.console_settings``). An operator
can also record a complaint that came by phone, at the counter or by letter (``record_complaint``). A ticket
is ``open`` until its response is written (``responded``) and ``closed`` once the resident was contacted too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central import console_settings, daily_counts
from central.feedback_models import Rating, Ticket
from central.models import Device
from central.workdays import deadline

LEVELS = {"very_satisfied": 5, "satisfied": 4, "basically_satisfied": 3, "dissatisfied": 2,
          "very_dissatisfied": 1}
LEVEL_ORDER = tuple(LEVELS)
NEGATIVE = frozenset({"dissatisfied", "very_dissatisfied"})
_ZH_LEVELS = {"非常满意": "very_satisfied", "满意": "satisfied", "基本满意": "basically_satisfied",
              "不满意": "dissatisfied", "非常不满意": "very_dissatisfied"}
TICKET_STATES = ("open", "responded", "closed")
CHANNELS = ("self_service_terminal", "phone", "counter", "letter", "online")
RECORDED_CHANNELS = ("phone", "counter", "letter", "online")
CONTACT_METHODS = ("phone", "sms", "visit", "letter")
MAX_TEXT = 2000


class TicketError(ValueError):
    """A ticket change that cannot be made: ``code`` names why (the dashboard's words ``tickets.err.<code>``),
    the message says it in English (logs, API)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def level_code(value: Any) -> str | None:
    """The rating level as the kiosk's code, from the code or the Chinese word; None if neither."""
    if not isinstance(value, str):
        return None
    code = _ZH_LEVELS.get(value, value)
    return code if code in LEVELS else None


def on_event(s: Session, *, event_id: str, event_type: str, device_id: str, meta: Mapping[str, Any],
             created_at: float, now: float) -> None:
    """Called by the store for each newly stored event (same transaction)."""
    if event_type not in ("rating", "complaint"):
        return
    device = s.get(Device, device_id)
    site = (device.site if device is not None else "")[:128]
    receipt = str(meta.get("receipt_no") or "")[:32]
    service = str(meta.get("service_code") or "")[:64]
    if event_type == "rating":
        level = level_code(meta.get("level"))
        if level is None:
            return
        s.add(Rating(event_id=event_id, device_id=device_id, site=site, service_code=service, receipt_no=receipt,
                     level=level, score=LEVELS[level], negative=level in NEGATIVE, rated_at=created_at,
                     received_at=now))
        daily_counts.rating_added(s, site=site, service_code=service, level=level, negative=level in NEGATIVE,
                                  rated_at=created_at)
        if level not in NEGATIVE:
            return
        category = level
    else:
        category = str(meta.get("category") or "complaint")[:32]
        if category != "complaint":  # suggestions and praise are read, not rectified
            return
    channel = meta.get("channel") if meta.get("channel") in CHANNELS else "self_service_terminal"
    s.add(Ticket(source=event_type, event_id=event_id, channel=channel, category=category, receipt_no=receipt,
                 device_id=device_id, site=site, service_code=service, summary="", state="open", owner=None,
                 opened_at=now, deadline_at=ticket_deadline(s, now), response="", contact_note="",
                 created_by="ingest"))


def ticket_deadline(s: Session, opened_at: float) -> float:
    values = console_settings.get_all(s)
    return deadline(opened_at, int(values[console_settings.TICKET_DAYS]), console_settings.calendar(values))


def _text(value: str, what: str, *, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise TicketError("empty", f"{what} is empty")
    if len(value) > MAX_TEXT:
        raise TicketError("too_long", f"{what} is longer than {MAX_TEXT} characters")
    return value


def record_complaint(s: Session, *, channel: str, summary: str, receipt_no: str = "", site: str = "",
                     service_code: str = "", actor: str, now: float) -> Ticket:
    """A complaint an operator took by phone, at the counter, by letter or online: a ticket at once."""
    if channel not in RECORDED_CHANNELS:
        raise TicketError("channel", f"channel must be one of {', '.join(RECORDED_CHANNELS)}")
    ticket = Ticket(source="recorded", event_id=None, channel=channel, category="complaint",
                    receipt_no=receipt_no.strip()[:32], device_id="", site=site.strip()[:128],
                    service_code=service_code.strip()[:64], summary=_text(summary, "the complaint"), state="open",
                    owner=None, opened_at=now, deadline_at=ticket_deadline(s, now), response="", contact_note="",
                    created_by=actor)
    s.add(ticket)
    s.flush()
    return ticket


def _ticket(s: Session, ticket_id: int) -> Ticket:
    ticket = s.get(Ticket, ticket_id, with_for_update=True)
    if ticket is None:
        raise TicketError("unknown", f"no ticket {ticket_id}")
    return ticket


def assign(s: Session, ticket_id: int, owner: str, *, actor: str, now: float) -> Ticket:
    ticket = _ticket(s, ticket_id)
    if ticket.state == "closed":
        raise TicketError("closed", "the ticket is closed")
    ticket.owner = _text(owner, "the owner")[:64]
    return ticket


def respond(s: Session, ticket_id: int, response: str, *, actor: str, now: float) -> Ticket:
    ticket = _ticket(s, ticket_id)
    if ticket.state == "closed":
        raise TicketError("closed", "the ticket is closed")
    ticket.response = _text(response, "the response")
    ticket.responded_at, ticket.responded_by = now, actor
    ticket.owner = ticket.owner or actor
    ticket.state = "responded"
    return ticket


def record_contact(s: Session, ticket_id: int, method: str, note: str, *, actor: str, now: float) -> Ticket:
    ticket = _ticket(s, ticket_id)
    if ticket.state == "closed":
        raise TicketError("closed", "the ticket is closed")
    if method not in CONTACT_METHODS:
        raise TicketError("method", f"contact method must be one of {', '.join(CONTACT_METHODS)}")
    ticket.contact_method, ticket.contact_note = method, _text(note, "the note", required=False)
    ticket.contacted_at, ticket.contacted_by = now, actor
    return ticket


def close(s: Session, ticket_id: int, *, actor: str, now: float) -> Ticket:
    """Only with a response and a record that the resident was contacted."""
    ticket = _ticket(s, ticket_id)
    if ticket.state == "closed":
        raise TicketError("closed", "the ticket is closed already")
    if not ticket.response:
        raise TicketError("need_response", "write the response first")
    if ticket.contacted_at is None:
        raise TicketError("need_contact", "record the contact with the resident first")
    ticket.state, ticket.closed_at, ticket.closed_by = "closed", now, actor
    return ticket


@dataclass(frozen=True)
class TicketFilter:
    state: str = ""  # "", open, responded, closed, or "active" (open or responded)
    overdue: bool = False
    site: str = ""
    source: str = ""
    owner: str = ""


def _where(f: TicketFilter, now: float) -> list[Any]:
    clauses: list[Any] = []
    if f.state == "active":
        clauses.append(Ticket.state != "closed")
    elif f.state in TICKET_STATES:
        clauses.append(Ticket.state == f.state)
    if f.overdue:
        clauses += [Ticket.state != "closed", Ticket.deadline_at < now]
    if f.site:
        clauses.append(Ticket.site == f.site)
    if f.source in ("rating", "complaint", "recorded"):
        clauses.append(Ticket.source == f.source)
    if f.owner:
        clauses.append(Ticket.owner == f.owner)
    return clauses


def list_tickets(s: Session, f: TicketFilter, now: float, *, offset: int = 0, limit: int = 50
                 ) -> tuple[int, list[Ticket]]:
    """(how many match, one page of them: the nearest deadline first, closed ones newest first)."""
    where = _where(f, now)
    total = s.scalar(select(func.count()).select_from(Ticket).where(*where)) or 0
    rows = s.scalars(select(Ticket).where(*where)
                     .order_by((Ticket.state == "closed"), Ticket.deadline_at, Ticket.id)
                     .offset(max(0, offset)).limit(max(1, min(limit, 500)))).all()
    return int(total), list(rows)


def counts(s: Session, now: float) -> dict[str, int]:
    """Tickets by state, plus ``overdue`` (not closed, past the deadline)."""
    out = dict.fromkeys(TICKET_STATES, 0)
    for state, n in s.execute(select(Ticket.state, func.count()).group_by(Ticket.state)):
        out[state] = int(n)
    out["overdue"] = int(s.scalar(select(func.count()).select_from(Ticket)
                                  .where(Ticket.state != "closed", Ticket.deadline_at < now)) or 0)
    return out


def is_overdue(ticket: Ticket, now: float) -> bool:
    return ticket.state != "closed" and ticket.deadline_at < now
