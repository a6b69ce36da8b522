"""好差评 statistics: satisfaction by item, site or period over a time range, from ``ratings`` (one grouped
query; periods are counted per day in SQL and summed here, so a year is at most 366 rows from the database).

满意率 (satisfied rate) = ratings other than 不满意/非常不满意 over all ratings, as the national 好差评 rules
count it. Plain functions: the console's pages, its exports and ``bench/console.py`` call them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from central import daily_counts
from central.daily_counts import RATING_COUNTS, day_index
from central.feedback import LEVEL_ORDER, NEGATIVE
from central.feedback_models import Rating
from central.workdays import CST

BY = ("item", "site", "period")
PERIODS = ("day", "week", "month", "year")
_EPOCH = dt.date(1970, 1, 1)


def period_key(day: int, period: str) -> str:
    """The label of the period a day (index since 1970-01-01) falls in: 2026-10-01, 2026-W40, 2026-10, 2026."""
    d = _EPOCH + dt.timedelta(days=int(day))
    if period == "day":
        return d.isoformat()
    if period == "week":
        year, week, _ = d.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "year":
        return str(d.year)
    return f"{d.year}-{d.month:02d}"


def day_range(start: dt.date | None, end: dt.date | None) -> tuple[float | None, float | None]:
    """Epoch seconds of [start 00:00, the day after end 00:00) in China Standard Time."""
    lo = dt.datetime.combine(start, dt.time(), CST).timestamp() if start else None
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), CST).timestamp() if end else None
    return lo, hi


@dataclass
class Row:
    key: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVEL_ORDER, 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def negative(self) -> int:
        return sum(n for level, n in self.counts.items() if level in NEGATIVE)

    @property
    def satisfied_rate(self) -> float | None:
        return round((self.total - self.negative) / self.total, 4) if self.total else None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "counts": dict(self.counts), "total": self.total, "negative": self.negative,
                "satisfied_rate": self.satisfied_rate}


def satisfaction(s: Session, *, by: str, start: float | None = None, end: float | None = None,
                 period: str = "month", site: str = "", service_code: str = "", counted: bool = True) -> list[Row]:
    """Ratings per level grouped ``by`` item (service code), site or period (day/week/month/year, CST), for
    ratings made in [start, end); items and sites by name of their key, periods in time order.

    Without a site or item filter and over whole days (what the pages ask), from the daily counts
    (``central.daily_counts``, built first if they never were: that commits ``s``); else from ``ratings``."""
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}")
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    days = daily_counts.aligned_days(start, end) if counted and not (site or service_code) else None
    if days is not None:
        daily_counts.ensure_ratings(s)
        c = RATING_COUNTS.c
        group: Any = c.day if by == "period" else c.key
        stmt = (select(group, c.level, func.sum(c.n)).where(c.dim == ("site" if by == "site" else "item"),
                                                            *_days(c.day, days))
                .group_by(group, c.level))
    else:
        dialect = s.get_bind().dialect.name
        group = {"item": Rating.service_code, "site": Rating.site, "period": day_index(Rating.rated_at, dialect)}[by]
        stmt = select(group, Rating.level, func.count()).group_by(group, Rating.level)
        if start is not None:
            stmt = stmt.where(Rating.rated_at >= start)
        if end is not None:
            stmt = stmt.where(Rating.rated_at < end)
        if site:
            stmt = stmt.where(Rating.site == site)
        if service_code:
            stmt = stmt.where(Rating.service_code == service_code)
    rows: dict[str, Row] = {}
    for key, level, n in s.execute(stmt):
        if not n:
            continue
        name = period_key(key, period) if by == "period" else str(key or "")
        row = rows.setdefault(name, Row(name))
        if level in row.counts:
            row.counts[level] += int(n)
    return [rows[k] for k in sorted(rows)]


def total(rows: list[Row]) -> Row:
    out = Row("")
    for r in rows:
        for level, n in r.counts.items():
            out.counts[level] += n
    return out


def _days(column: Any, days: tuple[int | None, int | None]) -> list[Any]:
    lo, hi = days
    return [*([column >= lo] if lo is not None else []), *([column < hi] if hi is not None else [])]


def by_site_and_period(s: Session, *, start: float | None, end: float | None, period: str = "month",
                       counted: bool = True) -> dict[str, list[Row]]:
    """For the chart of each site's satisfied rate over time: site -> rows per period (from the daily counts
    over whole days, as :func:`satisfaction`)."""
    days = daily_counts.aligned_days(start, end) if counted else None
    if days is not None:
        daily_counts.ensure_ratings(s)
        c = RATING_COUNTS.c
        stmt = (select(c.key, c.day, c.level, func.sum(c.n)).where(c.dim == "site", *_days(c.day, days))
                .group_by(c.key, c.day, c.level))
    else:
        dialect = s.get_bind().dialect.name
        day = day_index(Rating.rated_at, dialect)
        stmt = select(Rating.site, day, Rating.level, func.count()).group_by(Rating.site, day, Rating.level)
        if start is not None:
            stmt = stmt.where(Rating.rated_at >= start)
        if end is not None:
            stmt = stmt.where(Rating.rated_at < end)
    out: dict[str, dict[str, Row]] = defaultdict(dict)
    for site_name, d, level, n in s.execute(stmt):
        if not n:
            continue
        key = period_key(d, period)
        row = out[site_name or ""].setdefault(key, Row(key))
        if level in row.counts:
            row.counts[level] += int(n)
    return {name: [rows[k] for k in sorted(rows)] for name, rows in sorted(out.items())}


def recent(s: Session, *, limit: int = 50, start: float | None = None, end: float | None = None, site: str = "",
           service_code: str = "") -> list[dict[str, Any]]:
    """The newest ratings, each with the id of the application it rates (by receipt number) when it is stored."""
    from central.models import Submission

    stmt = (select(Rating, Submission.id).outerjoin(Submission, and_(Rating.receipt_no != "",
                                                                      Submission.receipt_no == Rating.receipt_no))
            .order_by(Rating.rated_at.desc()).limit(max(1, min(limit, 500))))
    if start is not None:
        stmt = stmt.where(Rating.rated_at >= start)
    if end is not None:
        stmt = stmt.where(Rating.rated_at < end)
    if site:
        stmt = stmt.where(Rating.site == site)
    if service_code:
        stmt = stmt.where(Rating.service_code == service_code)
    return [{"event_id": r.event_id, "site": r.site, "service_code": r.service_code, "receipt_no": r.receipt_no,
             "level": r.level, "negative": r.negative, "rated_at": r.rated_at, "submission_id": sub_id}
            for r, sub_id in s.execute(stmt)]


def sites(s: Session) -> list[str]:
    return [x for x in s.scalars(select(Rating.site).distinct().order_by(Rating.site)) if x]
