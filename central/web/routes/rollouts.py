"""Staged OTA rollouts: their progress (everyone), and an admin's halt, resume, cancel and widen (audited).
Rollouts start from ``kiosk-central rollout`` (the release's artefact and manifest are files on the central);
the dashboard server's evaluator sends their waves (``central.rollouts.step``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from central import rollouts
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
    return render(request, "rollouts.html", user, rollouts=items, targets=targets)


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
