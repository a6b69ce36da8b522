"""Working days (工作日) for application time limits, on the calendar an admin keeps (``central.workdays``:
weekends, public holidays and make-up working days from ``console_settings``), in the office's time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from central.workdays import CST, Calendar, local_date

WEEKDAYS = Calendar()


def end_of_day(d: date) -> float:
    """23:59:59 of ``d`` in the office's time zone, as a Unix time."""
    return datetime.combine(d, time(23, 59, 59), CST).timestamp()


def add_workdays(start: float, days: int, calendar: Calendar = WEEKDAYS) -> float:
    """The end of the ``days``-th working day after ``start`` (``0``: the end of that same day, 即办)."""
    d = local_date(start)
    n = max(0, int(days))
    while n > 0:
        d += timedelta(days=1)
        if calendar.is_working_day(d):
            n -= 1
    return end_of_day(d)


def workdays_before(now: float, days: int, calendar: Calendar = WEEKDAYS) -> float:
    """The start of the day ``days`` working days before today: something received before it has been waiting
    longer than ``days`` working days (the inverse of :func:`add_workdays`, for a filter)."""
    d = local_date(now)
    n = max(0, int(days))
    while n > 0:
        d -= timedelta(days=1)
        if calendar.is_working_day(d):
            n -= 1
    return datetime.combine(d, time(0, 0), CST).timestamp()


def parse_date(text: str) -> date:
    """A date as a browser's date field sends it (YYYY-MM-DD); ValueError otherwise."""
    return date.fromisoformat(text.strip())


__all__ = ["CST", "WEEKDAYS", "add_workdays", "end_of_day", "local_date", "parse_date", "workdays_before"]
