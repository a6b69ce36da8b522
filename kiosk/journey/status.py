"""“我的申请”: the status of an application by its receipt number, from this machine's database.

The central will push statuses down (not built yet). When the outbox database holds an
``application_status`` table (receipt_no, status, updated_at) its newest row wins; otherwise the
kiosk shows what it knows itself: queued, being sent, delivered (acked) or rejected, with the time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import inspect, select, text

from sync.outbox.models import OutboxMessage, State
from sync.outbox.store import Outbox

STATUS_TABLE = "application_status"

_LOCAL_KEYS = {State.PENDING: "statusQueued", State.SENT: "statusSent", State.ACKED: "statusDelivered",
               State.REJECTED: "statusRejected"}


@dataclass(frozen=True)
class ApplicationStatus:
    receipt_no: str
    state: str  # a local state (pending/sent/acked/rejected) or the central's status text
    text_key: str  # i18n key for local states; "" when ``state`` is the central's own text
    updated_at: float
    source: str  # "central" | "local"


def lookup(outbox: Outbox, receipt_no: str) -> ApplicationStatus | None:
    receipt_no = receipt_no.strip().upper()
    with outbox.engine.connect() as conn:
        if STATUS_TABLE in inspect(conn).get_table_names():
            row = conn.execute(text(f"select status, updated_at from {STATUS_TABLE} "  # noqa: S608 - constant
                                    "where receipt_no = :r order by updated_at desc limit 1"),
                               {"r": receipt_no}).first()
            if row is not None:
                return ApplicationStatus(receipt_no, str(row[0]), "", float(row[1] or 0), "central")
        local = conn.execute(
            select(OutboxMessage.state, OutboxMessage.created_at, OutboxMessage.sent_at, OutboxMessage.acked_at)
            .where(OutboxMessage.receipt_no == receipt_no, OutboxMessage.kind == "submission",
                   OutboxMessage.parent_id.is_(None))).first()
    if local is None:
        return None
    state, created, sent, acked = local
    when = acked or sent or created
    return ApplicationStatus(receipt_no, state, _LOCAL_KEYS.get(state, "statusQueued"), float(when), "local")


def age_text(seconds: float, lang: str) -> str:
    """“3 分钟前” / “3 min ago”."""
    s = max(0, int(seconds))
    if lang == "en":
        if s < 60:
            return "just now"
        if s < 3600:
            return f"{s // 60} min ago"
        if s < 86400:
            return f"{s // 3600} h ago"
        return f"{s // 86400} days ago"
    if s < 60:
        return "刚刚"
    if s < 3600:
        return f"{s // 60} 分钟前"
    if s < 86400:
        return f"{s // 3600} 小时前"
    return f"{s // 86400} 天前"
