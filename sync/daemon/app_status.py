"""The kiosk's side of ``app_status`` commands: keep the statuses the central pushes down for the
residents' "我的申请" lookup in the outbox database's ``application_status`` table (migration 0004).

One row per receipt number; an entry older than the row already there is ignored (commands may arrive
out of order), and rows whose status is older than :data:`RETENTION_S` (90 days) are dropped at every
update. Rows hold a receipt number, a service code, a status code, times and a lookup tag
(HMAC-SHA256 of the ID number under the site's key): nothing that names a person.

The table is declared here (not among the outbox models) because only this module writes it and only
``kiosk.journey.status`` reads it; both go through this one definition.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Column, Float, MetaData, String, Table, delete, insert, select, update

from sync.outbox.store import Outbox

log = logging.getLogger("kiosk.app_status")

RETENTION_S = 90 * 86400

application_status = Table(
    "application_status", MetaData(),
    Column("receipt_no", String(32), primary_key=True),
    Column("service_code", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("lookup_tag", String(64), nullable=False),
    Column("received_at", Float, nullable=False),
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
                      "lookup_tag": e["lookup_tag"], "received_at": now}
            have = conn.execute(select(application_status.c.updated_at)
                                .where(application_status.c.receipt_no == e["receipt_no"])).first()
            if have is None:
                conn.execute(insert(application_status).values(receipt_no=e["receipt_no"], **values))
            elif float(have[0]) <= values["updated_at"]:
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
    return {"detail": f"{counts['stored']} status(es) stored", **counts}


__all__ = ["RETENTION_S", "application_status", "execute", "upsert"]
