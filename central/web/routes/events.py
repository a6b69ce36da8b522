"""The event log: the page (filtered by kiosk and type) and ``/api/events``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from central.web import queries
from central.web.deps import Viewer, Web, render

router = APIRouter()


@router.get("/events", response_class=HTMLResponse)
def events_page(request: Request, user: Viewer, web: Web, device: str = "", type: str = "") -> HTMLResponse:
    rows = queries.recent_events(web.store, 300, device_id=device or None, event_type=type or None)
    return render(request, "events.html", user, events=rows, device=device, type=type)


@router.get("/api/events")
def api_events(user: Viewer, web: Web, device: str = "", type: str = "", limit: int = 200) -> list[dict[str, Any]]:
    return queries.recent_events(web.store, max(1, min(limit, 1000)), device_id=device or None,
                                 event_type=type or None)
