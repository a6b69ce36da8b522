"""Logging in and out, one's own password, the page language, and the API's session check."""

from __future__ import annotations

import logging
import math
import secrets
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from central.web import auth
from central.web.deps import Viewer, Web, WebContext, csrf_token, lang_of, render, safe_next
from central.web.i18n import LANGS, translate
from central.web.throttle import address_key

log = logging.getLogger("kiosk.central.web")

router = APIRouter()


def _address(request: Request) -> str:
    return address_key(request.client.host if request.client else None)


def _throttled(request: Request, template: str, user: auth.Principal | None, wait: float,
               **context: Any) -> HTMLResponse:
    seconds = max(1, math.ceil(wait))
    page = render(request, template, user, status_code=429, throttled=seconds, **context)
    page.headers["Retry-After"] = str(seconds)
    return page


def _failed_attempt(web: WebContext, address: str, actor: str, action: str, target: str = "dashboard") -> None:
    backoff = web.throttle.failed(address, web.clock())
    detail: dict[str, Any] = {"address": address}
    if backoff:
        detail["backoff_s"] = backoff
        log.warning("login attempts from %s are slowed down (%.0f s)", address, backoff)
    auth.audit(web.store, actor, action, target, detail)


def _fresh_session(request: Request, values: dict[str, Any]) -> None:
    lang = request.session.get("lang")
    request.session.clear()  # a fresh cookie: no fixation
    request.session.update(values)
    if lang:
        request.session["lang"] = lang


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", None, next=safe_next(next), failed=False)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, web: Web, username: str = Form(""), password: str = Form(""),
          next: str = Form("/")) -> Response:
    now = web.clock()
    address = _address(request)
    wait = web.throttle.wait_s(address, now)
    if wait > 0:  # the password is not even checked
        return _throttled(request, "login.html", None, wait, next=safe_next(next), failed=False)
    name = username.strip()[:64]
    who = auth.authenticate(web.store, name, password)
    if who is None:
        # What was typed as the user name may be a password: only a real operator's name is recorded.
        _failed_attempt(web, address, name if auth.is_operator(web.store, name) else auth.UNKNOWN_USER,
                        "login_failed")
        return render(request, "login.html", None, status_code=401, next=safe_next(next), failed=True)
    sid = auth.start_session(web.store, who.username, now, web.policy)
    _fresh_session(request, {"sid": sid, "csrf": secrets.token_urlsafe(32)})
    auth.audit(web.store, who.username, "login", "dashboard", {"role": who.role})
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, web: Web) -> Response:
    """Ends every session of this user (a copy of the cookie elsewhere is dead too)."""
    username = auth.session_user(web.store, request.session.get("sid"))
    if username is not None:
        auth.end_sessions(web.store, username, "logout", web.clock())
        auth.audit(web.store, username, "logout", "dashboard")
    _fresh_session(request, {})
    return RedirectResponse("/login", status_code=303)


@router.get("/account/password", response_class=HTMLResponse)
def password_page(request: Request, user: Viewer) -> HTMLResponse:
    return render(request, "account_password.html", user, error=None)


@router.post("/account/password", response_class=HTMLResponse)
def password_change(request: Request, user: Viewer, web: Web, current: str = Form(""), new: str = Form(""),
                    again: str = Form("")) -> Response:
    """Change one's own password: the current one first (throttled like a login); ends all one's sessions."""
    lang = lang_of(request)
    address = _address(request)
    wait = web.throttle.wait_s(address, web.clock())
    if wait > 0:
        return _throttled(request, "account_password.html", user, wait, error=None)
    error = None
    if new != again:
        error = translate(lang, "password.differ")
    elif len(new) < auth.MIN_PASSWORD:
        error = translate(lang, "password.short", n=auth.MIN_PASSWORD)
    else:
        try:
            changed = auth.change_password(web.store, user.username, current, new)
        except auth.OperatorError as exc:
            changed, error = False, str(exc)
        if not changed and error is None:
            _failed_attempt(web, address, user.username, "password_change_failed", user.username)
            error = translate(lang, "password.wrong")
    if error is not None:
        return render(request, "account_password.html", user, status_code=400, error=error)
    auth.audit(web.store, user.username, "password_change", user.username)
    _fresh_session(request, {"flash": {"kind": "ok", "text": translate(lang, "password.changed")}})
    return RedirectResponse("/login", status_code=303)


@router.get("/lang")
def switch_lang(request: Request, to: str = "zh_CN", next: str = "/") -> Response:
    request.session["lang"] = to if to in LANGS else "zh_CN"
    return RedirectResponse(safe_next(next), status_code=303)


@router.get("/api/session")
def api_session(request: Request, user: Viewer) -> dict[str, Any]:
    return {"user": user.username, "role": user.role, "csrf": csrf_token(request)}
