"""Working days for deadlines (差评整改 within N working days): weekends skipped, plus the public holidays and
the make-up working days (调休) an admin enters each year from the State Council's announcement.

Days are calendar days in the office's time zone, China Standard Time (as ``central.applications.workdays``,
whose 承诺时限 count weekdays only)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

CST = dt.timezone(dt.timedelta(hours=8))


@dataclass(frozen=True)
class Calendar:
    holidays: frozenset[dt.date] = field(default_factory=frozenset)  # days off on a weekday
    workdays: frozenset[dt.date] = field(default_factory=frozenset)  # weekend days worked (调休上班)

    @classmethod
    def of(cls, holidays: Iterable[str] = (), workdays: Iterable[str] = ()) -> Calendar:
        """From ISO dates (``2026-10-01``); raises ValueError naming a date that is not one."""
        return cls(frozenset(parse_day(d) for d in holidays), frozenset(parse_day(d) for d in workdays))

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5


def parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(f"{str(text)[:40]!r} is not a date (YYYY-MM-DD)") from None


def deadline(start: float, working_days: int, calendar: Calendar) -> float:
    """The end (23:59:59 CST) of the ``working_days``-th working day after the day of ``start`` (the day
    something arrives does not count)."""
    if working_days < 1:
        raise ValueError("working_days must be at least 1")
    day = local_date(start)
    left = working_days
    while left:
        day += dt.timedelta(days=1)
        if calendar.is_working_day(day):
            left -= 1
    return dt.datetime.combine(day, dt.time(23, 59, 59), CST).timestamp()


def local_date(ts: float) -> dt.date:
    return dt.datetime.fromtimestamp(ts, CST).date()


def working_days_left(now: float, due: float, calendar: Calendar) -> int:
    """Working days from today until the deadline's day, counting that day (0: due today or overdue)."""
    today, last = local_date(now), local_date(due)
    n = 0
    day = today + dt.timedelta(days=1)
    while day <= last:
        n += calendar.is_working_day(day)
        day += dt.timedelta(days=1)
    return n
