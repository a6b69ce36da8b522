"""The alarm rules an admin sets on the dashboard: for each alarm code, whether it is raised at all, its
threshold (for the conditions the central evaluates) and whether it is notified by e-mail and webhook.

``CATALOGUE`` lists the codes an admin can set, with their unit and default. A code without a row in
``alarm_rules`` uses its defaults: raised, notified as listed, and the threshold the server was started with
(:class:`central.fleet.Thresholds`). ``thresholds`` turns the
rules into the evaluator's thresholds; ``enabled``/``notified`` say whether a code is raised/notified.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.alerting_models import AlarmRule

if TYPE_CHECKING:
    from central.fleet import Thresholds

MIB = 1024 * 1024


@dataclass(frozen=True)
class RuleSpec:
    code: str
    unit: str | None  # "min", "msgs", "MiB", or None: raised as it comes, no threshold
    default: float | None
    low: float = 1
    high: float = 100000
    notify: bool = False  # default
    field: str | None = None  # the Thresholds field it sets
    scale: float = 1.0  # threshold x scale = the Thresholds value


CATALOGUE: tuple[RuleSpec, ...] = (
    RuleSpec("offline", "min", 5, 1, 1440, True, "offline_alarm_s", 60.0),  # no heartbeat for N min
    RuleSpec("oldest_pending", "min", 60, 1, 10080, True, "oldest_pending_s", 60.0),  # oldest undelivered
    RuleSpec("queue_growing", "msgs", 20, 1, 100000, False, "queue_growth", 1.0),
    RuleSpec("disk_low", "MiB", 512, 16, 1048576, True, "disk_free_min", MIB),
    RuleSpec("driver_unhealthy", None, None, notify=True),
    RuleSpec("printer_paper_out", None, None, notify=True),
    RuleSpec("printer_paper_low", None, None),
    RuleSpec("staff_call", None, None),  # shown live on the dashboard; e-mail is too slow to be the way
    RuleSpec("submissions_refused", None, None, notify=True),
    RuleSpec("db_quarantined", None, None, notify=True),
    RuleSpec("disk_full", None, None, notify=True),
)
BY_CODE = {r.code: r for r in CATALOGUE}


@dataclass(frozen=True)
class Rule:
    code: str
    enabled: bool
    threshold: float | None
    notify: bool
    unit: str | None
    custom: bool = False  # an admin set it (else the threshold is the server's)


def rules(s: Session) -> dict[str, Rule]:
    """Every catalogued code's rule: the admin's row, or the defaults."""
    rows = {r.code: r for r in s.scalars(select(AlarmRule))}
    out = {}
    for spec in CATALOGUE:
        row = rows.get(spec.code)
        if row is None:
            out[spec.code] = Rule(spec.code, True, spec.default, spec.notify, spec.unit)
        else:
            threshold = row.threshold if spec.unit is not None and row.threshold is not None else spec.default
            out[spec.code] = Rule(spec.code, row.enabled, threshold, row.notify, spec.unit, custom=True)
    return out


def check(code: str, enabled: Any, threshold: Any, notify: Any) -> tuple[bool, float | None, bool]:
    """The values to store for ``code``, or ValueError saying what is wrong."""
    spec = BY_CODE.get(code)
    if spec is None:
        raise ValueError(f"unknown alarm code {code!r}")
    value: float | None = None
    if spec.unit is not None:
        try:
            value = float(threshold)
        except (TypeError, ValueError):
            raise ValueError(f"{code}: the threshold must be a number") from None
        if not spec.low <= value <= spec.high:
            raise ValueError(f"{code}: the threshold must be {spec.low:g}-{spec.high:g} {spec.unit}")
    return bool(enabled), value, bool(notify)


def put(s: Session, code: str, enabled: Any, threshold: Any, notify: Any, *, actor: str, now: float) -> Rule:
    on, value, tell = check(code, enabled, threshold, notify)
    s.merge(AlarmRule(code=code, enabled=on, threshold=value, notify=tell, updated_at=now, updated_by=actor[:64]))
    return Rule(code, on, value, tell, BY_CODE[code].unit, custom=True)


def thresholds(base: Thresholds, current: dict[str, Rule]) -> Thresholds:
    """``base`` with the thresholds the rules set."""
    changes: dict[str, Any] = {}
    for spec in CATALOGUE:
        rule = current.get(spec.code)
        if spec.field is None or rule is None or not rule.custom or rule.threshold is None:
            continue
        value = rule.threshold * spec.scale
        changes[spec.field] = int(value) if isinstance(getattr(base, spec.field), int) else value
    return dataclasses.replace(base, **changes)


def shown_threshold(base: Thresholds, rule: Rule) -> float | None:
    """The threshold in force for ``rule``, in its unit (the admin's, else the server's)."""
    spec = BY_CODE[rule.code]
    if spec.field is None:
        return None
    if rule.custom and rule.threshold is not None:
        return rule.threshold
    return round(float(getattr(base, spec.field)) / spec.scale, 2)


def enabled(current: dict[str, Rule], code: str) -> bool:
    """Whether ``code`` is raised: codes outside the catalogue (trust, sequence) always are."""
    rule = current.get(code)
    return rule is None or rule.enabled


def notified(current: dict[str, Rule], code: str) -> bool:
    rule = current.get(code)
    return rule is not None and rule.enabled and rule.notify
