"""Applications (办件): the searchable, sortable, paged list; the detail page; the state machine's moves
(受理 / 不予受理 / 补正 / 办结, central.applications.workflow), each audited and pushed to the site's kiosks; the same
as JSON under /api/applications. A viewer sees; an operator acts."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from central import catalogue
from central.applications import evidence, listing, texts, workdays, workflow
from central.commands import central_tls
from central.keys import CentralKeys, KeysError
from central.web import auth
from central.web.deps import NotFound, Operator, Viewer, Web, WebContext, flash, lang_of, render
from central.web.i18n import translate
from sync.protocol.commands import app_status_code

log = logging.getLogger("kiosk.central.web")

router = APIRouter()

STATUSES = ("received", "supplement", "accepted", "processing", "ready", "completed", "rejected", "returned")
def due_date(ts: float | None) -> str:
    """A due time as the office's date (due times are the end of a working day, China Standard Time)."""
    return workdays.local_date(ts).isoformat() if ts else "-"


FILTER_KEYS = ("receipt", "item", "site", "status", "overdue", "from", "to", "sort", "dir", "size")


def _filters(q: dict[str, str]) -> listing.Filters:
    status = q.get("status", "")
    return listing.Filters(receipt=q.get("receipt", "")[:40], item=q.get("item", "")[:64], site=q.get("site", "")[:128],
                           status=status if status in STATUSES else "", overdue=q.get("overdue") == "1",
                           date_from=q.get("from", "")[:10], date_to=q.get("to", "")[:10])


def _page(web: WebContext, request: Request) -> tuple[dict[str, str], dict[str, Any]]:
    q = {k: v for k, v in request.query_params.items() if k in (*FILTER_KEYS, "cursor")}
    try:
        size = int(q.get("size", "50"))
    except ValueError:
        size = 50
    sort = q.get("sort", "received") if q.get("sort") in listing.SORTS else "received"
    page = listing.list_applications(web.store, catalogue.load(web.keys_home), _filters(q), sort=sort,
                                     desc=q.get("dir", "desc") != "asc", cursor=q.get("cursor", ""), limit=size,
                                     lang=lang_of(request), now=web.clock())
    return q, page


@router.get("/applications", response_class=HTMLResponse)
def applications_page(request: Request, user: Viewer, web: Web) -> HTMLResponse:
    q, page = _page(web, request)
    keep = {k: v for k, v in q.items() if k in FILTER_KEYS and v}

    def link(**changes: str) -> str:
        params = {**keep, **changes}
        return "/applications?" + urlencode({k: v for k, v in params.items() if v})

    lang = lang_of(request)
    cat = catalogue.load(web.keys_home)
    return render(request, "applications.html", user, page=page, q=q, link=link, statuses=STATUSES,
                  items=cat.choices("en" if lang == "en" else "zh"), sites=listing.sites(web.store),
                  sort=q.get("sort", "received"), desc=q.get("dir", "desc") != "asc", due_date=due_date)


@router.get("/applications/{submission_id}", response_class=HTMLResponse)
def application_page(request: Request, submission_id: str, user: Viewer, web: Web) -> HTMLResponse:
    app = listing.application_detail(web.store, catalogue.load(web.keys_home), submission_id, lang=lang_of(request),
                                     now=web.clock())
    if app is None:
        raise NotFound()
    lang = "en" if lang_of(request) == "en" else "zh"
    pick = 1 if lang == "en" else 0
    return render(request, "application.html", user, app=app, due_date=due_date,
                  reasons=[(k, v[pick]) for k, v in texts.REASONS.items()],
                  results=[(k, v[pick]) for k, v in texts.RESULTS.items()],
                  collect=[(k, v[pick]) for k, v in texts.COLLECT.items()])


def _decision(form: dict[str, Any]) -> workflow.Decision:
    missing = form.get("missing") or []
    if isinstance(missing, str):
        missing = [missing]
    return workflow.Decision(status=str(form.get("status", "")), reason=str(form.get("reason", "")),
                             missing=tuple(str(m) for m in missing)[:50], deadline=str(form.get("deadline", "")),
                             result=str(form.get("result", "")), collect=str(form.get("collect", "")),
                             note=str(form.get("note", ""))[:1000])


def move(web: WebContext, user: auth.Principal, submission_id: str, decision: workflow.Decision) -> workflow.Outcome:
    """Run one move of the state machine with the central's keys, pushing over TLS on an mqtts:// broker."""
    try:
        tls = central_tls(web.broker_url, web.keys_home) if web.broker_url else None
    except (ValueError, OSError) as exc:  # the move is still stored; the push fails and says why
        log.warning("the central's TLS identity is unavailable: %s", type(exc).__name__)
        tls = None
    try:
        keys = CentralKeys.load(web.keys_home)
    except KeysError as exc:
        raise workflow.TransitionError("app.err.keys", f"the central's keys cannot be read: {exc}") from None
    return workflow.transition(web.store, keys, catalogue.load(web.keys_home), submission_id, decision,
                               actor=user.username, broker_url=web.broker_url or None, tls=tls, now=web.clock())


def _error_text(lang: str, exc: workflow.TransitionError) -> str:
    if exc.key == "app.err.illegal":
        allowed = "、".join(translate(lang, f"app_status.{s}") for s in exc.values["allowed"]) or \
            translate(lang, "app.final")
        return translate(lang, exc.key, current=translate(lang, f"app_status.{exc.values['current']}"),
                         wanted=translate(lang, f"app_status.{exc.values['wanted']}"), allowed=allowed)
    return translate(lang, exc.key, **exc.values)


@router.post("/applications/{submission_id}/move")
async def application_move(request: Request, submission_id: str, user: Operator, web: Web) -> Response:
    form = await request.form()
    data: dict[str, Any] = {k: form.get(k) for k in ("status", "reason", "deadline", "result", "collect", "note")}
    data["missing"] = form.getlist("missing")
    lang = lang_of(request)
    try:
        out = await asyncio.to_thread(move, web, user, submission_id, _decision(data))
    except workflow.TransitionError as exc:
        if exc.key == "app.err.unknown":
            raise NotFound() from None
        flash(request, "error", _error_text(lang, exc))
    else:
        status = translate(lang, f"app_status.{out.status}")
        if out.push_error:
            flash(request, "error", translate(lang, "app_status.not_pushed", receipt=out.receipt_no,
                                              why=out.push_error))
        else:
            flash(request, "ok", translate(lang, "app_status.saved", receipt=out.receipt_no, status=status,
                                           n=len(out.devices)))
    return RedirectResponse(f"/applications/{submission_id}", status_code=303)


@router.post("/applications/{submission_id}/materials/{material}/checked")
async def material_checked(request: Request, submission_id: str, material: str, user: Operator, web: Web) -> Response:
    """An operator saw the original at the counter: the material's evidence level becomes B (audited)."""
    lang = lang_of(request)
    try:
        receipt, code = await asyncio.to_thread(evidence.mark_checked, web.store, submission_id, material,
                                                actor=user.username, now=web.clock())
    except evidence.CheckError as exc:
        if exc.key == "app.err.unknown":
            raise NotFound() from None
        flash(request, "error", translate(lang, exc.key))
    else:
        name = next(((m.en if lang == "en" else m.zh) for m in catalogue.load(web.keys_home).item(code).materials
                     if m.id == material), material)
        flash(request, "ok", translate(lang, "evidence.saved", receipt=receipt, material=name))
    return RedirectResponse(f"/applications/{submission_id}", status_code=303)


def _outcome_json(out: workflow.Outcome) -> JSONResponse:
    """200 when some kiosk of the site was reached, 202 when stored but not pushed (``push_error`` says why)."""
    return JSONResponse({"receipt_no": out.receipt_no, "status": out.status, "site": out.site,
                         "devices": out.devices, "pushed": bool(out.devices), "push_error": out.push_error,
                         "detail": out.detail.get("text", {})}, status_code=200 if out.devices else 202)


@router.get("/api/applications")
def api_applications(request: Request, user: Viewer, web: Web) -> dict[str, Any]:
    return _page(web, request)[1]


@router.get("/api/applications/{submission_id}")
def api_application(request: Request, submission_id: str, user: Viewer, web: Web) -> dict[str, Any]:
    app = listing.application_detail(web.store, catalogue.load(web.keys_home), submission_id, lang=lang_of(request),
                                     now=web.clock())
    if app is None:
        raise NotFound()
    return app


@router.post("/api/applications/{submission_id}/move")
async def api_application_move(request: Request, submission_id: str, user: Operator, web: Web) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        return JSONResponse({"error": "give the new status (and what it needs)"}, status_code=400)
    try:
        out = await asyncio.to_thread(move, web, user, submission_id, _decision(body))
    except workflow.TransitionError as exc:
        if exc.key == "app.err.unknown":
            raise NotFound() from None
        return JSONResponse({"error": str(exc), "code": exc.key}, status_code=409 if exc.key == "app.err.illegal"
                            else 400)
    return _outcome_json(out)


@router.post("/api/applications/{receipt_no}/status")
async def api_app_status(request: Request, receipt_no: str, user: Operator, web: Web) -> JSONResponse:
    """By receipt number, for a back office's scripts: ``{"status": "受理"}`` (a code or the counter's word) and
    what the status needs; the same state machine as the console (409 for a move it does not allow)."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    try:
        status = app_status_code(body["status"]) if isinstance(body, dict) and isinstance(body.get("status"), str) \
            else ""
    except ValueError:
        status = ""
    if not status or not isinstance(body, dict):
        return JSONResponse({"error": f"status must be one of {', '.join(STATUSES)}"}, status_code=400)
    submission_id = listing.submission_id_of(web.store, receipt_no)
    if submission_id is None:
        raise NotFound()
    try:
        out = await asyncio.to_thread(move, web, user, submission_id, _decision({**body, "status": status}))
    except workflow.TransitionError as exc:
        return JSONResponse({"error": str(exc), "code": exc.key}, status_code=409 if exc.key == "app.err.illegal"
                            else 400)
    return _outcome_json(out)
