"""The operators' dashboard and JSON API (FastAPI, server-rendered Jinja2 pages, live updates over SSE).

``create_app`` only assembles: it builds the :class:`~central.web.deps.WebContext` the routes share, the
session cookie, the security headers, the error pages, and includes the routers of ``central.web.routes``
(one module per area). Shared dependencies (login and roles, CSRF, rendering) are in ``central.web.deps``.

Security: sessions kept on the server (``auth.session_principal``: revocable, idle and absolute timeouts); the
signed cookie (HttpOnly, SameSite=Strict; Secure with the ``__Host-`` prefix and HSTS when ``https_only``)
carries the session id, never who is logged in; logins throttled per client address; passwords hashed with
argon2id; roles viewer < operator < admin checked on every request against the operators table; a CSRF token
required on every POST (form field ``csrf`` or header ``X-CSRF-Token``), refused 403 without it; every
action written to the audit log; a strict Content-Security-Policy (everything is served by this app:
no CDN, no inline script). Personal data appears only masked, except an admin's audited full view.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from central.fleet import DEFAULT_THRESHOLDS, Thresholds
from central.store import CentralStore
from central.web import auth
from central.web.commands_bridge import Sender, default_sender
from central.web.deps import (
    CsrfRefused,
    Forbidden,
    LoginRequired,
    NotFound,
    WebContext,
    csrf_guard,
    is_api,
    lang_of,
    render,
)
from central.web.i18n import translate
from central.web.routes import ROUTERS
from central.web.throttle import LoginThrottle

log = logging.getLogger("kiosk.central.web")

HERE = Path(__file__).parent
COOKIE = "kiosk_central_session"
SECURE_COOKIE = "__Host-" + COOKIE  # only over HTTPS, only for this host and path /: no subdomain can plant it
HSTS = "max-age=31536000"

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def create_app(store: CentralStore, keys_home: Path | str, broker_url: str, *, session_secret: str,
               thresholds: Thresholds = DEFAULT_THRESHOLDS, clock: Callable[[], float] = time.time,
               sse_poll_s: float = 1.0, sender: Sender | None = None, https_only: bool = False,
               crl_copy: Path | None = None, session_idle_s: float = auth.SESSION_IDLE_S,
               session_max_s: float = auth.SESSION_MAX_S,
               broker_reload: Callable[[], None] | None = None) -> FastAPI:
    """The dashboard for ``store``. Commands are signed with the keys in ``keys_home`` and published to
    ``broker_url`` (through ``central.commands`` unless ``sender`` is given). A revocation also writes
    the CRL to ``crl_copy`` (the file the broker reads), if given. ``https_only``: the dashboard is reached over
    HTTPS (Secure cookie, HSTS). Sessions end ``session_idle_s`` after their last request and ``session_max_s``
    after login."""
    if not session_secret or len(session_secret) < 16:
        raise ValueError("session_secret must be at least 16 characters")
    keys_home = Path(keys_home)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["jsontext"] = lambda value: json.dumps(value, ensure_ascii=False, default=str)
    web = WebContext(store=store, keys_home=keys_home, broker_url=broker_url, thresholds=thresholds, clock=clock,
                     policy=auth.SessionPolicy(idle_s=session_idle_s, max_s=session_max_s),
                     send=sender or default_sender(keys_home, broker_url, store), throttle=LoginThrottle(),
                     templates=templates, stopping=threading.Event(), sse_poll_s=sse_poll_s, crl_copy=crl_copy,
                     broker_reload=broker_reload)

    app = FastAPI(title="kiosk-central", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(csrf_guard)])
    app.state.web = web
    app.state.stopping = web.stopping
    app.state.store = store
    # The cookie holds the session id (plus the language, a CSRF token and a one-time notice), signed.
    app.add_middleware(SessionMiddleware, secret_key=session_secret,
                       session_cookie=SECURE_COOKIE if https_only else COOKIE,
                       max_age=math.ceil(web.policy.max_s), same_site="strict", https_only=https_only)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    _add_security_headers(app, https_only)
    _add_error_pages(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


def _add_security_headers(app: FastAPI, https_only: bool) -> None:
    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if https_only:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def _add_error_pages(app: FastAPI) -> None:
    """The app's own exceptions (``central.web.deps``) as JSON under /api/ and /sse/, as pages elsewhere."""

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, _exc: LoginRequired) -> Response:
        if is_api(request):
            return JSONResponse({"error": "login required"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, _exc: Forbidden) -> Response:
        if is_api(request):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        return render(request, "error.html", None, status_code=403,
                      message=translate(lang_of(request), "error.forbidden"))

    @app.exception_handler(CsrfRefused)
    async def _csrf_refused(request: Request, _exc: CsrfRefused) -> Response:
        log.warning("refused a POST to %s without a valid CSRF token", request.url.path)
        if is_api(request):
            return JSONResponse({"error": "csrf token missing or wrong"}, status_code=403)
        return render(request, "error.html", None, status_code=403, message=translate(lang_of(request), "error.csrf"))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, _exc: NotFound) -> Response:
        if is_api(request):
            return JSONResponse({"error": "not found"}, status_code=404)
        return render(request, "error.html", None, status_code=404,
                      message=translate(lang_of(request), "error.not_found"))
