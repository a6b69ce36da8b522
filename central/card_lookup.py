"""“我的申请” by ID card across the platform: a kiosk asks, the central answers with every application of
that card taken at any kiosk, with its status.

The question is a ``card_lookup`` event (sync/protocol/card_lookup.py): ``meta`` holds its type and a
fresh query id Q, the sealed part ``{"tag": T}`` with T = HMAC-SHA256(the kiosk's site lookup key,
normalised ID number): the ID number itself never leaves the kiosk. The central stores the event without
its sealed part (the tag is used for the answer and not kept) and answers on that kiosk's ``down/cmd`` with
one signed ``app_status`` command, target the kiosk's site, args ``{"entries": [...], "query": Q}`` (0-50
entries, newest first, each filed under T so the kiosk's own card lookup lists them; ``query`` tells the
kiosk its question is answered, also when nothing was found).

Matching: the central cannot turn a tag back into a number, so it computes the asking site's tag of every
application (from the decrypted fields; the first ID-number field, as ``status_push.submission_tag``) and
compares. Tags are cached in memory per (site, submission), so only applications new since the last
question are decrypted; a worker's first question after a start pays for all of them (see BENCHMARKS.md).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from central.commands import build_command
from central.keys import CentralKeys, site_lookup_key
from central.models import ApplicationStatus, Device, Submission
from central.status_push import _entry
from central.store import CentralStore
from sync.protocol.commands import APP_STATUS, MAX_APP_STATUS_ENTRIES, lookup_tag, target_site

log = logging.getLogger("kiosk.central.card_lookup")

ANSWER_TTL_S = 300.0
MAX_ANSWERED = 50  # what the kiosk lists (kiosk.journey.status.MAX_LISTED)
_tags: dict[tuple[str, str], str] = {}  # (site, submission id) -> that site's tag of it ("" without an ID number)


def _tag_of(store: CentralStore, site_key: bytes, sub: Submission) -> str:
    try:
        fields = store.fields.submission_fields(sub)
    except Exception as exc:  # a row whose key is gone: not findable by card, never a stopped answer
        log.warning("an application's fields cannot be read for the card lookup: %s", type(exc).__name__)
        return ""
    for f in fields:
        if isinstance(f, dict) and f.get("kind") == "id_number" and isinstance(f.get("value"), str):
            try:
                return lookup_tag(site_key, f["value"])
            except ValueError:
                continue
    return ""


def find(store: CentralStore, keys: CentralKeys, site: str, tag: str) -> list[dict[str, Any]]:
    """The ``app_status`` entries of every application whose ID number has ``tag`` under ``site``'s key."""
    site_key = site_lookup_key(keys, site)
    with store.session() as s:
        ids = s.scalars(select(Submission.id)).all()
        missing = [i for i in ids if (site, i) not in _tags]
        for i in range(0, len(missing), 500):
            for sub in s.scalars(select(Submission).where(Submission.id.in_(missing[i:i + 500]))):
                _tags[(site, sub.id)] = _tag_of(store, site_key, sub)
        hits = [i for i in ids if _tags.get((site, i)) == tag]
        subs = s.scalars(select(Submission).where(Submission.id.in_(hits))
                         .order_by(Submission.received_at.desc())).all()
        statuses = {r.submission_id: r for r in
                    s.scalars(select(ApplicationStatus).where(ApplicationStatus.submission_id.in_(hits)))}
        entries: dict[str, dict[str, Any]] = {}
        for sub in subs:
            if sub.receipt_no in entries or not sub.receipt_no:
                continue
            row = statuses.get(sub.id)
            entry = _entry(row) if row is not None else {
                "receipt_no": sub.receipt_no, "service_code": sub.service_code, "status": "received",
                "updated_at": float(sub.received_at)}
            entry["lookup_tag"] = tag  # filed under the asking site's tag, whatever site took it
            entries[sub.receipt_no] = entry
    return list(entries.values())[:min(MAX_ANSWERED, MAX_APP_STATUS_ENTRIES)]


def answer(store: CentralStore, keys: CentralKeys, device_id: str, query: str, tag: str,
           now: float | None = None) -> bytes | None:
    """The signed answer for the kiosk ``device_id`` (None for a kiosk without a site)."""
    with store.session() as s:
        device = s.get(Device, device_id)
        site = device.site if device is not None else ""
    if not site:
        return None
    entries = find(store, keys, site, tag)
    log.info("card lookup from %s answered with %d application(s)", device_id, len(entries))
    return build_command(keys, APP_STATUS, {"entries": entries, "query": query}, target_site(site),
                         ttl_s=ANSWER_TTL_S, now=now)[1]
