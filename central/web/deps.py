"""What every dashboard route shares: the app's context, the login/role dependencies, CSRF, rendering, errors.

A route module (``central/web/routes/*.py``) declares what it needs in its signature::

    @router.get("/things", response_class=HTMLResponse)
    def things_page(request: Request, user: Viewer, web: Web) -> HTMLResponse:
        return render(request, "things.html", user, things=queries.things(web.store))

``Viewer``/``Operator``/``Admin`` log the request in (re-read from the operators table) and check the role;
``Web`` is the :class:`WebContext` ``create_app`` built (store, keys, broker, clock, thresholds ...).
Raise ``NotFound``/``Forbidden`` for the app's error pages (JSON under ``/api/`` and ``/sse/``).
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from central.fleet import Thresholds
from central.store import CentralStore
from central.web import auth
from central.web.commands_bridge import Sender
from central.web.formatting import fmt_age, fmt_bytes, fmt_time
from central.web.i18n import ACTION_KEYS, norm_lang, table, translate
from central.web.throttle import LoginThrottle

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    pass


class Forbidden(Exception):
    pass


class CsrfRefused(Exception):
    pass


class NotFound(Exception):
    pass


@dataclass
class WebContext:
    """Everything ``create_app`` was given or built once, for the routes (``app.state.web``)."""

    store: CentralStore
    keys_home: Path
    broker_url: str
    thresholds: Thresholds
    clock: Callable[[], float]
    policy: auth.SessionPolicy
    send: Sender
    throttle: LoginThrottle
    templates: Jinja2Templates
    stopping: threading.Event
    sse_poll_s: float
    crl_copy: Path | None
    broker_reload: Callable[[], None] | None


def web_context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.web
    return ctx


Web = Annotated[WebContext, Depends(web_context)]


def is_api(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/sse/"))


def lang_of(request: Request) -> str:
    return norm_lang(request.session.get("lang"))


def safe_next(target: str | None) -> str:
    """Where to go after login or a language switch: a path on this site only."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def csrf_token(request: Request) -> str:
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


def current(request: Request) -> auth.Principal:
    """The operator of this request's session (re-read from the server's tables on every request)."""
    web = web_context(request)
    p = auth.session_principal(web.store, request.session.get("sid"), web.clock(), web.policy)
    if p is None:
        request.session.pop("sid", None)
        raise LoginRequired()
    return p


def require(role: str) -> Callable[[Request], auth.Principal]:
    def dependency(request: Request) -> auth.Principal:
        p = current(request)
        if not p.can(role):
            raise Forbidden()
        return p

    return dependency


Viewer = Annotated[auth.Principal, Depends(require("viewer"))]
Operator = Annotated[auth.Principal, Depends(require("operator"))]
Admin = Annotated[auth.Principal, Depends(require("admin"))]


def render(request: Request, name: str, user: auth.Principal | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """The template ``name`` with what every page uses (texts, language, user, CSRF token, one-time notice)."""
    web = web_context(request)
    lang = lang_of(request)

    def t(key: str, **values: object) -> str:
        return translate(lang, key, **values)

    flash = request.session.pop("flash", None)
    base = {"t": t, "lang": lang, "other_lang": "en" if lang == "zh_CN" else "zh_CN", "user": user,
            "csrf": csrf_token(request), "path": request.url.path, "flash": flash,
            "fmt_time": fmt_time, "fmt_age": fmt_age, "fmt_bytes": fmt_bytes,
            "words_json": json.dumps(table(lang), ensure_ascii=False), "action_keys": ACTION_KEYS,
            "now": web.clock()}
    return web.templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def flash(request: Request, kind: str, text: str) -> None:
    """A one-time notice shown on the next page (``kind``: ok or error)."""
    request.session["flash"] = {"kind": kind, "text": text}
