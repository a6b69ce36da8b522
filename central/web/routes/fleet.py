"""The fleet overview: the home page (counts by state, site and district; each kiosk's peripherals; the
residents' calls for staff), its live stream, the districts an admin sets, and ``/api/fleet``."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from central import fleet, fleet_overview
from central.web import auth
from central.web.deps import Admin, Viewer, Web, WebContext, flash, lang_of, render
from central.web.i18n import translate
from central.web.sse import event_stream

router = APIRouter()


def fleet_payload(web: WebContext) -> dict[str, Any]:
    rows = fleet.fleet_list(web.store, web.clock(), web.thresholds)
    with web.store.session() as s:
        site_districts = fleet_overview.districts(s)
    return {"counts": fleet.fleet_counts(rows), "rows": rows, "now": web.clock(),
            **fleet_overview.breakdown(rows, site_districts), "staff_calls": fleet_overview.staff_calls(rows)}


class MacroMemo:
    """A macro's output once per distinct arguments, for one page: 1,000 kiosks share a few states and peripheral
    summaries, and calling a Jinja macro per row was most of the overview's time (``bench/console.py``).
    The first argument (the page's ``t``) is the same for every call; the others key the memo."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], Any] = {}

    def __call__(self, macro: Any, t: Any, *args: Any) -> Any:
        key = (str(getattr(macro, "name", id(macro))), json.dumps(args, sort_keys=True, default=str))
        out = self._seen.get(key)
        if out is None:
            out = self._seen[key] = macro(t, *args)
        return out


@router.get("/", response_class=HTMLResponse)
def fleet_page(request: Request, user: Viewer, web: Web) -> HTMLResponse:
    return render(request, "fleet.html", user, memo=MacroMemo(), **fleet_payload(web))


@router.get("/sse/fleet")
def sse_fleet(request: Request, user: Viewer, web: Web) -> StreamingResponse:
    def produce() -> dict[str, Any]:
        data = fleet_payload(web)
        for r in data["rows"]:
            r.pop("silent_s", None)  # the page computes ages from last_seen and now
        return data

    return event_stream(request, web, produce, "fleet")


@router.get("/api/fleet")
def api_fleet(user: Viewer, web: Web) -> list[dict[str, Any]]:
    return fleet.fleet_list(web.store, web.clock(), web.thresholds)


@router.get("/api/fleet/overview")
def api_overview(user: Viewer, web: Web) -> dict[str, Any]:
    data = fleet_payload(web)
    return {k: data[k] for k in ("counts", "by_site", "by_district", "staff_calls")}


@router.post("/fleet/districts")
def district_set(request: Request, user: Admin, web: Web, site: str = Form(""), district: str = Form("")) -> Response:
    lang = lang_of(request)
    try:
        with web.store.session() as s, s.begin():
            fleet_overview.set_district(s, site, district, actor=user.username, now=web.clock())
    except ValueError as exc:
        flash(request, "error", translate(lang, "district.failed", why=str(exc)))
        return RedirectResponse("/", status_code=303)
    auth.audit(web.store, user.username, "site_district", site.strip()[:128], {"district": district.strip()})
    flash(request, "ok", translate(lang, "district.saved", site=site.strip(), district=district.strip() or "-"))
    return RedirectResponse("/", status_code=303)
