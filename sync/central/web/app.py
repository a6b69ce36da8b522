"""The operators' dashboard and JSON API (FastAPI, server-rendered Jinja2 pages, live updates over SSE).

Security: a signed session cookie (HttpOnly, SameSite=Strict); passwords hashed with argon2id; roles
viewer < operator < admin checked on every request against the operators table; a per-session CSRF token
required on every POST (form field ``csrf`` or header ``X-CSRF-Token``), refused 403 without it; every
action written to the audit log; a strict Content-Security-Policy (everything is served by this app:
no CDN, no inline script). Personal data appears only masked, except an admin's audited full view.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.middleware.sessions import SessionMiddleware

from sync.central import fleet, status_push
from sync.central.fleet import DEFAULT_THRESHOLDS, Thresholds
from sync.central.keys import CentralKeys, KeysError
from sync.central.store import CentralStore
from sync.central.web import auth, queries
from sync.central.web.charts import line_chart
from sync.central.web.commands_bridge import (
    ACTIONS,
    CommandFailed,
    CommandUnavailable,
    Sender,
    command_params,
    default_sender,
)
from sync.central.web.i18n import ACTION_KEYS, LANGS, norm_lang, table, translate
from sync.central.web.ota import ota_router
from sync.central.web.revoke import RevokeFailed, is_revoked, revoke_kiosk
from sync.protocol.commands import APP_STATUSES

log = logging.getLogger("kiosk.central.web")

HERE = Path(__file__).parent
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_FAILURES_MAX = 5
LOGIN_FAILURE_WINDOW_S = 300.0
SESSION_MAX_AGE_S = 8 * 3600

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class LoginRequired(Exception):
    pass


class Forbidden(Exception):
    pass


class CsrfRefused(Exception):
    pass


class NotFound(Exception):
    pass


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/sse/"))


def _csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def csrf_guard(request: Request) -> None:
    """Every state-changing request carries this session's token, or it is refused 403."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get("csrf")
    sent: Any = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get("csrf")
    if not isinstance(expected, str) or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise CsrfRefused()


def _fmt_time(value: float | None) -> str:
    if not value:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))


def _fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, float(seconds))
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _fmt_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    v = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if v < 1024 or unit == "GiB":
            return f"{v:.0f} {unit}" if unit in ("B", "KiB") else f"{v:.1f} {unit}"
        v /= 1024
    return f"{v:.1f} TiB"


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


class _LoginThrottle:
    """A few wrong passwords in a row for one user name slow that name down (per process)."""

    def __init__(self) -> None:
        self._fails: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def blocked(self, username: str, now: float) -> bool:
        with self._lock:
            q = self._fails[username]
            while q and now - q[0] > LOGIN_FAILURE_WINDOW_S:
                q.popleft()
            return len(q) >= LOGIN_FAILURES_MAX

    def failed(self, username: str, now: float) -> None:
        with self._lock:
            self._fails[username].append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._fails.pop(username, None)


def create_app(store: CentralStore, keys_home: Path | str, broker_url: str, *, session_secret: str,
               thresholds: Thresholds = DEFAULT_THRESHOLDS, clock: Callable[[], float] = time.time,
               sse_poll_s: float = 1.0, sender: Sender | None = None, https_only: bool = False,
               crl_copy: Path | None = None) -> FastAPI:
    """The dashboard for ``store``. Commands are signed with the keys in ``keys_home`` and published to
    ``broker_url`` (through ``sync.central.commands`` unless ``sender`` is given). A revocation also writes
    the CRL to ``crl_copy`` (the file the broker reads), if given."""
    if not session_secret or len(session_secret) < 16:
        raise ValueError("session_secret must be at least 16 characters")
    keys_home = Path(keys_home)
    send = sender or default_sender(keys_home, broker_url)
    stopping = threading.Event()
    throttle = _LoginThrottle()
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["jsontext"] = lambda value: json.dumps(value, ensure_ascii=False, default=str)

    app = FastAPI(title="kiosk-central", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(csrf_guard)])
    app.state.stopping = stopping
    app.state.store = store
    app.add_middleware(SessionMiddleware, secret_key=session_secret, session_cookie="kiosk_central_session",
                       max_age=SESSION_MAX_AGE_S, same_site="strict", https_only=https_only)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    # -- helpers -------------------------------------------------------------------------------------------

    def lang_of(request: Request) -> str:
        return norm_lang(request.session.get("lang"))

    def render(request: Request, name: str, user: auth.Principal | None, status_code: int = 200,
               **context: Any) -> HTMLResponse:
        lang = lang_of(request)

        def t(key: str, **values: object) -> str:
            return translate(lang, key, **values)

        flash = request.session.pop("flash", None)
        base = {"t": t, "lang": lang, "other_lang": "en" if lang == "zh_CN" else "zh_CN", "user": user,
                "csrf": _csrf_token(request), "path": request.url.path, "flash": flash,
                "fmt_time": _fmt_time, "fmt_age": _fmt_age, "fmt_bytes": _fmt_bytes,
                "words_json": json.dumps(table(lang), ensure_ascii=False), "action_keys": ACTION_KEYS,
                "now": clock()}
        return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)

    def current(request: Request) -> auth.Principal:
        username = request.session.get("user")
        p = auth.principal(store, username) if isinstance(username, str) else None
        if p is None:
            request.session.pop("user", None)
            raise LoginRequired()
        return p

    def require(role: str) -> Callable[[Request], auth.Principal]:
        def dependency(request: Request) -> auth.Principal:
            p = current(request)
            if not p.can(role):
                raise Forbidden()
            return p

        return dependency

    viewer = Depends(require("viewer"))
    operator = Depends(require("operator"))
    admin = Depends(require("admin"))

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, _exc: LoginRequired) -> Response:
        if _is_api(request):
            return JSONResponse({"error": "login required"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, _exc: Forbidden) -> Response:
        if _is_api(request):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        return render(request, "error.html", None, status_code=403, message=translate(lang_of(request),
                                                                                       "error.forbidden"))

    @app.exception_handler(CsrfRefused)
    async def _csrf_refused(request: Request, _exc: CsrfRefused) -> Response:
        log.warning("refused a POST to %s without a valid CSRF token", request.url.path)
        if _is_api(request):
            return JSONResponse({"error": "csrf token missing or wrong"}, status_code=403)
        return render(request, "error.html", None, status_code=403, message=translate(lang_of(request), "error.csrf"))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, _exc: NotFound) -> Response:
        if _is_api(request):
            return JSONResponse({"error": "not found"}, status_code=404)
        return render(request, "error.html", None, status_code=404,
                      message=translate(lang_of(request), "error.not_found"))

    # -- login ---------------------------------------------------------------------------------------------

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/") -> HTMLResponse:
        return render(request, "login.html", None, next=_safe_next(next), failed=False)

    @app.post("/login", response_class=HTMLResponse)
    def login(request: Request, username: str = Form(""), password: str = Form(""),
              next: str = Form("/")) -> Response:
        now = clock()
        name = username.strip()[:64]
        who = None if throttle.blocked(name, now) else auth.authenticate(store, name, password)
        if who is None:
            throttle.failed(name, now)
            auth.audit(store, name or "-", "login_failed", "dashboard")
            return render(request, "login.html", None, status_code=401, next=_safe_next(next), failed=True)
        throttle.succeeded(name)
        lang = request.session.get("lang")
        request.session.clear()  # a fresh session: no fixation
        request.session.update({"user": who.username, "csrf": secrets.token_urlsafe(32), "login_at": now})
        if lang:
            request.session["lang"] = lang
        auth.audit(store, who.username, "login", "dashboard", {"role": who.role})
        return RedirectResponse(_safe_next(next), status_code=303)

    @app.post("/logout")
    def logout(request: Request) -> Response:
        username = request.session.get("user")
        if isinstance(username, str):
            auth.audit(store, username, "logout", "dashboard")
        lang = request.session.get("lang")
        request.session.clear()
        if lang:
            request.session["lang"] = lang
        return RedirectResponse("/login", status_code=303)

    @app.get("/lang")
    def switch_lang(request: Request, to: str = "zh_CN", next: str = "/") -> Response:
        request.session["lang"] = to if to in LANGS else "zh_CN"
        return RedirectResponse(_safe_next(next), status_code=303)

    # -- pages ---------------------------------------------------------------------------------------------

    def fleet_payload() -> dict[str, Any]:
        rows = fleet.fleet_list(store, clock(), thresholds)
        return {"counts": fleet.fleet_counts(rows), "rows": rows, "now": clock()}

    @app.get("/", response_class=HTMLResponse)
    def fleet_page(request: Request, user: auth.Principal = viewer) -> HTMLResponse:
        data = fleet_payload()
        return render(request, "fleet.html", user, **data)

    def sent_commands(device_id: str) -> list[dict[str, Any]]:
        entries = auth.audit_entries(store, 20, action="command", target=device_id)
        ids = [str(e["detail"].get("command_id")) for e in entries if e["detail"].get("command_id")]
        results = queries.command_results(store, device_id, ids)
        out = []
        for e in entries:
            cid = str(e["detail"].get("command_id") or "")
            res = results.get(cid)
            out.append({"id": cid, "at": e["at"], "actor": e["actor"], "action": e["detail"].get("action"),
                        "error": e["detail"].get("error"), "result": res["meta"] if res else None,
                        "result_at": res["received_at"] if res else None})
        return out

    def device_payload(device_id: str) -> dict[str, Any] | None:
        row = fleet.device_detail(store, device_id, clock(), thresholds)
        if row is None:
            return None
        return {"device": row, "events": queries.recent_events(store, 30, device_id=device_id),
                "commands": sent_commands(device_id), "now": clock()}

    @app.get("/devices/{device_id}", response_class=HTMLResponse)
    def device_page(request: Request, device_id: str, user: auth.Principal = viewer) -> HTMLResponse:
        data = device_payload(device_id)
        if data is None:
            raise NotFound()
        lang = lang_of(request)
        series = fleet.telemetry_series(store, device_id)
        charts = []
        if series:
            charts.append(Markup(line_chart([(p["at"], p["queue_depth"]) for p in series],  # noqa: S704
                                            translate(lang, "chart.queue"), "queue")))
            charts.append(Markup(line_chart(  # noqa: S704 (the chart escapes its own text)
                [(p["at"], None if p["oldest_pending_s"] is None else p["oldest_pending_s"] / 60) for p in series],
                translate(lang, "chart.oldest"), "oldest")))
        return render(request, "device.html", user, charts=charts, actions=ACTIONS,
                      revoked=is_revoked(store, device_id),
                      alarms=fleet.alarms_list(store, open_only=False, limit=20, device_id=device_id), **data)

    @app.post("/devices/{device_id}/revoke", response_class=HTMLResponse)
    def device_revoke(request: Request, device_id: str, reason: str = Form(""), confirmed: str = Form(""),
                      user: auth.Principal = admin) -> Response:
        """Cut a kiosk off (a stolen or decommissioned machine): asks first, then revokes and audits."""
        if fleet.device_detail(store, device_id, clock(), thresholds) is None:
            raise NotFound()
        lang = lang_of(request)
        reason = " ".join(reason.split())[:200]
        if confirmed != "1":
            return render(request, "confirm_revoke.html", user, device_id=device_id, reason=reason)
        try:
            done = revoke_kiosk(store, keys_home, broker_url, device_id, reason=reason, crl_copy=crl_copy)
        except RevokeFailed as exc:
            auth.audit(store, user.username, "revoke_failed", device_id, {"error": str(exc)[:200]})
            request.session["flash"] = {"kind": "error", "text": translate(lang, "revoke.failed", why=str(exc))}
        else:
            auth.audit(store, user.username, "revoke", device_id,
                       {"reason": reason, "certificates": done.certificates, "dropped": done.dropped})
            log.warning("operator %s revoked %s", user.username, device_id)
            request.session["flash"] = {"kind": "ok", "text": translate(lang, "revoke.done", device=device_id,
                                                                        n=done.certificates)}
        return RedirectResponse(f"/devices/{quote(device_id)}", status_code=303)

    @app.post("/devices/{device_id}/command", response_class=HTMLResponse)
    def device_command(request: Request, device_id: str, action: str = Form(...),
                       message: str = Form(""), confirmed: str = Form(""),
                       user: auth.Principal = operator) -> Response:
        if fleet.device_detail(store, device_id, clock(), thresholds) is None:
            raise NotFound()
        lang = lang_of(request)
        if action not in ACTIONS:
            raise NotFound()
        if confirmed != "1":
            return render(request, "confirm.html", user, device_id=device_id, action=action,
                          action_label=translate(lang, ACTION_KEYS[action]), message=message)
        result = issue_command(user, device_id, action, message)
        if result.get("command_id"):
            request.session["flash"] = {"kind": "ok", "text": translate(lang, "command.sent", id=result["command_id"])}
        else:
            key = "command.unavailable" if result.get("unavailable") else "command.failed"
            request.session["flash"] = {"kind": "error", "text": translate(lang, key, why=result.get("error"))}
        return RedirectResponse(f"/devices/{quote(device_id)}", status_code=303)

    def issue_command(user: auth.Principal, device_id: str, action: str, message: str) -> dict[str, Any]:
        params = command_params(action, message)
        try:
            command_id = send(device_id, action, params)
        except CommandUnavailable as exc:
            log.warning("command %s to %s not sent: %s", action, device_id, exc)
            auth.audit(store, user.username, "command_failed", device_id, {"action": action, "error": str(exc)})
            return {"command_id": None, "error": str(exc), "unavailable": True}
        except CommandFailed as exc:
            log.warning("command %s to %s failed: %s", action, device_id, exc)
            auth.audit(store, user.username, "command_failed", device_id, {"action": action, "error": str(exc)})
            return {"command_id": None, "error": str(exc), "unavailable": False}
        auth.audit(store, user.username, "command", device_id,
                   {"action": action, "command_id": command_id, "params": params})
        log.info("operator %s sent %s to %s (command %s)", user.username, action, device_id, command_id)
        return {"command_id": command_id, "error": None}

    @app.get("/alarms", response_class=HTMLResponse)
    def alarms_page(request: Request, user: auth.Principal = viewer) -> HTMLResponse:
        everything = fleet.alarms_list(store, open_only=False, limit=300)
        return render(request, "alarms.html", user, open_alarms=[a for a in everything if a["open"]],
                      cleared=[a for a in everything if not a["open"]][:100])

    @app.post("/alarms/{alarm_id}/clear")
    def alarm_clear(request: Request, alarm_id: int, user: auth.Principal = operator) -> Response:
        cleared = fleet.clear_alarm(store, alarm_id, user.username, clock())
        if cleared is not None:
            auth.audit(store, user.username, "alarm_clear", cleared["device_id"],
                       {"alarm_id": alarm_id, "code": cleared["code"]})
        return RedirectResponse("/alarms", status_code=303)

    @app.get("/events", response_class=HTMLResponse)
    def events_page(request: Request, device: str = "", type: str = "",
                    user: auth.Principal = viewer) -> HTMLResponse:
        rows = queries.recent_events(store, 300, device_id=device or None, event_type=type or None)
        return render(request, "events.html", user, events=rows, device=device, type=type)

    @app.get("/submissions", response_class=HTMLResponse)
    def submissions_page(request: Request, user: auth.Principal = viewer) -> HTMLResponse:
        return render(request, "submissions.html", user, submissions=store.list_masked(200),
                      statuses=status_push.list_statuses(store), status_codes=APP_STATUSES)

    def set_app_status(user: auth.Principal, receipt_no: str, status: str) -> dict[str, Any]:
        """Store, audit (in ``set_status``) and push an application's status; a dict for page and API."""
        try:
            keys = CentralKeys.load(keys_home)
            result = status_push.set_status(store, keys, receipt_no, status, actor=user.username,
                                            broker_url=broker_url)
        except (KeysError, ValueError) as exc:  # StatusError is a ValueError
            return {"ok": False, "error": str(exc)}
        return {"ok": True, **result.to_json()}

    @app.post("/submissions/{submission_id}/status")
    def submission_status(request: Request, submission_id: str, status: str = Form(""),
                          user: auth.Principal = operator) -> Response:
        lang = lang_of(request)
        receipt = queries.receipt_of(store, submission_id)
        if receipt is None:
            raise NotFound()
        r = set_app_status(user, receipt, status)
        if not r["ok"]:
            flash = {"kind": "error", "text": translate(lang, "app_status.failed", why=r["error"])}
        elif r["push_error"]:
            flash = {"kind": "error", "text": translate(lang, "app_status.not_pushed", receipt=receipt,
                                                        why=r["push_error"])}
        else:
            flash = {"kind": "ok", "text": translate(lang, "app_status.saved", receipt=receipt,
                                                     status=translate(lang, f"app_status.{r['status']}"),
                                                     n=len(r["devices"]))}
        request.session["flash"] = flash
        return RedirectResponse("/submissions", status_code=303)

    @app.post("/submissions/{submission_id}/full", response_class=HTMLResponse)
    def submission_full(request: Request, submission_id: str, user: auth.Principal = admin) -> HTMLResponse:
        auth.audit(store, user.username, "submission_full_view", submission_id)
        sub = queries.submission_full(store, submission_id)
        if sub is None:
            raise NotFound()
        return render(request, "submission_full.html", user, sub=sub)

    @app.get("/ratings", response_class=HTMLResponse)
    def ratings_page(request: Request, user: auth.Principal = viewer) -> HTMLResponse:
        return render(request, "ratings.html", user, summary=queries.ratings_summary(store))

    @app.get("/enrolment", response_class=HTMLResponse)
    def enrolment_page(request: Request, user: auth.Principal = viewer) -> HTMLResponse:
        return render(request, "enrolment.html", user, tokens=queries.enrolment_tokens(store))

    @app.get("/audit", response_class=HTMLResponse)
    def audit_page(request: Request, user: auth.Principal = admin) -> HTMLResponse:
        return render(request, "audit.html", user, entries=auth.audit_entries(store, 500))

    # -- live updates (server-sent events) -----------------------------------------------------------------

    def sse(request: Request, produce: Callable[[], dict[str, Any] | None], event: str) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            last = None
            last_sent = 0.0
            yield "retry: 2000\n\n"
            while not stopping.is_set() and not await request.is_disconnected():
                data = await asyncio.to_thread(produce)
                # What changes every tick (the clock) does not count as a change.
                key = json.dumps({k: v for k, v in (data or {}).items() if k != "now"}, sort_keys=True, default=str)
                if key != last:
                    last = key
                    last_sent = time.monotonic()
                    yield f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"
                elif time.monotonic() - last_sent > 15:
                    last_sent = time.monotonic()
                    yield ": keep-alive\n\n"
                await asyncio.sleep(sse_poll_s)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    def stable_fleet() -> dict[str, Any]:
        data = fleet_payload()
        for r in data["rows"]:
            r.pop("silent_s", None)  # the page computes ages from last_seen and now
        return data

    @app.get("/sse/fleet")
    def sse_fleet(request: Request, user: auth.Principal = viewer) -> StreamingResponse:
        return sse(request, stable_fleet, "fleet")

    @app.get("/sse/devices/{device_id}")
    def sse_device(request: Request, device_id: str, user: auth.Principal = viewer) -> StreamingResponse:
        def produce() -> dict[str, Any] | None:
            data = device_payload(device_id)
            if data is not None:
                data["device"].pop("silent_s", None)
            return data

        return sse(request, produce, "device")

    # -- JSON API ------------------------------------------------------------------------------------------

    @app.get("/api/session")
    def api_session(request: Request, user: auth.Principal = viewer) -> dict[str, Any]:
        return {"user": user.username, "role": user.role, "csrf": _csrf_token(request)}

    @app.get("/api/fleet")
    def api_fleet(user: auth.Principal = viewer) -> list[dict[str, Any]]:
        return fleet.fleet_list(store, clock(), thresholds)

    @app.get("/api/devices/{device_id}")
    def api_device(device_id: str, user: auth.Principal = viewer) -> dict[str, Any]:
        data = device_payload(device_id)
        if data is None:
            raise NotFound()
        data["telemetry_series"] = fleet.telemetry_series(store, device_id)
        return data

    @app.get("/api/alarms")
    def api_alarms(all: bool = False, user: auth.Principal = viewer) -> list[dict[str, Any]]:
        return fleet.alarms_list(store, open_only=not all)

    @app.get("/api/events")
    def api_events(device: str = "", type: str = "", limit: int = 200,
                   user: auth.Principal = viewer) -> list[dict[str, Any]]:
        return queries.recent_events(store, max(1, min(limit, 1000)), device_id=device or None,
                                     event_type=type or None)

    @app.get("/api/submissions")
    def api_submissions(limit: int = 200, user: auth.Principal = viewer) -> list[dict[str, Any]]:
        return store.list_masked(max(1, min(limit, 1000)))

    @app.post("/api/applications/{receipt_no}/status")
    async def api_app_status(request: Request, receipt_no: str, user: auth.Principal = operator) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            return JSONResponse({"error": f"status must be one of {', '.join(APP_STATUSES)}"}, status_code=400)
        r = await asyncio.to_thread(set_app_status, user, receipt_no, body["status"])
        if not r["ok"]:
            return JSONResponse({"error": r["error"]}, status_code=400)
        return JSONResponse(r, status_code=200 if r["pushed"] else 202)

    @app.get("/api/ratings")
    def api_ratings(user: auth.Principal = viewer) -> dict[str, Any]:
        return queries.ratings_summary(store)

    @app.post("/api/devices/{device_id}/commands")
    async def api_command(request: Request, device_id: str, user: auth.Principal = operator) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("action") not in ACTIONS:
            return JSONResponse({"error": f"action must be one of {', '.join(ACTIONS)}"}, status_code=400)
        if fleet.device_detail(store, device_id, clock(), thresholds) is None:
            raise NotFound()
        result = await asyncio.to_thread(issue_command, user, device_id, str(body["action"]),
                                         str(body.get("message") or ""))
        status = 202 if result.get("command_id") else (503 if result.get("unavailable") else 502)
        return JSONResponse(result, status_code=status)

    app.include_router(ota_router(keys_home))  # kiosks fetch staged releases and catalogues (no login)
    return app
