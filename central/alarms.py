"""Opening and closing a kiosk's alarm inside the caller's transaction: what ingest, enrolment, sequences and
the fleet checks share (the fleet view and the operators' actions on alarms are ``central.fleet``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.fleet_models import Alarm


def alarm_severity(value: Any) -> str:
    return value if value in ("info", "warning", "critical") else "warning"


def open_alarm(s: Session, device_id: str, code: str, severity: str, detail: str, now: float) -> bool:
    """Open ``code`` for ``device_id`` inside the caller's transaction unless it is open already (its detail
    is then brought up to date). True if a new alarm was opened."""
    current = s.scalar(select(Alarm).where(Alarm.device_id == device_id, Alarm.code == code,
                                           Alarm.cleared_at.is_(None)).limit(1))
    if current is not None:
        current.detail = detail[:256]
        return False
    s.add(Alarm(device_id=device_id[:64], code=code, severity=alarm_severity(severity), detail=detail[:256],
                source="central", raised_at=now))
    return True


def close_alarm(s: Session, device_id: str, code: str, now: float, by: str = "central") -> bool:
    """Clear the open ``code`` alarm of ``device_id`` inside the caller's transaction; True if one was open."""
    current = s.scalar(select(Alarm).where(Alarm.device_id == device_id, Alarm.code == code,
                                           Alarm.cleared_at.is_(None)).limit(1))
    if current is None:
        return False
    current.cleared_at = now
    current.cleared_by = by
    return True


# Kiosk alarms a person is waiting on: opened as their event is stored (``central.store``), so the console's live
# stream shows them within its next tick, not at the evaluator's next round (every 5 s). The evaluator
# (``central.fleet.evaluate_alarms``) still owns every other kiosk alarm, and finds these already open.
LIVE_CODES = frozenset({"staff_call"})


def open_live_alarm(s: Session, device_id: str, meta: dict[str, Any], event_id: str, now: float) -> bool:
    """Open the kiosk alarm of an ``alarm`` event whose code is in ``LIVE_CODES`` inside the caller's
    transaction, as the evaluator would (source ``kiosk``, tied to its event), unless one is open already or an
    admin switched the code off; a call while one is open joins it. A concurrent evaluator opening it first is no
    error (a savepoint). True if opened here."""
    from sqlalchemy.exc import IntegrityError

    from central import alarm_rules

    code = meta.get("code")
    if code not in LIVE_CODES or not alarm_rules.enabled(alarm_rules.rules(s), code):
        return False
    current = s.scalar(select(Alarm).where(Alarm.device_id == device_id, Alarm.code == code,
                                           Alarm.cleared_at.is_(None)).limit(1))
    if current is not None:  # the resident called again while the call is open: the same call, now this event,
        current.source_event = event_id  # so clearing it answers both (the evaluator does not reopen it)
        current.detail = str(meta.get("detail") or "")[:256]
        return False
    try:
        with s.begin_nested():
            s.add(Alarm(device_id=device_id[:64], code=code, severity=alarm_severity(meta.get("severity")),
                        detail=str(meta.get("detail") or "")[:256], source="kiosk", source_event=event_id,
                        raised_at=now))
    except IntegrityError:
        return False
    return True


ACK_NOTE_MAX = 500


def acknowledge(s: Session, alarm_id: int, by: str, note: str, now: float) -> Alarm | None:
    """An operator acknowledges an open alarm with a note (what is being done) inside the caller's
    transaction; the alarm stays open until its condition passes or it is cleared. None if it is not open.
    ValueError for an empty or too long note. Acknowledging again replaces the note."""
    note = " ".join(note.split())
    if not note:
        raise ValueError("an acknowledgement needs a note")
    if len(note) > ACK_NOTE_MAX:
        raise ValueError(f"the note is longer than {ACK_NOTE_MAX} characters")
    a = s.get(Alarm, alarm_id)
    if a is None or a.cleared_at is not None:
        return None
    a.acked_at, a.acked_by, a.ack_note = now, by[:64], note
    return a
