"""Staged OTA rollouts: their progress (everyone), and an admin's start, halt, resume, cancel and widen
(audited). An admin starts one from a release published in the central's releases folder
(``central.releases``, as ``kiosk-central rollout --artifact`` would), to a percentage of the fleet or chosen
sites, with its failure-rate halt threshold; the dashboard server's evaluator sends its waves
(``central.rollouts.step``). Starting, like every move, is an admin's: it ships software to the fleet, as
revoking a kiosk or unlocking its service mode are an admin's, while an operator's commands (maintenance,
diagnostics) touch one kiosk and are undone by the next."""

from __future__ import annotations

import math
import os
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from central import releases, rollouts
from central.web import auth
from central.web.deps import Admin, Viewer, Web, flash, lang_of, render
from central.web.i18n import translate

router = APIRouter()
_MOVES = {"halt": "halted", "resume": "running", "cancel": "cancelled"}


@router.get("/rollouts", response_class=HTMLResponse)
def rollouts_page(request: Request, user: Viewer, web: Web) -> HTMLResponse:
    with web.store.session() as s:
        items = rollouts.progress(s)
        targets = {r["id"]: rollouts.targets_of(s, r["id"]) for r in items[:5]}
    extra: dict[str, Any] = {}
    if user.can("admin"):  # the start form: what may be rolled out, and where
        extra = {"releases": releases.published(web.keys_home), "sites": rollouts.site_choices(web.store),
                 "base_url": os.environ.get("KIOSK_CENTRAL_URL", "")}
    return render(request, "rollouts.html", user, rollouts=items, targets=targets, **extra)


class _Refused(ValueError):
    """What is wrong with the start form, as a text key (the page's language)."""


def _parse_form(release: str, cohort: str, percent: str, sites: list[str], max_failure_pct: str, min_finished: str,
                wave: str, base_url: str) -> tuple[float | None, list[str], float, int, int]:
    """(percent or None, sites, failure threshold as a fraction, min finished, wave), or ``_Refused``."""
    if not release:
        raise _Refused("rollouts.why_release")
    chosen = [x.strip() for x in sites if x.strip()] if cohort == "sites" else []
    if cohort == "sites" and not chosen:
        raise _Refused("rollouts.why_sites")
    pct = None if cohort == "sites" else _float(percent, 0.0, 100.0, "rollouts.why_percent", low_open=True)
    rate = _float(max_failure_pct, 0.0, 99.999, "rollouts.why_threshold") / 100.0
    finished, at_once = _int(min_finished, "rollouts.why_min_finished"), _int(wave, "rollouts.why_wave")
    if not base_url.strip().startswith(("http://", "https://")):
        raise _Refused("rollouts.why_base_url")
    return pct, chosen, rate, finished, at_once


def _float(value: str, low: float, high: float, key: str, low_open: bool = False) -> float:
    try:
        x = float(value)
    except ValueError:
        raise _Refused(key) from None
    if not math.isfinite(x) or x < low or (low_open and x == low) or x > high:
        raise _Refused(key)
    return x


def _int(value: str, key: str) -> int:
    try:
        n = int(value.strip())
    except ValueError:
        raise _Refused(key) from None
    if not 1 <= n <= 1000:
        raise _Refused(key)
    return n


@router.post("/rollouts")
def rollout_start(request: Request, user: Admin, web: Web, release: str = Form(""), cohort: str = Form("percent"),
                  percent: str = Form(""), site: Annotated[list[str] | None, Form()] = None,
                  max_failure_pct: str = Form("20"), min_finished: str = Form("3"), wave: str = Form("10"),
                  base_url: str = Form("")) -> Response:
    lang = lang_of(request)
    try:
        pct, chosen, rate, finished, at_once = _parse_form(release, cohort, percent, site or [], max_failure_pct,
                                                           min_finished, wave, base_url)
        if not rollouts.cohort(web.store, release, percent=pct, sites=chosen):  # before anything is staged
            raise _Refused("rollouts.why_empty")
        version, update = releases.update_args_for(web.keys_home, release, base_url)  # staged, checked
        rollout_id = rollouts.create(web.store, version, update, percent=pct, sites=chosen, max_failure_rate=rate,
                                     min_finished=finished, wave=at_once, actor=user.username, now=web.clock())
    except _Refused as exc:
        flash(request, "error", translate(lang, "rollouts.start_failed", why=translate(lang, str(exc))))
        return RedirectResponse("/rollouts", status_code=303)
    except ValueError as exc:  # the release's files, or an empty cohort: the check's own words
        flash(request, "error", translate(lang, "rollouts.start_failed", why=str(exc)))
        return RedirectResponse("/rollouts", status_code=303)
    with web.store.session() as s:
        (started,) = rollouts.progress(s, rollout_id)
    auth.audit(web.store, user.username, "rollout_start", str(rollout_id),
               {"version": version, "release": release, "cohort": started["cohort"], "percent": pct,
                "sites": chosen, "max_failure_rate": rate, "min_finished": finished, "wave": at_once,
                "kiosks": started["total"]})
    flash(request, "ok", translate(lang, "rollouts.started", version=version, n=started["total"]))
    return RedirectResponse("/rollouts", status_code=303)


@router.get("/api/rollouts")
def api_rollouts(user: Viewer, web: Web) -> list[dict[str, Any]]:
    with web.store.session() as s:
        return rollouts.progress(s)


@router.post("/rollouts/{rollout_id}/{move}")
def rollout_move(request: Request, rollout_id: int, move: str, user: Admin, web: Web, reason: str = Form(""),
                 percent: str = Form("")) -> Response:
    lang = lang_of(request)
    try:
        if move == "widen":
            added = rollouts.widen(web.store, rollout_id, float(percent), web.clock())
            detail: dict[str, Any] = {"percent": float(percent), "added": added}
        elif move in _MOVES:
            rollouts.set_state(web.store, rollout_id, _MOVES[move], reason.strip() or f"by {user.username}",
                               web.clock())
            detail = {"reason": reason.strip()[:256]}
        else:
            raise ValueError(f"unknown action {move!r}")
    except ValueError as exc:
        flash(request, "error", translate(lang, "rollouts.failed", why=str(exc)))
        return RedirectResponse("/rollouts", status_code=303)
    auth.audit(web.store, user.username, f"rollout_{move}", str(rollout_id), detail)
    flash(request, "ok", translate(lang, "rollouts.done"))
    return RedirectResponse("/rollouts", status_code=303)
