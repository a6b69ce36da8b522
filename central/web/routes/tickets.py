"""差评整改: the ticket lists (by state, overdue, site, source), a ticket's page where an operator assigns it,
writes the response, records the contact with the resident and closes it, complaints an operator records
(phone, counter, letter, online), and the deadline settings an admin changes. Every change is audited."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from central import console_settings, daily_counts, feedback
from central.feedback_models import Ticket
from central.field_encryption import FieldKeyError
from central.models import Event
from central.reports import DEFAULT_LIMIT_DAYS
from central.web import auth
from central.web.console_views import item_choices, item_limits, item_names
from central.web.deps import Admin, NotFound, Operator, Viewer, Web, WebContext, flash, lang_of, render
from central.web.i18n import translate
from central.workdays import local_date, working_days_left
from sync.protocol.masking import mask_field

log = logging.getLogger("kiosk.central.web")
router = APIRouter()
PAGE = 50


def _json(t: Ticket, now: float) -> dict[str, Any]:
    return {"id": t.id, "source": t.source, "channel": t.channel, "category": t.category, "receipt_no": t.receipt_no,
            "site": t.site, "service_code": t.service_code, "event_id": t.event_id, "summary": t.summary,
            "state": t.state, "owner": t.owner,
            "opened_at": t.opened_at, "deadline_at": t.deadline_at, "overdue": feedback.is_overdue(t, now),
            "response": t.response, "responded_at": t.responded_at, "responded_by": t.responded_by,
            "contacted_at": t.contacted_at, "contact_method": t.contact_method, "contact_note": t.contact_note,
            "contacted_by": t.contacted_by, "closed_at": t.closed_at, "closed_by": t.closed_by}


def fmt_day(ts: float | None) -> str:
    """A deadline's day in the office's time zone (deadlines end at 23:59:59 China Standard Time)."""
    return local_date(ts).isoformat() if ts else "-"


def _calendar(s: Session) -> Any:
    return console_settings.calendar(console_settings.get_all(s))


@router.get("/tickets", response_class=HTMLResponse)
def tickets_page(request: Request, user: Viewer, web: Web, state: str = "active", overdue: str = "",
                 site: str = "", source: str = "", mine: str = "", page: int = 1) -> HTMLResponse:
    now = web.clock()
    f = feedback.TicketFilter(state=state, overdue=overdue == "1", site=site[:128], source=source,
                              owner=user.username if mine == "1" else "")
    page = max(1, page)
    with web.store.session() as s:
        total, rows = feedback.list_tickets(s, f, now, offset=(page - 1) * PAGE, limit=PAGE)
        counts = feedback.counts(s, now)
        settings = console_settings.get_all(s)
        cal = console_settings.calendar(settings)
        tickets = [{**_json(t, now), "left": working_days_left(now, t.deadline_at, cal)} for t in rows]
    query = {"state": state, "overdue": overdue, "site": site, "source": source, "mine": mine}
    pages = max(1, (total + PAGE - 1) // PAGE)
    lang = lang_of(request)
    return render(request, "tickets.html", user, tickets=tickets, total=total, counts=counts, f=f, state=state,
                  overdue=overdue, site=site, source=source, mine=mine, page=page, pages=pages, settings=settings,
                  page_link=lambda n: "/tickets?" + urlencode({**query, "page": n}),
                  item_name=item_names(web, lang), items=item_choices(web, lang),
                  channels=feedback.RECORDED_CHANNELS, fmt_day=fmt_day)


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_page(request: Request, ticket_id: int, user: Viewer, web: Web) -> HTMLResponse:
    now = web.clock()
    with web.store.session() as s:
        t = s.get(Ticket, ticket_id)
        if t is None:
            raise NotFound()
        ticket = {**_json(t, now), "left": working_days_left(now, t.deadline_at, _calendar(s))}
    return render(request, "ticket.html", user, ticket=ticket, item_name=item_names(web, lang_of(request)),
                  methods=feedback.CONTACT_METHODS, fmt_day=fmt_day)


def _change(request: Request, web: WebContext, user: auth.Principal, ticket_id: int, action: str,
            change: Callable[[Session, float], Ticket], detail: dict[str, Any]) -> Response:
    lang = lang_of(request)
    try:
        with web.store.session() as s, s.begin():
            change(s, web.clock())
    except feedback.TicketError as exc:
        flash(request, "error", translate(lang, "tickets.failed", why=translate(lang, f"tickets.err.{exc.code}")))
    else:
        auth.audit(web.store, user.username, f"ticket_{action}", f"ticket:{ticket_id}", detail)
        flash(request, "ok", translate(lang, "tickets.saved", id=ticket_id))
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


def resident_words(web: WebContext, event_id: str) -> dict[str, Any] | None:
    """What the resident wrote with a rating or complaint (sealed at rest): the text and the reasons, the phone
    number masked. Raises ``FieldKeyError`` when the master key is not at hand."""
    with web.store.session() as s:
        event = s.get(Event, event_id)
        private = web.store.fields.event_private(event) if event is not None else None
    if not private:
        return None
    reasons = private.get("reasons")
    return {"text": str(private.get("text") or private.get("reason") or ""),
            "reasons": [str(r) for r in reasons] if isinstance(reasons, list) else [],
            "phone": mask_field("phone", private.get("phone")) if private.get("phone") else ""}


@router.post("/tickets/{ticket_id}/words", response_class=HTMLResponse)
def ticket_words(request: Request, ticket_id: int, user: Operator, web: Web) -> Response:
    """An operator opens what the resident wrote, to answer it: audited, shown once, never in a list."""
    now = web.clock()
    with web.store.session() as s:
        t = s.get(Ticket, ticket_id)
        if t is None:
            raise NotFound()
        ticket = {**_json(t, now), "left": working_days_left(now, t.deadline_at, _calendar(s))}
    auth.audit(web.store, user.username, "ticket_words_view", f"ticket:{ticket_id}")
    try:
        words = resident_words(web, ticket["event_id"]) if ticket["event_id"] else None
    except FieldKeyError as exc:
        log.error("ticket %s: the resident's words do not open: %s", ticket_id, exc)
        words = {"error": True}
    return render(request, "ticket.html", user, ticket=ticket, item_name=item_names(web, lang_of(request)),
                  methods=feedback.CONTACT_METHODS, fmt_day=fmt_day, words=words or {"none": True})


@router.post("/tickets/{ticket_id}/assign")
def ticket_assign(request: Request, ticket_id: int, user: Operator, web: Web, owner: str = Form("")) -> Response:
    return _change(request, web, user, ticket_id, "assign",
                   lambda s, now: feedback.assign(s, ticket_id, owner, actor=user.username, now=now),
                   {"owner": owner.strip()[:64]})


@router.post("/tickets/{ticket_id}/respond")
def ticket_respond(request: Request, ticket_id: int, user: Operator, web: Web, response: str = Form("")) -> Response:
    return _change(request, web, user, ticket_id, "respond",
                   lambda s, now: feedback.respond(s, ticket_id, response, actor=user.username, now=now), {})


@router.post("/tickets/{ticket_id}/contact")
def ticket_contact(request: Request, ticket_id: int, user: Operator, web: Web, method: str = Form(""),
                   note: str = Form("")) -> Response:
    return _change(request, web, user, ticket_id, "contact",
                   lambda s, now: feedback.record_contact(s, ticket_id, method, note, actor=user.username, now=now),
                   {"method": method[:16]})


@router.post("/tickets/{ticket_id}/close")
def ticket_close(request: Request, ticket_id: int, user: Operator, web: Web) -> Response:
    return _change(request, web, user, ticket_id, "close",
                   lambda s, now: feedback.close(s, ticket_id, actor=user.username, now=now), {})


@router.post("/tickets")
def ticket_record(request: Request, user: Operator, web: Web, channel: str = Form(""), summary: str = Form(""),
                  receipt_no: str = Form(""), site: str = Form(""), item: str = Form("")) -> Response:
    lang = lang_of(request)
    try:
        with web.store.session() as s, s.begin():
            t = feedback.record_complaint(s, channel=channel, summary=summary, receipt_no=receipt_no, site=site,
                                          service_code=item, actor=user.username, now=web.clock())
            ticket_id, due = t.id, t.deadline_at
    except feedback.TicketError as exc:
        flash(request, "error", translate(lang, "tickets.failed", why=translate(lang, f"tickets.err.{exc.code}")))
        return RedirectResponse("/tickets", status_code=303)
    auth.audit(web.store, user.username, "ticket_record", f"ticket:{ticket_id}", {"channel": channel})
    flash(request, "ok", translate(lang, "tickets.created", id=ticket_id, deadline=fmt_day(due)))
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


@router.post("/tickets/settings")
def ticket_settings(request: Request, user: Admin, web: Web, days: str = Form(""), holidays: str = Form(""),
                    workdays: str = Form("")) -> Response:
    lang = lang_of(request)
    try:
        with web.store.session() as s, s.begin():
            values = {key: console_settings.put(s, key, value, actor=user.username, now=web.clock())
                      for key, value in ((console_settings.TICKET_DAYS, days), (console_settings.HOLIDAYS, holidays),
                                         (console_settings.WORKDAYS, workdays))}
    except ValueError as exc:
        flash(request, "error", translate(lang, "tickets.failed", why=str(exc)))
    else:
        auth.audit(web.store, user.username, "ticket_settings", "console_settings", values)
        with web.store.session() as s:  # "finished on time" follows the calendar: recounted now, not by a report
            daily_counts.ensure_applications(s, daily_counts.Rules.of(
                item_limits(web), DEFAULT_LIMIT_DAYS, console_settings.calendar(console_settings.get_all(s))))
        flash(request, "ok", translate(lang, "tickets.settings_saved"))
    return RedirectResponse("/tickets", status_code=303)


@router.get("/api/tickets")
def api_tickets(user: Viewer, web: Web, state: str = "", overdue: bool = False, site: str = "",
                source: str = "", owner: str = "", offset: int = 0, limit: int = PAGE) -> dict[str, Any]:
    now = web.clock()
    f = feedback.TicketFilter(state, overdue, site[:128], source, owner[:64])
    with web.store.session() as s:
        total, rows = feedback.list_tickets(s, f, now,
                                            offset=offset, limit=limit)
        return {"total": total, "tickets": [_json(t, now) for t in rows], "counts": feedback.counts(s, now)}
