"""The outbox store: the UI enqueues sealed submissions; the daemon moves them pending -> sent -> acked.

Both processes open the same SQLite file; every change is one short ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from sync.device import DeviceConfig
from sync.outbox.models import Counter, OutboxMessage, Priority, State, SyncState
from sync.protocol.envelope import Envelope
from sync.protocol.ids import new_message_id, receipt_number
from sync.protocol.sealing import seal
from sync.sqlite import sqlite_engine, upgrade

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class Receipt:
    """What the kiosk keeps and shows after a submission: no personal data."""

    message_id: str
    seq: int
    receipt_no: str
    service_code: str
    created_at: float


@dataclass(frozen=True)
class Outgoing:
    id: str
    kind: str
    body: bytes


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.engine = sqlite_engine(path)
        upgrade(self.engine, MIGRATIONS)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # -- the UI side -------------------------------------------------------------------------------

    def enqueue_submission(self, device: DeviceConfig, service_code: str,
                           fields: Sequence[Mapping[str, Any]]) -> Receipt:
        """Seal the resident's data for the central and queue it; returns the receipt facts."""
        message_id = new_message_id()
        plaintext = json.dumps({"service_code": service_code, "fields": [dict(f) for f in fields]},
                               ensure_ascii=False).encode("utf-8")
        sealed = seal(device.seal_public_key, plaintext, aad=message_id.encode("ascii"))
        now = time.time()
        with self._session.begin() as s:
            seq = self._next_counter(s, "seq")
            receipt_no = receipt_number(device.device_id, seq, dt.datetime.fromtimestamp(now))
            env = Envelope(id=message_id, seq=seq, device_id=device.device_id, kind="submission",
                           created_at=now, service_code=service_code, receipt_no=receipt_no, sealed=sealed)
            s.add(OutboxMessage(id=message_id, seq=seq, kind="submission", priority=Priority.SUBMISSION,
                                state=State.PENDING, created_at=now, attempts=0, service_code=service_code,
                                receipt_no=receipt_no, body=env.to_bytes()))
        return Receipt(message_id, seq, receipt_no, service_code, now)

    # -- the daemon side ---------------------------------------------------------------------------

    def pending_batch(self, limit: int) -> list[Outgoing]:
        with self._session() as s:
            rows = s.execute(
                select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.body)
                .where(OutboxMessage.state == State.PENDING)
                .order_by(OutboxMessage.priority, OutboxMessage.seq).limit(limit)
            ).all()
        return [Outgoing(r.id, r.kind, r.body) for r in rows if r.body is not None]

    def mark_sent(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if not ids:
            return
        with self._session.begin() as s:
            s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids),
                                                  OutboxMessage.state == State.PENDING)
                      .values(state=State.SENT, sent_at=time.time(),
                              attempts=OutboxMessage.attempts + 1))

    def mark_pending(self, ids: Iterable[str], error: str | None = None) -> None:
        ids = list(ids)
        if not ids:
            return
        with self._session.begin() as s:
            s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids),
                                                  OutboxMessage.state == State.SENT)
                      .values(state=State.PENDING, last_error=error))

    def requeue_sent(self, older_than_s: float | None = None) -> int:
        """Unacked rows go back to pending: all of them (after a reconnect) or those sent long ago."""
        stmt = update(OutboxMessage).where(OutboxMessage.state == State.SENT)
        if older_than_s is not None:
            stmt = stmt.where(OutboxMessage.sent_at < time.time() - older_than_s)
        with self._session.begin() as s:
            return s.execute(stmt.values(state=State.PENDING)).rowcount  # type: ignore[attr-defined]

    def mark_acked(self, ids: Iterable[str]) -> int:
        """The central stored these: done, and the sealed body is purged."""
        ids = list(ids)
        if not ids:
            return 0
        with self._session.begin() as s:
            n = s.execute(update(OutboxMessage)
                          .where(OutboxMessage.id.in_(ids),
                                 OutboxMessage.state.in_((State.PENDING, State.SENT)))
                          .values(state=State.ACKED, acked_at=time.time(), body=None,
                                  last_error=None)).rowcount  # type: ignore[attr-defined]
            if n:
                self._put_states(s, {"last_delivery": str(time.time())})
        return int(n)

    def mark_rejected(self, message_id: str, reason: str) -> None:
        """The central refused it; keep it (sealed) for a technician's export, never resend."""
        with self._session.begin() as s:
            s.execute(update(OutboxMessage)
                      .where(OutboxMessage.id == message_id,
                             OutboxMessage.state.in_((State.PENDING, State.SENT)))
                      .values(state=State.REJECTED, last_error=reason[:200]))

    def next_counter(self, name: str) -> int:
        with self._session.begin() as s:
            return self._next_counter(s, name)

    # -- shared state --------------------------------------------------------------------------------

    def set_states(self, values: Mapping[str, str]) -> None:
        with self._session.begin() as s:
            self._put_states(s, values)

    def states(self) -> dict[str, str]:
        with self._session() as s:
            return {r.key: r.value for r in s.scalars(select(SyncState))}

    def counts(self) -> dict[str, int]:
        with self._session() as s:
            rows = s.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all()
        out = dict.fromkeys(State.ALL, 0)
        out.update({state: n for state, n in rows})
        return out

    def oldest_undelivered_age(self) -> float | None:
        with self._session() as s:
            oldest = s.scalar(select(func.min(OutboxMessage.created_at))
                              .where(OutboxMessage.state.in_((State.PENDING, State.SENT))))
        return None if oldest is None else max(0.0, time.time() - oldest)

    def find(self, message_id: str) -> OutboxMessage | None:
        with self._session() as s:
            return s.get(OutboxMessage, message_id)

    # -- helpers ---------------------------------------------------------------------------------------

    @staticmethod
    def _next_counter(s: Session, name: str) -> int:
        counter = s.get(Counter, name)
        if counter is None:
            counter = Counter(name=name, value=0)
            s.add(counter)
        counter.value += 1
        s.flush()
        return counter.value

    @staticmethod
    def _put_states(s: Session, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            s.merge(SyncState(key=key, value=value))
