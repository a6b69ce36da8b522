"""Alarms acknowledged with a note (operators), the alarm rules and where notifications go (admins set them,
everyone sees them), ``/api/alarm-rules``. Every change is audited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from central import alarm_rules, alarms, notifier
from central.web import auth
from central.web.deps import Admin, Operator, Viewer, Web, WebContext, flash, lang_of, render
from central.web.i18n import translate

router = APIRouter()


@router.post("/alarms/{alarm_id}/ack")
def alarm_ack(request: Request, alarm_id: int, user: Operator, web: Web, note: str = Form("")) -> Response:
    lang = lang_of(request)
    try:
        with web.store.session() as s, s.begin():
            a = alarms.acknowledge(s, alarm_id, user.username, note, web.clock())
            done = None if a is None else (a.device_id, a.code, a.ack_note)
    except ValueError as exc:
        flash(request, "error", translate(lang, "alarms.ack_failed", why=str(exc)))
        return RedirectResponse("/alarms", status_code=303)
    if done is None:
        flash(request, "error", translate(lang, "alarms.ack_gone"))
    else:
        auth.audit(web.store, user.username, "alarm_ack", done[0], {"alarm_id": alarm_id, "code": done[1],
                                                                    "note": done[2]})
        flash(request, "ok", translate(lang, "alarms.ack_done"))
    return RedirectResponse("/alarms", status_code=303)


def _rules_view(web: WebContext) -> list[dict[str, Any]]:
    with web.store.session() as s:
        current = alarm_rules.rules(s)
    return [{"code": r.code, "enabled": r.enabled, "notify": r.notify, "unit": r.unit, "custom": r.custom,
             "threshold": alarm_rules.shown_threshold(web.thresholds, r)} for r in current.values()]


@router.get("/alarms/rules", response_class=HTMLResponse)
def rules_page(request: Request, user: Viewer, web: Web) -> HTMLResponse:
    with web.store.session() as s:
        channels = notifier.channels(s)
        recent = notifier.recent(s)
    delivery = getattr(request.app.state, "delivery", None)
    return render(request, "alarm_rules.html", user, rules=_rules_view(web), channels=channels, recent=recent,
                  smtp_ready=delivery is not None and delivery.smtp is not None)


@router.get("/api/alarm-rules")
def api_rules(user: Viewer, web: Web) -> list[dict[str, Any]]:
    return _rules_view(web)


@router.post("/alarms/rules")
async def rules_save(request: Request, user: Admin, web: Web) -> Response:
    form = await request.form()
    changed: dict[str, Any] = {}
    try:
        with web.store.session() as s, s.begin():
            before = alarm_rules.rules(s)
            for spec in alarm_rules.CATALOGUE:
                raw = form.get(f"threshold-{spec.code}")
                threshold: Any = raw if isinstance(raw, str) and raw.strip() else None
                enabled, notify = form.get(f"enabled-{spec.code}") == "1", form.get(f"notify-{spec.code}") == "1"
                old = before[spec.code]
                if spec.unit is not None and threshold is None:
                    threshold = alarm_rules.shown_threshold(web.thresholds, old)
                if (enabled, notify) == (old.enabled, old.notify) and (
                        spec.unit is None or float(threshold or 0) == alarm_rules.shown_threshold(web.thresholds, old)):
                    continue
                rule = alarm_rules.put(s, spec.code, enabled, threshold, notify, actor=user.username, now=web.clock())
                changed[spec.code] = {"enabled": rule.enabled, "threshold": rule.threshold, "notify": rule.notify}
    except ValueError as exc:
        flash(request, "error", translate(lang_of(request), "rules.failed", why=str(exc)))
        return RedirectResponse("/alarms/rules", status_code=303)
    if changed:
        auth.audit(web.store, user.username, "alarm_rules", "", changed)
    flash(request, "ok", translate(lang_of(request), "rules.saved"))
    return RedirectResponse("/alarms/rules", status_code=303)


@router.post("/alarms/channels")
def channel_add(request: Request, user: Admin, web: Web, kind: str = Form(""), target: str = Form("")) -> Response:
    try:
        with web.store.session() as s, s.begin():
            channel = notifier.add_channel(s, kind, target, actor=user.username, now=web.clock())
            added: dict[str, Any] = {"id": channel.id, "kind": channel.kind, "target": channel.target}
    except ValueError as exc:
        flash(request, "error", translate(lang_of(request), "channels.failed", why=str(exc)))
        return RedirectResponse("/alarms/rules", status_code=303)
    auth.audit(web.store, user.username, "notify_channel_add", str(added["kind"]), added)
    flash(request, "ok", translate(lang_of(request), "channels.added"))
    return RedirectResponse("/alarms/rules", status_code=303)


@router.post("/alarms/channels/{channel_id}/delete")
def channel_remove(request: Request, channel_id: int, user: Admin, web: Web) -> Response:
    with web.store.session() as s, s.begin():
        channel = notifier.remove_channel(s, channel_id)
        removed = None if channel is None else (channel.kind, {"id": channel.id, "target": channel.target})
    if removed is not None:
        auth.audit(web.store, user.username, "notify_channel_remove", removed[0], removed[1])
        flash(request, "ok", translate(lang_of(request), "channels.removed"))
    return RedirectResponse("/alarms/rules", status_code=303)
