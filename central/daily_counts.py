"""Counts per day kept as applications arrive and move and as ratings arrive (issue 19), so that the statistics
and report pages answer a year from a few thousand rows instead of a grouped query over a million applications.

``application_daily_counts``: per day of receipt (China Standard Time), per dimension (``item``: the service
code; ``site``: the site of the kiosk that took it, as ``devices`` says now) and per *open due day*: received,
finished (办结 or 不予受理), finished on time (the item's 承诺时限 on the office calendar, as ``central.reports``
defines it). ``due_day`` is the CST day of ``due_at`` of an application not finished, ``-1`` for the rest, so
"overdue open at ``now``" is the applications whose due day is before today, read from the counts, plus those due
earlier today, read from ``submissions`` (a small range of its ``due_at`` index): the counts never go stale as
days pass.

``rating_daily_counts``: ratings per day rated, per dimension (``item``, ``site``), level and negative flag.

Who keeps them: the store's ingest (:func:`applications_added` in the batch's transaction), the state moves
(:func:`moving` around the change: the workflow, ``kiosk-central status``, a kiosk's site changing in its
status), the ratings (:func:`rating_added`). Each takes the ``daily_counts_state`` row of its table FOR SHARE
(PostgreSQL), a rebuild takes it FOR UPDATE, so an increment never lands between a rebuild's read and commit.

"Finished on time" depends on the office calendar and the catalogue's time limits: the rules the counts were
built with are stored in ``daily_counts_state``; a reader with other rules (an admin changed a holiday, the
catalogue changed a limit) rebuilds them first (:func:`ensure_applications`, what the first request after such a
change pays; ``kiosk-central report-counts`` does it ahead). Until the first build (``rules`` NULL), the writers
skip and the first reader builds."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from central.feedback_models import Rating
from central.models import ApplicationStatus, Device, Submission
from central.workdays import Calendar

FINISHED = ("completed", "rejected")
_CST_OFFSET_S = 8 * 3600
_EPOCH = dt.date(1970, 1, 1)
APPLICATIONS, RATINGS = "applications", "ratings"
NO_DUE = -1

_META = MetaData()
APP_COUNTS = Table(
    "application_daily_counts", _META,
    Column("dim", String(8), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("due_day", Integer, primary_key=True),
    Column("received", Integer, nullable=False),
    Column("finished", Integer, nullable=False),
    Column("on_time", Integer, nullable=False),
)
RATING_COUNTS = Table(
    "rating_daily_counts", _META,
    Column("dim", String(8), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("level", String(24), primary_key=True),
    Column("negative", Boolean, primary_key=True),
    Column("n", Integer, nullable=False),
)
STATE = Table(
    "daily_counts_state", _META,
    Column("name", String(32), primary_key=True),
    Column("rules", Text, nullable=True),  # NULL: not built yet
)


def day_index(column: Any, dialect: str) -> ColumnElement[int]:
    """Days since 1970-01-01 in China Standard Time of an epoch-seconds column, in SQL (SQLite or PostgreSQL)."""
    shifted = (column + _CST_OFFSET_S) / 86400
    if dialect == "postgresql":
        return cast(func.floor(shifted), Integer)
    return cast(shifted, Integer)  # SQLite truncates toward zero: the same for times after 1970


def day_of(t: float) -> int:
    """:func:`day_index` of one time, in Python: the same rounded addition and division, then the floor (``//``
    on floats would floor the exact quotient and could differ from the database a fraction of a microsecond
    before midnight)."""
    return math.floor((t + _CST_OFFSET_S) / 86400)


def day_start(day: int) -> float:
    return day * 86400.0 - _CST_OFFSET_S


def aligned_days(start: float | None, end: float | None) -> tuple[int | None, int | None] | None:
    """[start, end) as day numbers when both fall on CST midnights (what the pages ask), else None."""
    out: list[int | None] = []
    for t in (start, end):
        if t is None:
            out.append(None)
            continue
        d = day_of(t)
        if day_start(d) != t:
            return None
        out.append(d)
    return out[0], out[1]


def _day_number(d: dt.date) -> int:
    return (d - _EPOCH).days


def working_day_number(day: ColumnElement[int], calendar: Calendar) -> ColumnElement[int]:
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


def is_working_day(day: ColumnElement[int], calendar: Calendar) -> ColumnElement[bool]:
    weekday = (day % 7).not_in((2, 3))  # 1970-01-01 + 2: Saturday, + 3: Sunday
    holidays = [_day_number(h) for h in calendar.holidays]
    workdays = [_day_number(w) for w in calendar.workdays]
    out = and_(weekday, day.not_in(holidays)) if holidays else weekday
    return or_(out, day.in_(workdays)) if workdays else out


@dataclass(frozen=True)
class Rules:
    """What "finished on time" is counted against: 承诺时限 per item code, the default, the office calendar."""

    limits: tuple[tuple[str, int], ...]
    default_limit: int
    calendar: Calendar

    @classmethod
    def of(cls, limits: Mapping[str, int] | None, default_limit: int, calendar: Calendar) -> Rules:
        return cls(tuple(sorted((str(k), int(v)) for k, v in (limits or {}).items())), int(default_limit), calendar)

    def to_json(self) -> str:
        return json.dumps({"limits": dict(self.limits), "default": self.default_limit,
                           "holidays": sorted(d.isoformat() for d in self.calendar.holidays),
                           "workdays": sorted(d.isoformat() for d in self.calendar.workdays)},
                          sort_keys=True, ensure_ascii=False)

    @staticmethod
    @lru_cache(maxsize=8)
    def from_json(text: str) -> Rules:
        data = json.loads(text)
        return Rules.of(data["limits"], data["default"], Calendar.of(data["holidays"], data["workdays"]))


def application_columns(dialect: str, rules: Rules) -> dict[str, ColumnElement[Any]]:
    """Per application (``submissions`` outer-joined to ``application_status``): its day of receipt, open due
    day, and 1/0 for finished and finished on time, exactly as ``central.reports`` counts them."""
    received = day_index(Submission.received_at, dialect)
    finished_day = day_index(ApplicationStatus.updated_at, dialect)
    limits = dict(rules.limits)
    limit: Any = (case(limits, value=Submission.service_code, else_=rules.default_limit) if limits
                  else rules.default_limit)
    spent = working_day_number(finished_day, rules.calendar) - working_day_number(received, rules.calendar)
    finished = Submission.app_status.in_(FINISHED)
    on_time = and_(finished, or_(spent < limit, and_(spent == limit, is_working_day(finished_day, rules.calendar))))
    open_due = and_(Submission.due_at.is_not(None), Submission.app_status.not_in(FINISHED))
    return {"day": received,
            "due_day": case((open_due, day_index(Submission.due_at, dialect)), else_=NO_DUE),
            "finished": case((finished, 1), else_=0),
            "on_time": case((on_time, 1), else_=0)}


def site_key() -> ColumnElement[str]:
    return func.coalesce(Device.site, "")


# -- the state row ------------------------------------------------------------------------------------------

def _rules_locked(s: Session, name: str, *, exclusive: bool = False) -> str | None:
    """The rules the ``name`` counts were built with (None: not built), with the row locked (PostgreSQL)."""
    stmt = select(STATE.c.rules).where(STATE.c.name == name).with_for_update(read=not exclusive)
    return s.execute(stmt).scalar_one_or_none()


def _set_rules(s: Session, name: str, rules: str | None) -> None:
    if s.execute(update(STATE).where(STATE.c.name == name).values(rules=rules)).rowcount == 0:  # type: ignore[attr-defined]
        s.execute(STATE.insert().values(name=name, rules=rules))


# -- increments ---------------------------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _upsert_statement(dialect: str, table: Table, keys: tuple[str, ...], values: tuple[str, ...]) -> Any:
    ins: Any = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return ins.on_conflict_do_update(index_elements=list(keys),
                                     set_={v: table.c[v] + getattr(ins.excluded, v) for v in values})


def _upsert(s: Session, table: Table, keys: Sequence[str], rows: list[dict[str, Any]], values: Sequence[str]) -> None:
    if not rows:
        return
    s.execute(_upsert_statement(s.get_bind().dialect.name, table, tuple(keys), tuple(values)), rows)


_APP_KEYS = ("dim", "day", "key", "due_day")
_APP_VALUES = ("received", "finished", "on_time")


def _tally_statement(dialect: str, rules: Rules, where: ColumnElement[bool]) -> Select[Any]:
    col = application_columns(dialect, rules)
    return (select(col["day"], Submission.service_code, site_key(), col["due_day"], col["finished"], col["on_time"])
            .select_from(Submission)
            .outerjoin(ApplicationStatus, ApplicationStatus.submission_id == Submission.id)
            .outerjoin(Device, Device.device_id == Submission.device_id).where(where))


@lru_cache(maxsize=8)
def _added_tally_statement(dialect: str, rules: Rules) -> Select[Any]:
    """:func:`_tally_statement` of the applications with the ids bound as ``ids``, built once per rules: the
    statement is the same every batch, and building it (and its cache key) cost more than running it."""
    return _tally_statement(dialect, rules, Submission.id.in_(bindparam("ids", expanding=True)))


def _application_tally(s: Session, rules: Rules, where: ColumnElement[bool]) -> Counter[tuple[Any, ...]]:
    """(dim, day, key, due_day, what) -> count, for the applications ``where`` selects, as they are now."""
    return _tally(s.execute(_tally_statement(s.get_bind().dialect.name, rules, where)))


def _tally(result: Iterable[Any]) -> Counter[tuple[Any, ...]]:
    out: Counter[tuple[Any, ...]] = Counter()
    for day, code, site, due_day, done, in_time in result:
        for dim, key in (("item", code or ""), ("site", site or "")):
            base = (dim, int(day), key, int(due_day))
            out[(*base, "received")] += 1
            out[(*base, "finished")] += int(done)
            out[(*base, "on_time")] += int(in_time)
    return out


def _apply_application_delta(s: Session, delta: Counter[tuple[Any, ...]]) -> None:
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for (dim, day, key, due_day, what), n in delta.items():
        if n:
            row = rows.setdefault((dim, day, key, due_day), {"dim": dim, "day": day, "key": key, "due_day": due_day,
                                                             **dict.fromkeys(_APP_VALUES, 0)})
            row[what] += n
    # One order for every writer, so two transactions never wait for each other's rows crosswise.
    _upsert(s, APP_COUNTS, _APP_KEYS, [rows[k] for k in sorted(rows)], _APP_VALUES)


def applications_rules(s: Session) -> str | None:
    """The rules the application counts were built with (None: not built), the state row locked for the rest of
    the transaction (PostgreSQL; a SQLite write transaction holds the database): what :func:`applications_added`
    reads, for a caller that counts several times in one transaction to read once and pass as ``rules``. Not
    across a savepoint that may roll back (it would release the lock) nor past a rebuild in the same
    transaction."""
    return _rules_locked(s, APPLICATIONS)


_UNREAD: Any = object()


def applications_added(s: Session, ids: Iterable[str], *, rules: str | None = _UNREAD) -> None:
    """Count newly stored applications (call in the transaction that inserts them, after the insert); ``rules``:
    what :func:`applications_rules` returned earlier in this transaction (read here if not given)."""
    ids = list(ids)
    if not ids:
        return
    text = _rules_locked(s, APPLICATIONS) if rules is _UNREAD else rules
    if text is None:
        return
    s.flush()
    stmt = _added_tally_statement(s.get_bind().dialect.name, Rules.from_json(text))
    _apply_application_delta(s, _tally(s.execute(stmt, {"ids": ids})))


@contextmanager
def moving(s: Session, where: ColumnElement[bool]) -> Iterator[None]:
    """Around a change to the applications ``where`` selects (their status, due time, finish time, their kiosk's
    site): counts them out as they were and back in as they are, in the same transaction."""
    text = _rules_locked(s, APPLICATIONS)
    if text is None:
        yield
        return
    rules = Rules.from_json(text)
    before = _application_tally(s, rules, where)
    yield
    s.flush()
    after = _application_tally(s, rules, where)
    after.subtract(before)
    _apply_application_delta(s, after)


def rating_added(s: Session, *, site: str, service_code: str, level: str, negative: bool, rated_at: float) -> None:
    """Count one newly stored rating (same transaction)."""
    if _rules_locked(s, RATINGS) is None:
        return
    day = day_of(rated_at)
    rows = [{"dim": dim, "day": day, "key": key or "", "level": level, "negative": bool(negative), "n": 1}
            for dim, key in (("item", service_code), ("site", site))]
    _upsert(s, RATING_COUNTS, ("dim", "day", "key", "level", "negative"), rows, ("n",))


# -- builds -------------------------------------------------------------------------------------------------

def rebuild_applications(s: Session, rules: Rules) -> None:
    """Count every stored application again under ``rules`` (in the caller's transaction)."""
    _rules_locked(s, APPLICATIONS, exclusive=True)
    s.execute(delete(APP_COUNTS))
    col = application_columns(s.get_bind().dialect.name, rules)
    for dim in ("item", "site"):
        key: Any = Submission.service_code if dim == "item" else site_key()
        stmt = (select(literal(dim), col["day"], key, col["due_day"], func.count(), func.sum(col["finished"]),
                       func.sum(col["on_time"]))
                .select_from(Submission)
                .outerjoin(ApplicationStatus, ApplicationStatus.submission_id == Submission.id))
        if dim == "site":
            stmt = stmt.outerjoin(Device, Device.device_id == Submission.device_id)
        stmt = stmt.group_by(col["day"], key, col["due_day"])
        s.execute(APP_COUNTS.insert().from_select([*_APP_KEYS, *_APP_VALUES], stmt))
    _set_rules(s, APPLICATIONS, rules.to_json())


def rebuild_ratings(s: Session) -> None:
    _rules_locked(s, RATINGS, exclusive=True)
    s.execute(delete(RATING_COUNTS))
    day = day_index(Rating.rated_at, s.get_bind().dialect.name)
    for dim, column in (("item", Rating.service_code), ("site", Rating.site)):
        key = func.coalesce(column, "")  # one object in SELECT and GROUP BY: PostgreSQL matches their parameters
        stmt = (select(literal(dim), day, key, Rating.level, Rating.negative, func.count())
                .group_by(day, key, Rating.level, Rating.negative))
        s.execute(RATING_COUNTS.insert().from_select(["dim", "day", "key", "level", "negative", "n"], stmt))
    _set_rules(s, RATINGS, "{}")


def ensure_applications(s: Session, rules: Rules) -> None:
    """Make the application counts follow ``rules``: rebuilt (and committed) if they were built under others or
    never. Commits ``s`` when it rebuilds, so call it before anything else in the session."""
    want = rules.to_json()
    if s.execute(select(STATE.c.rules).where(STATE.c.name == APPLICATIONS)).scalar_one_or_none() == want:
        return
    if _rules_locked(s, APPLICATIONS, exclusive=True) != want:
        rebuild_applications(s, rules)
    s.commit()


def ensure_ratings(s: Session) -> None:
    """Build the rating counts if they never were (commits ``s`` then)."""
    if s.execute(select(STATE.c.rules).where(STATE.c.name == RATINGS)).scalar_one_or_none() is not None:
        return
    if _rules_locked(s, RATINGS, exclusive=True) is None:
        rebuild_ratings(s)
    s.commit()


def rebuild(s: Session, rules: Rules) -> dict[str, int]:
    """Both tables from the stored rows (after a bulk load, or to check them); commits. Rows written, by table."""
    rebuild_applications(s, rules)
    rebuild_ratings(s)
    s.commit()
    return {"application_daily_counts": int(s.scalar(select(func.count()).select_from(APP_COUNTS)) or 0),
            "rating_daily_counts": int(s.scalar(select(func.count()).select_from(RATING_COUNTS)) or 0)}


__all__ = ["APPLICATIONS", "APP_COUNTS", "FINISHED", "NO_DUE", "RATINGS", "RATING_COUNTS", "STATE", "Rules",
           "aligned_days", "application_columns", "applications_added", "applications_rules", "day_index", "day_of",
           "day_start", "ensure_applications", "ensure_ratings", "is_working_day", "moving", "rating_added", "rebuild",
           "rebuild_applications", "rebuild_ratings", "working_day_number"]
