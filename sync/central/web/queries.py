"""Read-only queries behind the dashboard's pages (events, ratings, a submission's full view)."""

from __future__ import annotations

import importlib
import json
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sync.central.models import Device, Event, Submission
from sync.central.store import CentralStore
from sync.central.web.i18n import NEGATIVE_LEVELS, RATING_LEVELS

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


def ratings_summary(store: CentralStore) -> dict[str, Any]:
    """好差评 counted by site and by service item, from ``rating`` events (meta ``level``, ``service_code``)."""
    with _sessions(store)() as s:
        sites = {device_id: site for device_id, site in s.execute(select(Device.device_id, Device.site))}
        events = s.scalars(select(Event).where(Event.type == "rating")).all()
        metas = [(e.device_id, _meta(e)) for e in events]

    def empty() -> dict[str, int]:
        return dict.fromkeys(RATING_LEVELS, 0)

    by_site: dict[str, dict[str, int]] = defaultdict(empty)
    by_service: dict[str, dict[str, int]] = defaultdict(empty)
    total = empty()
    for device_id, meta in metas:
        level = meta.get("level")
        if level not in RATING_LEVELS:
            continue
        site = sites.get(device_id) or device_id
        service = str(meta.get("service_code") or meta.get("service") or "-")[:64]
        for bucket in (by_site[site], by_service[service], total):
            bucket[level] += 1

    def rows(groups: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
        out = []
        for name in sorted(groups):
            out.append(_summarise(name, groups[name]))
        return out

    return {"levels": list(RATING_LEVELS), "by_site": rows(by_site), "by_service": rows(by_service),
            "total": _summarise("", total)}


def _summarise(name: str, counts: dict[str, int]) -> dict[str, Any]:
    n = sum(counts.values())
    bad = sum(v for k, v in counts.items() if k in NEGATIVE_LEVELS)
    return {"name": name, "counts": counts, "total": n, "negative": bad,
            "satisfied_rate": round((n - bad) / n, 3) if n else None}


def submission_full(store: CentralStore, submission_id: str) -> dict[str, Any] | None:
    """A submission with its personal data unmasked: only for admins, and only after an audit entry."""
    with _sessions(store)() as s:
        r = s.get(Submission, submission_id)
        if r is None:
            return None
        return {"id": r.id, "device_id": r.device_id, "seq": r.seq, "service_code": r.service_code,
                "receipt_no": r.receipt_no, "created_at": r.created_at, "received_at": r.received_at,
                "complete": r.complete, "fields": json.loads(r.fields_json)}


def enrolment_tokens(store: CentralStore) -> list[dict[str, Any]] | None:
    """Tokens from the enrolment module when it exists (``None`` while enrolment is not built)."""
    try:
        enrolment = importlib.import_module("sync.central.enrolment")
    except ImportError:
        return None
    lister = getattr(enrolment, "list_tokens", None)
    if lister is None:
        return None
    try:
        rows = lister(store)
    except Exception:  # a module still being written must not take the page down
        return None
    return [dict(r) for r in rows] if isinstance(rows, list) else None


def receipt_of(store: CentralStore, submission_id: str) -> str | None:
    """The receipt number of one stored submission (for the status form of the submissions page)."""
    with store.session() as s:
        row = s.get(Submission, submission_id)
        return row.receipt_no if row is not None else None
