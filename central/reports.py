"""The console's reports (issue 19): counts, time-limit compliance and satisfaction by item, site or period,
as rows for the page and as CSV or XLSX (openpyxl) for the district. Only counts and rates: no receipt
number, no name, no device id, nothing typed by a resident or an operator (tests/test_reports.py checks it).

Columns, for the applications received in the range (China Standard Time days):
- received, finished (办结 or 不予受理), finished on time: by the end of the item's 承诺时限 in working days after the
  day of receipt (the office calendar: weekends, public holidays, make-up days, as ``central.workdays``), computed
  in SQL from a working-day number so a year of a million applications is one grouped query;
- overdue open: not finished and past its due time (``submissions.due_at``, set by the application workflow);
- ratings made in the range: count, 不满意/非常不满意, 满意率; tickets opened in the range: count, closed, closed late.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from central import console_settings, daily_counts
from central.daily_counts import APP_COUNTS, FINISHED, NO_DUE, RATING_COUNTS, Rules, day_index
from central.feedback_models import Rating, Ticket
from central.models import ApplicationStatus, Device, Submission
from central.satisfaction import BY, PERIODS, period_key
from central.workdays import Calendar

DEFAULT_LIMIT_DAYS = 20
COLUMNS = ("key", "name", "received", "finished", "finished_on_time", "on_time_rate", "overdue_open", "ratings",
           "negative", "satisfied_rate", "tickets", "tickets_closed", "tickets_closed_late")
HEADERS = {
    "zh_CN": {"key": "代码", "name": "名称", "received": "接收量", "finished": "办结量", "finished_on_time": "按时办结",
              "on_time_rate": "按时办结率", "overdue_open": "超期未办结", "ratings": "评价数", "negative": "差评数",
              "satisfied_rate": "满意率", "tickets": "整改工单", "tickets_closed": "已办结工单",
              "tickets_closed_late": "超期办结工单"},
    "en": {"key": "Key", "name": "Name", "received": "Received", "finished": "Finished",
           "finished_on_time": "Finished on time", "on_time_rate": "On-time rate", "overdue_open": "Overdue, open",
           "ratings": "Ratings", "negative": "Negative", "satisfied_rate": "Satisfied rate", "tickets": "Tickets",
           "tickets_closed": "Tickets closed", "tickets_closed_late": "Tickets closed late"},
}
BY_TITLES = {"zh_CN": {"item": "按事项", "site": "按站点", "period": "按时段"},
             "en": {"item": "by item", "site": "by site", "period": "by period"}}


@dataclass
class ReportRow:
    key: str
    name: str = ""
    received: int = 0
    finished: int = 0
    finished_on_time: int = 0
    overdue_open: int = 0
    ratings: int = 0
    negative: int = 0
    tickets: int = 0
    tickets_closed: int = 0
    tickets_closed_late: int = 0

    @property
    def on_time_rate(self) -> float | None:
        return round(self.finished_on_time / self.finished, 4) if self.finished else None

    @property
    def satisfied_rate(self) -> float | None:
        return round((self.ratings - self.negative) / self.ratings, 4) if self.ratings else None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "on_time_rate": self.on_time_rate, "satisfied_rate": self.satisfied_rate}


@dataclass(frozen=True)
class ReportRequest:
    by: str
    start: float | None = None  # epoch seconds, inclusive
    end: float | None = None  # exclusive
    period: str = "month"
    now: float = 0.0  # for "overdue open"

    def __post_init__(self) -> None:
        if self.by not in BY:
            raise ValueError(f"by must be one of {', '.join(BY)}")
        if self.period not in PERIODS:
            raise ValueError(f"period must be one of {', '.join(PERIODS)}")


def _in_range(column: Any, req: ReportRequest) -> list[Any]:
    out = []
    if req.start is not None:
        out.append(column >= req.start)
    if req.end is not None:
        out.append(column < req.end)
    return out


def _applications(s: Session, req: ReportRequest, rules: Rules, rows: dict[Any, ReportRow]) -> None:
    """The direct aggregation over ``submissions`` (what the daily counts must equal; used for a range that does
    not fall on day boundaries)."""
    dialect = s.get_bind().dialect.name
    col = daily_counts.application_columns(dialect, rules)
    overdue = and_(Submission.due_at.is_not(None), Submission.due_at < req.now, Submission.app_status.not_in(FINISHED))
    group: Any = {"item": Submission.service_code, "site": func.coalesce(Device.site, ""), "period": col["day"]}[req.by]
    stmt = (select(group, func.count(), func.sum(col["finished"]), func.sum(col["on_time"]),
                   func.sum(case((overdue, 1), else_=0)))
            .select_from(Submission)
            .outerjoin(ApplicationStatus, ApplicationStatus.submission_id == Submission.id)
            .where(*_in_range(Submission.received_at, req)).group_by(group))
    if req.by == "site":
        stmt = stmt.outerjoin(Device, Device.device_id == Submission.device_id)
    for key, n, done, in_time, late in s.execute(stmt):
        row = rows.setdefault(key, ReportRow(str(key)))
        row.received += int(n)
        row.finished += int(done or 0)
        row.finished_on_time += int(in_time or 0)
        row.overdue_open += int(late or 0)


def _day_range(column: Any, days: tuple[int | None, int | None]) -> list[Any]:
    lo, hi = days
    return [c for c in ((column >= lo) if lo is not None else None, (column < hi) if hi is not None else None)
            if c is not None]


def _applications_counted(s: Session, req: ReportRequest, days: tuple[int | None, int | None],
                          rows: dict[Any, ReportRow]) -> None:
    """The same figures from ``application_daily_counts``: overdue = open and due on a day before today (from the
    counts) or earlier today (from ``submissions``: the applications due between today's 00:00 and ``now``)."""
    c = APP_COUNTS.c
    today = daily_counts.day_of(req.now)
    late = case((and_(c.due_day != NO_DUE, c.due_day < today), c.received), else_=0)
    group: Any = c.day if req.by == "period" else c.key
    dim = "site" if req.by == "site" else "item"
    stmt = (select(group, func.sum(c.received), func.sum(c.finished), func.sum(c.on_time), func.sum(late))
            .where(c.dim == dim, *_day_range(c.day, days)).group_by(group))
    for key, n, done, in_time, overdue in s.execute(stmt):
        if not (n or done or in_time or overdue):
            continue  # every application once counted here has moved away (a kiosk's site changed)
        row = rows.setdefault(key, ReportRow(str(key)))
        row.received += int(n or 0)
        row.finished += int(done or 0)
        row.finished_on_time += int(in_time or 0)
        row.overdue_open += int(overdue or 0)
    since = daily_counts.day_start(today)
    if req.now <= since:
        return
    dialect = s.get_bind().dialect.name
    key_col: Any = {"item": Submission.service_code, "site": func.coalesce(Device.site, ""),
                    "period": day_index(Submission.received_at, dialect)}[req.by]
    today_stmt = (select(key_col, func.count()).select_from(Submission)
                  .where(Submission.due_at >= since, Submission.due_at < req.now,
                         Submission.app_status.not_in(FINISHED), *_in_range(Submission.received_at, req))
                  .group_by(key_col))
    if req.by == "site":
        today_stmt = today_stmt.outerjoin(Device, Device.device_id == Submission.device_id)
    for key, n in s.execute(today_stmt):
        rows.setdefault(key, ReportRow(str(key))).overdue_open += int(n)


def _ratings(s: Session, req: ReportRequest, days: tuple[int | None, int | None] | None,
             rows: dict[Any, ReportRow]) -> None:
    if days is not None:
        c = RATING_COUNTS.c
        group: Any = c.day if req.by == "period" else c.key
        stmt = (select(group, func.sum(c.n), func.sum(case((c.negative.is_(True), c.n), else_=0)))
                .where(c.dim == ("site" if req.by == "site" else "item"), *_day_range(c.day, days))
                .group_by(group))
    else:
        dialect = s.get_bind().dialect.name
        group = {"item": Rating.service_code, "site": Rating.site,
                 "period": day_index(Rating.rated_at, dialect)}[req.by]
        stmt = (select(group, func.count(), func.sum(case((Rating.negative, 1), else_=0)))
                .where(*_in_range(Rating.rated_at, req)).group_by(group))
    for key, n, bad in s.execute(stmt):
        if not n:
            continue
        row = rows.setdefault(key, ReportRow(str(key)))
        row.ratings += int(n)
        row.negative += int(bad or 0)


def _tickets(s: Session, req: ReportRequest, rows: dict[Any, ReportRow]) -> None:
    dialect = s.get_bind().dialect.name
    group: Any = {"item": Ticket.service_code, "site": Ticket.site,
                  "period": day_index(Ticket.opened_at, dialect)}[req.by]
    closed = Ticket.state == "closed"
    stmt = (select(group, func.count(), func.sum(case((closed, 1), else_=0)),
                   func.sum(case((and_(closed, Ticket.closed_at > Ticket.deadline_at), 1), else_=0)))
            .where(*_in_range(Ticket.opened_at, req)).group_by(group))
    for key, n, done, late in s.execute(stmt):
        row = rows.setdefault(key, ReportRow(str(key)))
        row.tickets += int(n)
        row.tickets_closed += int(done or 0)
        row.tickets_closed_late += int(late or 0)


def report(s: Session, req: ReportRequest, *, limits: Mapping[str, int] | None = None,
           default_limit: int = DEFAULT_LIMIT_DAYS, name_of: Callable[[str], str] | None = None,
           calendar: Calendar | None = None, counted: bool = True) -> list[ReportRow]:
    """The report's rows in key order (periods in time order), a period's rows summed from its days.

    ``limits``: 承诺时限 in working days per service code (the catalogue's), ``default_limit`` for the rest;
    ``name_of``: an item's name for its code (the catalogue's, in the reader's language); ``calendar``: the
    office calendar (default: the one an admin keeps, ``central.console_settings``).

    Applications and ratings are read from the daily counts (``central.daily_counts``; built or rebuilt first if
    they were never built or were built under other rules: that commits ``s``) when the range falls on CST day
    boundaries, as every page's does; ``counted=False``, or another range, counts the stored rows directly."""
    days = daily_counts.aligned_days(req.start, req.end) if counted else None
    if days is not None:  # before anything else in the session: a (re)build commits it
        daily_counts.ensure_ratings(s)
    if calendar is None:
        calendar = console_settings.calendar(console_settings.get_all(s))
    rules = Rules.of(limits, default_limit, calendar)
    raw: dict[Any, ReportRow] = {}
    if days is not None:
        daily_counts.ensure_applications(s, rules)
        _applications_counted(s, req, days, raw)
    else:
        _applications(s, req, rules, raw)
    _ratings(s, req, days, raw)
    _tickets(s, req, raw)
    if req.by != "period":
        rows = raw
    else:
        rows = {}
        for day, r in raw.items():
            key = period_key(int(day), req.period)
            into = rows.setdefault(key, ReportRow(key))
            for f in ("received", "finished", "finished_on_time", "overdue_open", "ratings", "negative", "tickets",
                      "tickets_closed", "tickets_closed_late"):
                setattr(into, f, getattr(into, f) + getattr(r, f))
    out = [rows[k] for k in sorted(rows, key=str)]
    for r in out:
        r.key = str(r.key)
        r.name = name_of(r.key) if (name_of and req.by == "item") else r.key
    return out


def totals(rows: list[ReportRow], label: str) -> ReportRow:
    out = ReportRow("", label)
    for r in rows:
        for f in ("received", "finished", "finished_on_time", "overdue_open", "ratings", "negative", "tickets",
                  "tickets_closed", "tickets_closed_late"):
            setattr(out, f, getattr(out, f) + getattr(r, f))
    return out


def _cells(row: ReportRow) -> list[Any]:
    data = row.to_json()
    return [_inert(data[c]) for c in COLUMNS]


def _inert(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first: a site or item name as
    someone typed it) gets a leading apostrophe, so Excel and openpyxl keep it as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(rows: list[ReportRow], lang: str = "zh_CN", total_label: str = "合计") -> bytes:
    """UTF-8 with a byte-order mark, so that Excel on a Chinese Windows opens it with the right characters."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([HEADERS[_lang(lang)][c] for c in COLUMNS])
    for r in [*rows, totals(rows, total_label)]:
        w.writerow(["" if v is None else v for v in _cells(r)])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(rows: list[ReportRow], *, title: str, lang: str = "zh_CN", total_label: str = "合计") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook(write_only=False)
    ws = wb.active
    assert ws is not None
    ws.title = title[:31]
    ws.append([HEADERS[_lang(lang)][c] for c in COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in [*rows, totals(rows, total_label)]:
        ws.append(_cells(r))
    for col in ("F", "J"):  # the rates
        for cell in ws[col][1:]:
            cell.number_format = "0.0%"
    ws.freeze_panes = "C2"
    ws.column_dimensions["B"].width = 28
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _lang(lang: str) -> str:
    return lang if lang in HEADERS else "zh_CN"


def export(s: Session, req: ReportRequest, fmt: str, *, lang: str = "zh_CN", limits: Mapping[str, int] | None = None,
           name_of: Callable[[str], str] | None = None, calendar: Calendar | None = None) -> bytes:
    """One report as ``csv`` or ``xlsx`` bytes (what the dashboard's export links send, and what the console
    benchmark times)."""
    return export_rows(report(s, req, limits=limits, name_of=name_of, calendar=calendar), req.by, fmt, lang=lang)


def export_rows(rows: list[ReportRow], by: str, fmt: str, *, lang: str = "zh_CN") -> bytes:
    label = "合计" if _lang(lang) == "zh_CN" else "Total"
    if fmt == "csv":
        return to_csv(rows, lang, label)
    if fmt == "xlsx":
        return to_xlsx(rows, title=BY_TITLES[_lang(lang)][by], lang=lang, total_label=label)
    raise ValueError("format must be csv or xlsx")
