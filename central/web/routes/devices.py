"""One kiosk: its page (status, charts, events, alarms, commands sent), commands, revocation, live stream, API."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from markupsafe import Markup

from central import fleet
from central.web import auth, queries
from central.web.charts import line_chart
from central.web.commands_bridge import ACTIONS, ADMIN_ACTIONS, CommandFailed, CommandUnavailable, command_params
from central.web.deps import Admin, Forbidden, NotFound, Operator, Viewer, Web, WebContext, flash, lang_of, render
from central.web.i18n import ACTION_KEYS, translate
from central.web.revoke import RevokeFailed, is_revoked, revoke_kiosk
from central.web.sse import event_stream

log = logging.getLogger("kiosk.central.web")

router = APIRouter()


def _sent_commands(web: WebContext, device_id: str) -> list[dict[str, Any]]:
    entries = auth.audit_entries(web.store, 20, action="command", target=device_id)
    ids = [str(e["detail"].get("command_id")) for e in entries if e["detail"].get("command_id")]
    results = queries.command_results(web.store, device_id, ids)
    out = []
    for e in entries:
        cid = str(e["detail"].get("command_id") or "")
        res = results.get(cid)
        out.append({"id": cid, "at": e["at"], "actor": e["actor"], "action": e["detail"].get("action"),
                    "error": e["detail"].get("error"), "result": res["meta"] if res else None,
                    "result_at": res["received_at"] if res else None})
    return out


def device_payload(web: WebContext, device_id: str) -> dict[str, Any] | None:
    row = fleet.device_detail(web.store, device_id, web.clock(), web.thresholds)
    if row is None:
        return None
    return {"device": row, "events": queries.recent_events(web.store, 30, device_id=device_id),
            "commands": _sent_commands(web, device_id), "now": web.clock()}


def _known(web: WebContext, device_id: str) -> None:
    if fleet.device_detail(web.store, device_id, web.clock(), web.thresholds) is None:
        raise NotFound()


def issue_command(web: WebContext, user: auth.Principal, device_id: str, action: str,
                  message: str) -> dict[str, Any]:
    """Sign and send ``action`` to the kiosk, audited either way; a dict for the page and the API."""
    params = command_params(action, message)
    try:
        command_id = web.send(device_id, action, params)
    except CommandUnavailable as exc:
        log.warning("command %s to %s not sent: %s", action, device_id, exc)
        auth.audit(web.store, user.username, "command_failed", device_id, {"action": action, "error": str(exc)})
        return {"command_id": None, "error": str(exc), "unavailable": True}
    except CommandFailed as exc:
        log.warning("command %s to %s failed: %s", action, device_id, exc)
        auth.audit(web.store, user.username, "command_failed", device_id, {"action": action, "error": str(exc)})
        return {"command_id": None, "error": str(exc), "unavailable": False}
    auth.audit(web.store, user.username, "command", device_id,
               {"action": action, "command_id": command_id, "params": params})
    log.info("operator %s sent %s to %s (command %s)", user.username, action, device_id, command_id)
    return {"command_id": command_id, "error": None}


@router.get("/devices/{device_id}", response_class=HTMLResponse)
def device_page(request: Request, device_id: str, user: Viewer, web: Web) -> HTMLResponse:
    data = device_payload(web, device_id)
    if data is None:
        raise NotFound()
    lang = lang_of(request)
    series = fleet.telemetry_series(web.store, device_id)
    charts = []
    if series:
        charts.append(Markup(line_chart([(p["at"], p["queue_depth"]) for p in series],  # noqa: S704
                                        translate(lang, "chart.queue"), "queue")))
        charts.append(Markup(line_chart(  # noqa: S704 (the chart escapes its own text)
            [(p["at"], None if p["oldest_pending_s"] is None else p["oldest_pending_s"] / 60) for p in series],
            translate(lang, "chart.oldest"), "oldest")))
    return render(request, "device.html", user, charts=charts, actions=ACTIONS,
                  revoked=is_revoked(web.store, device_id),
                  alarms=fleet.alarms_list(web.store, open_only=False, limit=20, device_id=device_id), **data)


@router.post("/devices/{device_id}/revoke", response_class=HTMLResponse)
def device_revoke(request: Request, device_id: str, user: Admin, web: Web, reason: str = Form(""),
                  confirmed: str = Form("")) -> Response:
    """Cut a kiosk off (a stolen or decommissioned machine): asks first, then revokes and audits."""
    _known(web, device_id)
    lang = lang_of(request)
    reason = " ".join(reason.split())[:200]
    if confirmed != "1":
        return render(request, "confirm_revoke.html", user, device_id=device_id, reason=reason)
    try:
        done = revoke_kiosk(web.store, web.keys_home, web.broker_url, device_id, reason=reason,
                            crl_copy=web.crl_copy,
                            broker_reload=web.broker_reload)  # the broker's CRL reloaded before the drop
    except RevokeFailed as exc:
        auth.audit(web.store, user.username, "revoke_failed", device_id, {"error": str(exc)[:200]})
        flash(request, "error", translate(lang, "revoke.failed", why=str(exc)))
    else:
        auth.audit(web.store, user.username, "revoke", device_id,
                   {"reason": reason, "certificates": done.certificates, "dropped": done.dropped,
                    "crl_active": done.crl_active})
        log.warning("operator %s revoked %s", user.username, device_id)
        flash(request, "ok", translate(lang, "revoke.done", device=device_id, n=done.certificates))
    return RedirectResponse(f"/devices/{quote(device_id)}", status_code=303)


@router.post("/devices/{device_id}/command", response_class=HTMLResponse)
def device_command(request: Request, device_id: str, user: Operator, web: Web, action: str = Form(...),
                   message: str = Form(""), confirmed: str = Form("")) -> Response:
    _known(web, device_id)
    lang = lang_of(request)
    if action not in ACTIONS:
        raise NotFound()
    if action in ADMIN_ACTIONS and not user.can("admin"):
        raise Forbidden()
    if confirmed != "1":
        return render(request, "confirm.html", user, device_id=device_id, action=action,
                      action_label=translate(lang, ACTION_KEYS[action]), message=message)
    result = issue_command(web, user, device_id, action, message)
    if result.get("command_id"):
        flash(request, "ok", translate(lang, "command.sent", id=result["command_id"]))
    else:
        key = "command.unavailable" if result.get("unavailable") else "command.failed"
        flash(request, "error", translate(lang, key, why=result.get("error")))
    return RedirectResponse(f"/devices/{quote(device_id)}", status_code=303)


@router.get("/sse/devices/{device_id}")
def sse_device(request: Request, device_id: str, user: Viewer, web: Web) -> StreamingResponse:
    def produce() -> dict[str, Any] | None:
        data = device_payload(web, device_id)
        if data is not None:
            data["device"].pop("silent_s", None)
        return data

    return event_stream(request, web, produce, "device")


@router.get("/api/devices/{device_id}")
def api_device(device_id: str, user: Viewer, web: Web) -> dict[str, Any]:
    data = device_payload(web, device_id)
    if data is None:
        raise NotFound()
    data["telemetry_series"] = fleet.telemetry_series(web.store, device_id)
    return data


@router.post("/api/devices/{device_id}/commands")
async def api_command(request: Request, device_id: str, user: Operator, web: Web) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("action") not in ACTIONS:
        return JSONResponse({"error": f"action must be one of {', '.join(ACTIONS)}"}, status_code=400)
    if body["action"] in ADMIN_ACTIONS and not user.can("admin"):
        raise Forbidden()
    _known(web, device_id)
    result = await asyncio.to_thread(issue_command, web, user, device_id, str(body["action"]),
                                     str(body.get("message") or ""))
    status = 202 if result.get("command_id") else (503 if result.get("unavailable") else 502)
    return JSONResponse(result, status_code=status)
