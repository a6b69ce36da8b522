"""The kiosk's side of ``app_status`` commands: keep the statuses the central pushes down for the
residents' "我的申请" lookup in the outbox database's ``application_status`` table (migration 0004).

One row per receipt number; an entry older than the row already there is ignored (commands may arrive
out of order), and rows whose status is older than :data:`RETENTION_S` (90 days) are dropped at every
update. The kiosk also writes a row for each application it takes itself (status ``own``, so a card lookup
lists it before the central has set a status); the central's first status replaces it. Rows hold a
receipt number, a service code, a status code, times and a lookup tag
(HMAC-SHA256 of the ID number under the site's key): nothing that names a person.

The table is declared here (not among the outbox models) because only this module writes it and only
``kiosk.journey.status`` reads it; both go through this one definition.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Column, Float, MetaData, String, Table, Text, delete, insert, select, update

from sync.outbox.store import Outbox

log = logging.getLogger("kiosk.app_status")

RETENTION_S = 90 * 86400
CARD_LOOKUP_ANSWER = "card_lookup_answer"  # state: {"query", "n", "at"} of the last card lookup answered
OWN = "own"  # a row the kiosk wrote for its own application (kiosk.journey.status.record_own): any push wins

application_status = Table(
    "application_status", MetaData(),
    Column("receipt_no", String(32), primary_key=True),
    Column("service_code", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("lookup_tag", String(64), nullable=False),
    Column("received_at", Float, nullable=False),
    Column("detail_json", Text, nullable=True),  # the decision in words, {"zh", "en"} (migration 0005)
)


def upsert(outbox: Outbox, entries: Iterable[Mapping[str, Any]], *, now: float | None = None,
           retention_s: float = RETENTION_S) -> dict[str, int]:
    """Store checked entries (``sync.protocol.commands.validate_app_status``) in one transaction.

    Returns counts: ``stored`` (new or newer), ``stale`` (older than what the kiosk has), ``expired``
    (dropped by retention, including entries that arrive already too old)."""
    now = time.time() if now is None else now
    horizon = now - retention_s
    stored = stale = 0
    with outbox.engine.begin() as conn:
        for e in entries:
            if float(e["updated_at"]) < horizon:
                stale += 1
                continue
            values = {"service_code": e["service_code"], "status": e["status"], "updated_at": float(e["updated_at"]),
                      "lookup_tag": e["lookup_tag"], "received_at": now,
                      "detail_json": json.dumps(e["detail"], ensure_ascii=False) if e.get("detail") else None}
            have = conn.execute(select(application_status.c.updated_at, application_status.c.status)
                                .where(application_status.c.receipt_no == e["receipt_no"])).first()
            if have is None:
                conn.execute(insert(application_status).values(receipt_no=e["receipt_no"], **values))
            elif float(have[0]) <= values["updated_at"] or have[1] == OWN:
                conn.execute(update(application_status)
                             .where(application_status.c.receipt_no == e["receipt_no"]).values(**values))
            else:
                stale += 1
                continue
            stored += 1
        expired = conn.execute(delete(application_status).where(application_status.c.updated_at < horizon)).rowcount
    return {"stored": stored, "stale": stale, "expired": int(expired or 0)}


def execute(outbox: Outbox, args: Mapping[str, Any]) -> dict[str, Any]:
    """The ``app_status`` action for :class:`~sync.daemon.commands.CommandExecutor` (args already checked)."""
    counts = upsert(outbox, args["entries"])
    log.info("application statuses: %d stored, %d stale, %d expired", counts["stored"], counts["stale"],
             counts["expired"])
    if args.get("query"):  # the answer to a card lookup (kiosk/journey/card_lookup.py): it came
        outbox.set_states({CARD_LOOKUP_ANSWER: json.dumps({"query": str(args["query"]), "n": len(args["entries"]),
                                                           "at": time.time()})})
    return {"detail": f"{counts['stored']} status(es) stored", **counts}


__all__ = ["CARD_LOOKUP_ANSWER", "RETENTION_S", "application_status", "execute", "upsert"]
