"""好差评: satisfaction by item, site and period with charts, the newest ratings linked to their applications,
and ``/api/ratings``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from central import satisfaction
from central.feedback import LEVEL_ORDER
from central.web.bar_charts import bar_chart, percent
from central.web.console_views import STATS, Range, item_choices, item_names
from central.web.deps import Viewer, Web, WebContext, lang_of, render
from central.web.i18n import translate

router = APIRouter()


def ratings_data(web: WebContext, rng: Range, site: str = "", item: str = "") -> dict[str, Any]:
    """Everything the page and the API show, for ratings made in the range (plain data): the aggregates
    from ``STATS`` (at most a minute old, ``counted`` says when), the newest ratings as they are now."""
    kw: dict[str, Any] = {"start": rng.start, "end": rng.end, "site": site, "service_code": item}

    def compute() -> dict[str, Any]:
        with web.store.session() as s:
            by_site = satisfaction.satisfaction(s, by="site", **kw)
            return {"by_item": satisfaction.satisfaction(s, by="item", **kw), "by_site": by_site,
                    "by_period": satisfaction.satisfaction(s, by="period", period=rng.period, **kw),
                    "sites": [r.key for r in by_site if r.key] if not (site or item) else satisfaction.sites(s)}

    now = web.clock()
    key = ("ratings", str(web.store.engine.url), rng.start, rng.end, rng.period, site, item)
    stats, counted = STATS.get(key, compute, now)
    with web.store.session() as s:
        latest = satisfaction.recent(s, limit=50, **kw)
    return {**stats, "levels": list(LEVEL_ORDER), "total": satisfaction.total(stats["by_item"]), "recent": latest,
            "counted": counted}


@router.get("/ratings", response_class=HTMLResponse)
def ratings_page(request: Request, user: Viewer, web: Web, site: str = "", item: str = "",
                 period: str = "month", date_from: str = "", date_to: str = "") -> HTMLResponse:
    lang = lang_of(request)
    rng = Range.of(date_from, date_to, period)
    data = ratings_data(web, rng, site[:128], item[:64])
    name = item_names(web, lang)
    period_word = translate(lang, f"period.{rng.period}")
    charts = [
        bar_chart([(r.key, r.satisfied_rate, percent(r.satisfied_rate)) for r in data["by_period"]],
                  translate(lang, "ratings.rate_chart", period=period_word), warn_below=0.9, css_class="rate-period"),
        bar_chart([(r.key, r.satisfied_rate, percent(r.satisfied_rate)) for r in data["by_site"]],
                  translate(lang, "ratings.site_chart"), warn_below=0.9, css_class="rate-site"),
        bar_chart([(r.key, float(r.total), str(r.total)) for r in data["by_period"]],
                  translate(lang, "ratings.count_chart", period=period_word),
                  top=max([float(r.total) for r in data["by_period"]] or [1.0]), css_class="count-period"),
    ]
    return render(request, "ratings.html", user, data=data, charts=charts, item_name=name, rng=rng, site=site,
                  item=item, items=item_choices(web, lang), percent=percent)


@router.get("/api/ratings")
def api_ratings(user: Viewer, web: Web, site: str = "", item: str = "", period: str = "month",
                date_from: str = "", date_to: str = "") -> dict[str, Any]:
    data = ratings_data(web, Range.of(date_from, date_to, period), site[:128], item[:64])
    out = {k: [r.to_json() for r in data[k]] for k in ("by_item", "by_site", "by_period")}
    return {**out, "levels": data["levels"], "total": data["total"].to_json(), "recent": data["recent"]}
