"""Reports: counts, time-limit compliance and satisfaction by item, site or period, on screen and exported as
CSV or XLSX. Counts and rates only: no personal data (central.reports)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from central.reports import BY, COLUMNS, HEADERS, ReportRequest, ReportRow, export_rows, report, totals
from central.web import auth
from central.web.bar_charts import percent
from central.web.console_views import STATS, Range, item_limits, item_names
from central.web.deps import Viewer, Web, WebContext, lang_of, render
from central.web.i18n import translate
from central.workdays import local_date

router = APIRouter()
MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _request(by: str, rng: Range, now: float) -> ReportRequest:
    return ReportRequest(by=by if by in BY else "item", start=rng.start, end=rng.end, period=rng.period, now=now)


def report_rows(web: WebContext, req: ReportRequest, lang: str) -> tuple[list[ReportRow], float]:
    """The report's rows and when they were counted (``STATS``: at most a minute old)."""
    def compute() -> list[ReportRow]:
        with web.store.session() as s:
            return report(s, req, limits=item_limits(web), name_of=item_names(web, lang))

    key = ("report", str(web.store.engine.url), req.by, req.start, req.end, req.period, lang)
    return STATS.get(key, compute, req.now)


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, user: Viewer, web: Web, by: str = "item", period: str = "month",
                 date_from: str = "", date_to: str = "") -> HTMLResponse:
    lang = lang_of(request)
    if not date_from and not date_to:  # a month's return is what is asked for most: this month so far
        today = local_date(web.clock())
        date_from, date_to = today.replace(day=1).isoformat(), today.isoformat()
    rng = Range.of(date_from, date_to, period)
    req = _request(by, rng, web.clock())
    rows, counted = report_rows(web, req, lang)
    query = urlencode({"by": req.by, "period": rng.period, "date_from": rng.date_from, "date_to": rng.date_to})
    return render(request, "reports.html", user, rows=rows, total=totals(rows, translate(lang, "reports.total")),
                  counted=counted,
                  by=req.by, rng=rng, percent=percent, query=query, columns=COLUMNS[2:],
                  headers=HEADERS["en" if lang == "en" else "zh_CN"])


@router.get("/reports/export.{fmt}")
def reports_export(request: Request, fmt: str, user: Viewer, web: Web, by: str = "item", period: str = "month",
                   date_from: str = "", date_to: str = "") -> Response:
    if fmt not in MEDIA:
        return Response("format must be csv or xlsx", status_code=404, media_type="text/plain")
    lang = lang_of(request)
    rng = Range.of(date_from, date_to, period)
    req = _request(by, rng, web.clock())
    rows, _counted = report_rows(web, req, lang)
    body = export_rows(rows, req.by, fmt, lang=lang)
    auth.audit(web.store, user.username, "report_export", f"report:{req.by}",
               {"format": fmt, "from": rng.date_from, "to": rng.date_to, "period": rng.period})
    name = f"report-{req.by}-{rng.date_from or 'start'}-{rng.date_to or 'now'}.{fmt}"
    return Response(body, media_type=MEDIA[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})
