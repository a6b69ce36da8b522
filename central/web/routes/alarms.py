"""Alarms: the list (open and recently cleared), clearing one, ``/api/alarms``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from central import fleet
from central.web import auth
from central.web.deps import Operator, Viewer, Web, render

router = APIRouter()


@router.get("/alarms", response_class=HTMLResponse)
def alarms_page(request: Request, user: Viewer, web: Web) -> HTMLResponse:
    everything = fleet.alarms_list(web.store, open_only=False, limit=300)
    return render(request, "alarms.html", user, open_alarms=[a for a in everything if a["open"]],
                  cleared=[a for a in everything if not a["open"]][:100])


@router.post("/alarms/{alarm_id}/clear")
def alarm_clear(alarm_id: int, user: Operator, web: Web) -> Response:
    cleared = fleet.clear_alarm(web.store, alarm_id, user.username, web.clock())
    if cleared is not None:
        auth.audit(web.store, user.username, "alarm_clear", cleared["device_id"],
                   {"alarm_id": alarm_id, "code": cleared["code"]})
    return RedirectResponse("/alarms", status_code=303)


@router.get("/api/alarms")
def api_alarms(user: Viewer, web: Web, all: bool = False) -> list[dict[str, Any]]:
    return fleet.alarms_list(web.store, open_only=not all)
