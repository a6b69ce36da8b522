"""Read-only queries behind the dashboard's pages (events, a submission's full view, enrolment tokens); the
好差评 statistics are ``central.satisfaction``."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from central.enrolment import list_tokens
from central.models import Event, Submission
from central.store import CentralStore

# Keys under which a kiosk's command-result event may name the command it answers.
_COMMAND_REF_KEYS = ("command_id", "cmd_id", "command", "ref", "in_reply_to", "id")


def _sessions(store: CentralStore) -> sessionmaker[Session]:
    return sessionmaker(store.engine, expire_on_commit=False)


def _meta(e: Event) -> dict[str, Any]:
    try:
        meta = json.loads(e.meta_json)
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def recent_events(store: CentralStore, limit: int = 200, device_id: str | None = None,
                  event_type: str | None = None) -> list[dict[str, Any]]:
    """Newest first; only the clear ``meta`` (the sealed private part is never shown here)."""
    stmt = select(Event).order_by(Event.received_at.desc(), Event.seq.desc()).limit(limit)
    if device_id:
        stmt = stmt.where(Event.device_id == device_id)
    if event_type:
        stmt = stmt.where(Event.type == event_type)
    with _sessions(store)() as s:
        return [{"id": e.id, "device_id": e.device_id, "type": e.type, "seq": e.seq, "created_at": e.created_at,
                 "received_at": e.received_at, "meta": _meta(e)} for e in s.scalars(stmt)]


def command_results(store: CentralStore, device_id: str, command_ids: list[str]) -> dict[str, dict[str, Any]]:
    """For each sent command id, the kiosk's event that answers it (if it arrived)."""
    wanted = set(command_ids)
    found: dict[str, dict[str, Any]] = {}
    if not wanted:
        return found
    for ev in recent_events(store, 500, device_id=device_id):
        if ev["type"] in ("rating", "complaint", "alarm", "alarm_cleared"):
            continue
        for key in _COMMAND_REF_KEYS:
            ref = ev["meta"].get(key)
            if isinstance(ref, str) and ref in wanted and ref not in found:
                found[ref] = ev
                break
    return found


def submission_full(store: CentralStore, submission_id: str) -> dict[str, Any] | None:
    """A submission with its personal data unmasked: only for admins, and only after an audit entry.

    One of the two places that decrypt the fields (``central.field_encryption``; the other is the
    back office's status hand-off): raises ``FieldKeyError`` when the master key is not at hand."""
    with _sessions(store)() as s:
        r = s.get(Submission, submission_id)
        if r is None:
            return None
        return {"id": r.id, "device_id": r.device_id, "seq": r.seq, "service_code": r.service_code,
                "receipt_no": r.receipt_no, "created_at": r.created_at, "received_at": r.received_at,
                "complete": r.complete, "fields": store.fields.submission_fields(r)}


def enrolment_tokens(store: CentralStore) -> list[dict[str, Any]]:
    """The enrolment tokens, for the dashboard's enrolment page."""
    return [dict(r) for r in list_tokens(store)]


def receipt_of(store: CentralStore, submission_id: str) -> str | None:
    """The receipt number of one stored submission (for the status form of the submissions page)."""
    with store.session() as s:
        row = s.get(Submission, submission_id)
        return row.receipt_no if row is not None else None
