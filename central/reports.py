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
import datetime as dt
import io
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from central import console_settings
from central.feedback_models import Rating, Ticket
from central.models import ApplicationStatus, Device, Submission
from central.satisfaction import BY, PERIODS, day_index, period_key
from central.workdays import Calendar

_EPOCH = dt.date(1970, 1, 1)

FINISHED = ("completed", "rejected")
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


def _day_number(d: dt.date) -> int:
    return (d - _EPOCH).days


def _working_day_number(day: ColumnElement[int], calendar: Calendar) -> ColumnElement[int]:
    """Working days from 1970-01-01 (a Thursday) up to and including ``day``: Monday to Friday, less the
    public holidays on weekdays, plus the make-up working days on weekends, before or on ``day``."""
    within = case({0: 1, 1: 2, 2: 2, 3: 2, 4: 3, 5: 4}, value=day % 7, else_=5)
    n: ColumnElement[int] = (day // 7) * 5 + within
    for h in sorted(calendar.holidays):
        if h.weekday() < 5:
            n = n - case((day >= _day_number(h), 1), else_=0)
    for w in sorted(calendar.workdays):
        if w.weekday() >= 5:
            n = n + case((day >= _day_number(w), 1), else_=0)
    return n


def _is_working_day(day: ColumnElement[int], calendar: Calendar) -> ColumnElement[bool]:
    weekday = (day % 7).not_in((2, 3))  # 1970-01-01 + 2: Saturday, + 3: Sunday
    holidays = [_day_number(h) for h in calendar.holidays]
    workdays = [_day_number(w) for w in calendar.workdays]
    out = and_(weekday, day.not_in(holidays)) if holidays else weekday
    return or_(out, day.in_(workdays)) if workdays else out


def _in_range(column: Any, req: ReportRequest) -> list[Any]:
    out = []
    if req.start is not None:
        out.append(column >= req.start)
    if req.end is not None:
        out.append(column < req.end)
    return out


def _applications(s: Session, req: ReportRequest, limits: Mapping[str, int], default_limit: int,
                  calendar: Calendar, rows: dict[Any, ReportRow]) -> None:
    dialect = s.get_bind().dialect.name
    received = day_index(Submission.received_at, dialect)
    finished_day = day_index(ApplicationStatus.updated_at, dialect)
    limit = case(dict(limits), value=Submission.service_code, else_=default_limit) if limits else default_limit
    spent = _working_day_number(finished_day, calendar) - _working_day_number(received, calendar)
    on_time = and_(Submission.app_status.in_(FINISHED),
                   or_(spent < limit, and_(spent == limit, _is_working_day(finished_day, calendar))))
    finished = Submission.app_status.in_(FINISHED)
    overdue = and_(Submission.due_at.is_not(None), Submission.due_at < req.now, Submission.app_status.not_in(FINISHED))
    group: Any = {"item": Submission.service_code, "site": func.coalesce(Device.site, ""), "period": received}[req.by]
    stmt = (select(group, func.count(), func.sum(case((finished, 1), else_=0)),
                   func.sum(case((on_time, 1), else_=0)), func.sum(case((overdue, 1), else_=0)))
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


def _ratings(s: Session, req: ReportRequest, rows: dict[Any, ReportRow]) -> None:
    dialect = s.get_bind().dialect.name
    group: Any = {"item": Rating.service_code, "site": Rating.site,
                  "period": day_index(Rating.rated_at, dialect)}[req.by]
    stmt = (select(group, func.count(), func.sum(case((Rating.negative, 1), else_=0)))
            .where(*_in_range(Rating.rated_at, req)).group_by(group))
    for key, n, bad in s.execute(stmt):
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
           calendar: Calendar | None = None) -> list[ReportRow]:
    """The report's rows in key order (periods in time order), a period's rows summed from its days.

    ``limits``: 承诺时限 in working days per service code (the catalogue's), ``default_limit`` for the rest;
    ``name_of``: an item's name for its code (the catalogue's, in the reader's language); ``calendar``: the
    office calendar (default: the one an admin keeps, ``central.console_settings``)."""
    if calendar is None:
        calendar = console_settings.calendar(console_settings.get_all(s))
    raw: dict[Any, ReportRow] = {}
    _applications(s, req, limits or {}, default_limit, calendar, raw)
    _ratings(s, req, raw)
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
