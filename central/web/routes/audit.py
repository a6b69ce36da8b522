"""The audit log (admins only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from central.web import auth
from central.web.deps import Admin, Web, render

router = APIRouter()


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, user: Admin, web: Web) -> HTMLResponse:
    return render(request, "audit.html", user, entries=auth.audit_entries(web.store, 500))
