"""Enrolment: the tokens (human column titles, never the token), issuing one for a site with its QR code drawn
on the page (admin; shown once, the central keeps only a hash of its secret), and revoking an unused one."""

from __future__ import annotations

import logging
import math

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from central.enrolment import DEFAULT_TTL_S, TokenRequestError, issue_token, qr_data_uri, revoke_token
from central.keys import CentralKeys, KeysError
from central.web import auth, queries
from central.web.deps import Admin, Viewer, Web, flash, lang_of, render
from central.web.i18n import translate

log = logging.getLogger("kiosk.central.web")
router = APIRouter()
MAX_TTL_HOURS = 24 * 30


@router.get("/enrolment", response_class=HTMLResponse)
def enrolment_page(request: Request, user: Viewer, web: Web) -> HTMLResponse:
    return render(request, "enrolment.html", user, tokens=queries.enrolment_tokens(web.store),
                  broker_url=web.broker_url, ttl_hours=int(DEFAULT_TTL_S // 3600), max_hours=MAX_TTL_HOURS)


@router.post("/enrolment/tokens", response_class=HTMLResponse)
def enrolment_issue(request: Request, user: Admin, web: Web, site: str = Form(""), broker_url: str = Form(""),
                    enrol_url: str = Form(""), device_id: str = Form(""), ttl_hours: str = Form("24")) -> Response:
    lang = lang_of(request)
    try:
        hours = float(ttl_hours)
        if not (math.isfinite(hours) and 0 < hours <= MAX_TTL_HOURS):
            raise TokenRequestError(f"the validity must be 1-{MAX_TTL_HOURS} hours")
        keys = CentralKeys.load(web.keys_home)
        issued = issue_token(web.store, keys, site=site.strip(), broker_url=broker_url.strip(),
                             enrol_url=enrol_url.strip(), device_id=device_id.strip() or None, ttl_s=hours * 3600,
                             now=web.clock())
    except (TokenRequestError, KeysError, ValueError) as exc:
        flash(request, "error", translate(lang, "enrolment.failed", why=str(exc)))
        return RedirectResponse("/enrolment", status_code=303)
    auth.audit(web.store, user.username, "enrol_token_issue", issued.device_id,
               {"token_id": issued.token_id, "site": issued.site, "expires_at": issued.expires_at})
    log.info("admin %s issued an enrolment token for %s", user.username, issued.device_id)
    return render(request, "enrolment_issued.html", user, issued=issued, qr=qr_data_uri(issued.token))


@router.post("/enrolment/tokens/{token_id}/revoke")
def enrolment_revoke(request: Request, token_id: str, user: Admin, web: Web) -> Response:
    lang = lang_of(request)
    try:
        done = revoke_token(web.store, token_id, now=web.clock())
    except TokenRequestError as exc:
        flash(request, "error", translate(lang, "enrolment.revoke_failed", why=str(exc)))
    else:
        auth.audit(web.store, user.username, "enrol_token_revoke", done["device_id"], {"token_id": token_id})
        flash(request, "ok", translate(lang, "enrolment.revoked", device=done["device_id"]))
    return RedirectResponse("/enrolment", status_code=303)
