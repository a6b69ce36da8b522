"""Submissions: an admin's audited full view and the masked JSON list (the 办件 list, its decisions and their
pushes are the applications console: central/web/routes/applications.py)."""

from __future__ import annotations

import html
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from central.field_encryption import FieldKeyError
from central.web import auth, queries, signature_view
from central.web.deps import Admin, NotFound, Viewer, Web, lang_of, render

log = logging.getLogger("kiosk.central.web")

router = APIRouter()


@router.get("/submissions")
def submissions_page(user: Viewer) -> Response:
    """The old list: the applications console replaced it (central/web/routes/applications.py)."""
    return RedirectResponse("/applications", status_code=303)


@router.post("/submissions/{submission_id}/full", response_class=HTMLResponse)
def submission_full(request: Request, submission_id: str, user: Admin, web: Web) -> HTMLResponse:
    auth.audit(web.store, user.username, "submission_full_view", submission_id)
    try:
        sub = queries.submission_full(web.store, submission_id)
    except FieldKeyError as exc:  # no master key here, or a record that does not open: say so, log no data
        log.error("full view of %s: %s", submission_id, exc)
        return HTMLResponse(f"the personal data cannot be opened here: {html.escape(str(exc))}", status_code=503)
    if sub is None:
        raise NotFound()
    signature_view.open_signatures(web.store, web.keys_home, sub)  # the sealed signature, opened only here
    signature_view.open_face_check(web.store, web.keys_home, sub, lang_of(request))  # and the face image
    return render(request, "submission_full.html", user, sub=sub)


@router.get("/api/submissions")
def api_submissions(user: Viewer, web: Web, limit: int = 200) -> list[dict[str, Any]]:
    return web.store.list_masked(max(1, min(limit, 1000)))
