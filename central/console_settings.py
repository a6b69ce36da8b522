"""Settings an admin changes on the dashboard (table ``console_settings``), each with its default and check."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.feedback_models import ConsoleSetting
from central.workdays import Calendar, parse_day

TICKET_DAYS = "ticket_deadline_working_days"
HOLIDAYS = "public_holidays"
WORKDAYS = "makeup_workdays"
DEFAULT_TICKET_DAYS = 15  # 差评整改: 15 working days (国务院办公厅 好差评 rules)
MAX_TICKET_DAYS = 60

DEFAULTS: dict[str, Any] = {TICKET_DAYS: DEFAULT_TICKET_DAYS, HOLIDAYS: [], WORKDAYS: []}


def check(key: str, value: Any) -> Any:
    """The value to store, or ValueError saying what is wrong."""
    if key == TICKET_DAYS:
        try:
            days = int(value)
        except (TypeError, ValueError):
            raise ValueError("the deadline must be a whole number of working days") from None
        if not 1 <= days <= MAX_TICKET_DAYS:
            raise ValueError(f"the deadline must be 1-{MAX_TICKET_DAYS} working days")
        return days
    if key in (HOLIDAYS, WORKDAYS):
        items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
        return sorted({parse_day(d).isoformat() for d in items})
    raise ValueError(f"unknown setting {key!r}")


def get_all(s: Session) -> dict[str, Any]:
    values = dict(DEFAULTS)
    for row in s.scalars(select(ConsoleSetting)):
        if row.key in values:
            with contextlib.suppress(ValueError):  # a row written by hand: the default stands
                values[row.key] = json.loads(row.value_json)
    return values


def put(s: Session, key: str, value: Any, *, actor: str, now: float) -> Any:
    value = check(key, value)
    s.merge(ConsoleSetting(key=key, value_json=json.dumps(value), updated_at=now, updated_by=actor))
    return value


def calendar(values: dict[str, Any]) -> Calendar:
    return Calendar.of(values.get(HOLIDAYS, ()), values.get(WORKDAYS, ()))
