"""The outbox store: the UI enqueues sealed submissions; the daemon moves them pending -> sent -> acked.

Both processes open the same SQLite file; every change is one short ``BEGIN IMMEDIATE`` transaction.
Resident submissions are never evicted: above the high-water mark new ones are refused with a reason
the UI shows. Telemetry waits in its own queue, dropped oldest-first past a cap and after its TTL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import shutil
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from sync.device import DeviceConfig
from sync.outbox.models import (
    Counter,
    DriverHealthRow,
    OutboxMessage,
    Priority,
    SeenCommand,
    State,
    SyncState,
    TelemetryQueued,
)
from sync.protocol import seqranges
from sync.protocol.envelope import Envelope
from sync.protocol.ids import new_message_id, receipt_number
from sync.protocol.sealing import seal
from sync.protocol.signing import KeyFile
from sync.sqlite import sqlite_engine, upgrade

log = logging.getLogger("kiosk.outbox")

MIGRATIONS = Path(__file__).parent / "migrations"
# Raw bytes of a sealed attachment per chunk: base64 in the JSON envelope keeps a message under 256 KiB.
CHUNK_BYTES = 180 * 1024
QUARANTINE_SEQ_GAP = 1000
RESEND_MAX_SEQS = 100_000  # sequence numbers looked at per resend request
RESEND_MAX_RANGES = 80  # ranges per list in a resend answer (keeps its meta well under 16 KiB)
# The state of a row picked by id, written so SQLite cannot use a state index for it: without statistics
# the planner otherwise walks ix_outbox_state_priority_seq over every pending row (10,000 in a backlog) for
# each "mark these 50 ids", instead of 50 primary-key lookups.
_LISTED_STATE = OutboxMessage.state + ""
# Marks by id are Core statements: the ORM's bulk UPDATE would first try to evaluate the WHERE against
# objects in the session (there are none) on every call.
_OUTBOX = cast(Table, OutboxMessage.__table__)


@dataclass(frozen=True)
class Limits:
    """The high-water marks above which new submissions are refused (nothing queued is dropped)."""

    max_undelivered: int = 50_000
    min_free_bytes: int = 256 * 1024 * 1024
    max_telemetry_rows: int = 2_000
    telemetry_ttl_s: float = 6 * 3600


class OutboxFull(RuntimeError):
    """New submissions are refused; ``code`` is for machines, ``message`` for the resident's screen."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


REFUSAL_MESSAGES = {
    "queue_full": "暂停受理：本机待提交的申请过多，请稍后再试或到人工窗口办理",
    "disk_low": "暂停受理：本机存储空间不足，请到人工窗口办理",
}


@dataclass(frozen=True)
class Attachment:
    """A document photo (already encoded, e.g. JPEG). Sealed whole, then chunked."""

    name: str
    content_type: str
    data: bytes


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
    def __init__(self, path: Path, limits: Limits | None = None) -> None:
        self.path = path
        self.limits = limits or Limits()
        # Messages are signed with the device key as they are queued (sync.protocol.signing); the key lives
        # beside the outbox in the kiosk's home.
        self.key_file = KeyFile(path.parent)
        self.quarantined: Path | None = None
        recovered_seq = self._quarantine_if_corrupt(path)
        self.engine = sqlite_engine(path)
        upgrade(self.engine, MIGRATIONS)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        if self.quarantined is not None:
            with self._session.begin() as s:
                self._counter(s, "seq").value = recovered_seq + QUARANTINE_SEQ_GAP
                self._put_states(s, {"quarantined": self.quarantined.name})

    def close(self) -> None:
        self.engine.dispose()

    # -- integrity -------------------------------------------------------------------------------------

    def _quarantine_if_corrupt(self, path: Path) -> int:
        """A database that fails its integrity check is moved aside (never deleted) and a fresh one made.

        Returns the highest sequence number recoverable from it, so new numbers do not repeat old ones.
        """
        if not path.exists():
            return 0
        problem = None
        try:
            conn = sqlite3.connect(path, timeout=10)
            try:
                result = conn.execute("PRAGMA quick_check").fetchall()
                if result != [("ok",)]:
                    problem = "integrity check failed"
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            problem = type(exc).__name__
        if problem is None:
            return 0
        recovered = 0
        try:
            conn = sqlite3.connect(path)
            recovered = int(conn.execute("select max(seq) from outbox").fetchone()[0] or 0)
            conn.close()
        except (sqlite3.Error, TypeError, ValueError):
            pass
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = path.with_name(f"{path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(path) + suffix)
            if src.exists():
                shutil.move(src, Path(str(target) + suffix))
        self.quarantined = target
        log.error("outbox database failed its check (%s): moved aside to %s", problem, target.name)
        return recovered

    # -- the UI side -------------------------------------------------------------------------------

    def refusal(self) -> OutboxFull | None:
        """Why new submissions would be refused right now, or None."""
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            free = 0
        if free < self.limits.min_free_bytes:
            return OutboxFull("disk_low", REFUSAL_MESSAGES["disk_low"])
        with self._session() as s:
            undelivered = s.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.state.in_((State.PENDING, State.SENT)),
                OutboxMessage.priority == Priority.SUBMISSION, OutboxMessage.parent_id.is_(None))) or 0
        if undelivered >= self.limits.max_undelivered:
            return OutboxFull("queue_full", REFUSAL_MESSAGES["queue_full"])
        return None

    def enqueue_submission(self, device: DeviceConfig, service_code: str, fields: Sequence[Mapping[str, Any]],
                           attachments: Sequence[Attachment] = ()) -> Receipt:
        """Seal the resident's data for the central and queue it; returns the receipt facts.

        Raises :class:`OutboxFull` above the high-water mark: the resident is told, nothing is lost.
        """
        refusal = self.refusal()
        if refusal is not None:
            raise refusal
        message_id = new_message_id()
        key = device.seal_public_key
        manifest = [{"file": i, "name": a.name, "content_type": a.content_type, "size": len(a.data)}
                    for i, a in enumerate(attachments)]
        plaintext = json.dumps({"service_code": service_code, "fields": [dict(f) for f in fields],
                                "attachments": manifest}, ensure_ascii=False).encode("utf-8")
        sealed = seal(key, plaintext, aad=message_id.encode("ascii"))
        sealed_files = [seal(key, a.data, aad=f"{message_id}/{i}".encode()) for i, a in enumerate(attachments)]
        files_meta: list[dict[str, Any]] = [
            {"file": i, "chunks": max(1, -(-len(f) // CHUNK_BYTES)), "size": len(f),
             "sha256": hashlib.sha256(f).hexdigest()} for i, f in enumerate(sealed_files)]
        now = time.time()
        with self._session.begin() as s:
            seq = self._next_counter(s, "seq")
            receipt_no = receipt_number(device.device_id, seq, dt.datetime.fromtimestamp(now))
            meta = {"service_code": service_code, "receipt_no": receipt_no, "attachments": files_meta}
            self._add(s, device, message_id, seq, "submission", Priority.SUBMISSION, now, sealed, meta,
                      service_code=service_code, receipt_no=receipt_no)
            for fmeta, blob in zip(files_meta, sealed_files, strict=True):
                for chunk in range(fmeta["chunks"]):
                    part = blob[chunk * CHUNK_BYTES:(chunk + 1) * CHUNK_BYTES]
                    cmeta = {"submission_id": message_id, "file": fmeta["file"], "chunk": chunk,
                             "chunks": fmeta["chunks"], "sha256": hashlib.sha256(part).hexdigest(),
                             "file_sha256": fmeta["sha256"], "file_size": fmeta["size"]}
                    self._add(s, device, new_message_id(), self._next_counter(s, "seq"), "attachment",
                              Priority.SUBMISSION, now, part, cmeta, service_code=service_code,
                              receipt_no=receipt_no, parent_id=message_id)
        return Receipt(message_id, seq, receipt_no, service_code, now)

    def enqueue_event(self, device: DeviceConfig, event_type: str, meta: Mapping[str, Any] | None = None,
                      private: Mapping[str, Any] | None = None) -> str:
        """Queue an event (rating, complaint, command result, alarm). ``meta`` travels in clear and must
        hold no personal data; ``private`` is sealed for the central."""
        message_id = new_message_id()
        sealed = b""
        if private:
            sealed = seal(device.seal_public_key, json.dumps(dict(private), ensure_ascii=False).encode(),
                          aad=message_id.encode("ascii"))
        now = time.time()
        with self._session.begin() as s:
            seq = self._next_counter(s, "seq")
            self._add(s, device, message_id, seq, "event", Priority.EVENT, now, sealed,
                      {"type": event_type, **dict(meta or {})}, service_code="", receipt_no="")
        return message_id

    def enqueue_alarm(self, device: DeviceConfig, code: str, detail: str = "", severity: str = "warning") -> str:
        return self.enqueue_event(device, "alarm", {"code": code, "severity": severity, "detail": detail[:200]})

    def _add(self, s: Session, device: DeviceConfig, message_id: str, seq: int, kind: str, priority: int,
             now: float, sealed: bytes, meta: dict[str, Any], *, service_code: str, receipt_no: str,
             parent_id: str | None = None) -> None:
        env = self.key_file.sign(Envelope(id=message_id, seq=seq, device_id=device.device_id, kind=kind,
                                          created_at=now, sealed=sealed, meta=meta))
        s.add(OutboxMessage(id=message_id, seq=seq, kind=kind, priority=priority, state=State.PENDING,
                            created_at=now, attempts=0, service_code=service_code, receipt_no=receipt_no,
                            body=env.to_bytes(), parent_id=parent_id))

    # -- telemetry queue ------------------------------------------------------------------------------

    def enqueue_telemetry(self, device: DeviceConfig, figures: Mapping[str, Any]) -> None:
        now = time.time()
        with self._session.begin() as s:
            seq = self._next_counter(s, "telemetry_seq")
            env = self.key_file.sign(Envelope(id=new_message_id(), seq=seq, device_id=device.device_id,
                                              kind="telemetry", created_at=now, meta=dict(figures)))
            s.add(TelemetryQueued(created_at=now, expires_at=now + self.limits.telemetry_ttl_s, body=env.to_bytes()))
            s.execute(delete(TelemetryQueued).where(TelemetryQueued.expires_at < now))
            keep = s.scalar(select(TelemetryQueued.id).order_by(TelemetryQueued.id.desc())
                            .offset(self.limits.max_telemetry_rows - 1).limit(1))
            if keep is not None:
                s.execute(delete(TelemetryQueued).where(TelemetryQueued.id < keep))

    def telemetry_batch(self, limit: int) -> list[tuple[int, bytes]]:
        with self._session() as s:
            rows = s.execute(select(TelemetryQueued.id, TelemetryQueued.body)
                             .where(TelemetryQueued.expires_at >= time.time())
                             .order_by(TelemetryQueued.id).limit(limit)).all()
        return [(r.id, r.body) for r in rows]

    def telemetry_done(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if ids:
            with self._session.begin() as s:
                s.execute(delete(TelemetryQueued).where(TelemetryQueued.id.in_(ids)))

    def telemetry_count(self) -> int:
        with self._session() as s:
            return s.scalar(select(func.count()).select_from(TelemetryQueued)) or 0

    # -- the daemon side ---------------------------------------------------------------------------

    def pending_batch(self, limit: int, exclude: Iterable[str] = ()) -> list[Outgoing]:
        """The next pending rows, skipping ``exclude`` (published but not yet marked sent)."""
        stmt = (select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.body)
                .where(OutboxMessage.state == State.PENDING)
                .order_by(OutboxMessage.priority, OutboxMessage.seq).limit(limit))
        skip = list(exclude)
        if skip:
            stmt = stmt.where(OutboxMessage.id.not_in(skip))
        with self._session() as s:
            rows = s.execute(stmt).all()
        return [Outgoing(r.id, r.kind, r.body) for r in rows if r.body is not None]

    def record_delivery(self, sent: Iterable[str], acked: Iterable[str]) -> int:
        """Mark published rows sent and acknowledged rows acked (body purged) in one transaction.

        This one transaction commits without an fsync (``synchronous=NORMAL`` on its connection, then
        back to FULL): a power cut may roll back the last marks, which only means those rows are sent
        again and the central dedupes them. Every other write here stays fully durable."""
        sent, acked = list(sent), list(acked)
        if not sent and not acked:
            return 0
        now = time.time()
        n = 0
        with self.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            raw.execute("PRAGMA synchronous=NORMAL")  # outside any transaction (autocommit driver mode)
            try:
                with Session(bind=conn) as s, s.begin():
                    n = self._record(s, sent, acked, now)
            finally:
                conn.rollback()
                raw.execute("PRAGMA synchronous=FULL")
        return n

    def _record(self, s: Session, sent: list[str], acked: list[str], now: float) -> int:
        n = 0
        if sent or acked:
            if sent:
                s.execute(update(_OUTBOX).where(OutboxMessage.id.in_(sent), _LISTED_STATE == State.PENDING)
                          .values(state=State.SENT, sent_at=now, attempts=OutboxMessage.attempts + 1))
            if acked:
                n = int(s.execute(update(_OUTBOX)
                                  .where(OutboxMessage.id.in_(acked),
                                         _LISTED_STATE.in_((State.PENDING, State.SENT)))
                                  .values(state=State.ACKED, acked_at=now, body=None, last_error=None))
                        .rowcount)  # type: ignore[attr-defined]
                if n:
                    self._put_states(s, {"last_delivery": str(now)})
        return n

    def mark_sent(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if not ids:
            return
        with self._session.begin() as s:
            s.execute(update(_OUTBOX).where(OutboxMessage.id.in_(ids),
                                                  _LISTED_STATE == State.PENDING)
                      .values(state=State.SENT, sent_at=time.time(),
                              attempts=OutboxMessage.attempts + 1))

    def mark_pending(self, ids: Iterable[str], error: str | None = None) -> None:
        ids = list(ids)
        if not ids:
            return
        with self._session.begin() as s:
            s.execute(update(_OUTBOX).where(OutboxMessage.id.in_(ids),
                                                  _LISTED_STATE == State.SENT)
                      .values(state=State.PENDING, last_error=error))

    def requeue_sent(self, older_than_s: float | None = None) -> int:
        """Unacked rows go back to pending: all of them (after a reconnect) or those sent long ago."""
        stmt = update(_OUTBOX).where(OutboxMessage.state == State.SENT)
        if older_than_s is not None:
            stmt = stmt.where(OutboxMessage.sent_at < time.time() - older_than_s)
        with self._session.begin() as s:
            return int(s.execute(stmt.values(state=State.PENDING)).rowcount)  # type: ignore[attr-defined]

    def mark_acked(self, ids: Iterable[str]) -> int:
        """The central stored these: done, and the sealed body is purged."""
        ids = list(ids)
        if not ids:
            return 0
        with self._session.begin() as s:
            n = s.execute(update(_OUTBOX)
                          .where(OutboxMessage.id.in_(ids),
                                 _LISTED_STATE.in_((State.PENDING, State.SENT)))
                          .values(state=State.ACKED, acked_at=time.time(), body=None,
                                  last_error=None)).rowcount  # type: ignore[attr-defined]
            if n:
                self._put_states(s, {"last_delivery": str(time.time())})
        return int(n)

    def mark_rejected(self, message_id: str, reason: str) -> None:
        """The central refused it; keep it (sealed) for a technician's export, never resend."""
        with self._session.begin() as s:
            s.execute(update(_OUTBOX)
                      .where(OutboxMessage.id == message_id,
                             _LISTED_STATE.in_((State.PENDING, State.SENT)))
                      .values(state=State.REJECTED, last_error=reason[:200]))

    def answer_resend(self, device: DeviceConfig, ranges: Sequence[tuple[int, int]]) -> dict[str, Any]:
        """The central says it never got these sequence numbers: send again what is still here.

        Rows sent (or refused: a refusal the central does not know of was not the central's) go back to
        pending; pending ones are on their way anyway. Acked rows were stored by the central (it acks only
        after its commit), and numbers with no row here are gone (a quarantined database): both are
        reported so the central can close its gap. The answer is queued as a ``resend_result`` event and
        returned. At most :data:`RESEND_MAX_SEQS` numbers are looked at per request; the central asks again.
        """
        resent: list[int] = []
        acked: list[int] = []
        present: set[int] = set()
        budget = RESEND_MAX_SEQS
        asked: list[tuple[int, int]] = []
        with self._session.begin() as s:
            for lo, hi in seqranges.merge(ranges):
                if budget <= 0:
                    break
                hi = min(hi, lo + budget - 1)
                budget -= hi - lo + 1
                asked.append((lo, hi))
                rows = s.execute(select(OutboxMessage.id, OutboxMessage.seq, OutboxMessage.state,
                                        OutboxMessage.body.is_not(None).label("has_body"))
                                 .where(OutboxMessage.seq >= lo, OutboxMessage.seq <= hi)).all()
                again = []
                for row in rows:
                    present.add(row.seq)
                    if row.state == State.ACKED or not row.has_body:
                        acked.append(row.seq)
                    else:
                        resent.append(row.seq)
                        if row.state in (State.SENT, State.REJECTED):
                            again.append(row.id)
                if again:
                    s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(again))
                              .values(state=State.PENDING, last_error="resend requested by the central"))
        gone = [r for lo, hi in asked for r in _absent(lo, hi, present)]
        answer: dict[str, Any] = {"requested": [list(r) for r in asked[:RESEND_MAX_RANGES]]}
        truncated = len(asked) > RESEND_MAX_RANGES
        for name, seqs in (("resent", resent), ("acked", acked)):
            packed = seqranges.compress(seqs)
            truncated |= len(packed) > RESEND_MAX_RANGES
            answer[name] = [list(r) for r in packed[:RESEND_MAX_RANGES]]
        truncated |= len(gone) > RESEND_MAX_RANGES
        answer["gone"] = [list(r) for r in gone[:RESEND_MAX_RANGES]]
        answer["truncated"] = truncated
        self.enqueue_event(device, "resend_result", answer)
        return answer

    def next_counter(self, name: str, floor: int = 0) -> int:
        """The counter's next value, never below ``floor``."""
        with self._session.begin() as s:
            counter = self._counter(s, name)
            counter.value = max(counter.value + 1, floor)
            s.flush()
            return counter.value

    # -- commands ----------------------------------------------------------------------------------------

    def remember_command(self, command_id: str, expires_at: float) -> bool:
        """Record a command id; False if it was seen before (a replay). Expired ids are forgotten."""
        now = time.time()
        with self._session.begin() as s:
            s.execute(delete(SeenCommand).where(SeenCommand.expires_at < now - 86400))
            if s.get(SeenCommand, command_id) is not None:
                return False
            s.add(SeenCommand(id=command_id, received_at=now, expires_at=expires_at))
        return True

    # -- shared state --------------------------------------------------------------------------------

    def set_states(self, values: Mapping[str, str]) -> None:
        with self._session.begin() as s:
            self._put_states(s, values)

    def states(self) -> dict[str, str]:
        with self._session() as s:
            return {r.key: r.value for r in s.scalars(select(SyncState))}

    def put_driver_health(self, snapshots: Iterable[Mapping[str, Any]]) -> None:
        with self._session.begin() as s:
            for snap in snapshots:
                s.merge(DriverHealthRow(driver=str(snap["driver"]), state=str(snap["state"]),
                                        last_error=(str(snap["last_error"])[:200] if snap.get("last_error")
                                                    else None),
                                        last_success=snap.get("last_success"),
                                        changed_at=float(snap.get("changed_at") or time.time())))

    def driver_health(self) -> list[dict[str, Any]]:
        with self._session() as s:
            return [{"driver": r.driver, "state": r.state, "last_error": r.last_error,
                     "last_success": r.last_success, "changed_at": r.changed_at}
                    for r in s.scalars(select(DriverHealthRow).order_by(DriverHealthRow.driver))]

    def counts(self) -> dict[str, int]:
        """Submissions (and events) by state; attachment chunks are counted with their submission."""
        with self._session() as s:
            rows = s.execute(select(OutboxMessage.state, func.count())
                             .where(OutboxMessage.parent_id.is_(None))
                             .group_by(OutboxMessage.state)).all()
        out = dict.fromkeys(State.ALL, 0)
        out.update({state: n for state, n in rows})
        return out

    def counts_by_kind(self) -> dict[str, dict[str, int]]:
        with self._session() as s:
            rows = s.execute(select(OutboxMessage.kind, OutboxMessage.state, func.count())
                             .group_by(OutboxMessage.kind, OutboxMessage.state)).all()
        out: dict[str, dict[str, int]] = {}
        for kind, state, n in rows:
            out.setdefault(kind, dict.fromkeys(State.ALL, 0))[state] = n
        return out

    def oldest_undelivered_age(self) -> float | None:
        with self._session() as s:
            oldest = s.scalar(select(func.min(OutboxMessage.created_at))
                              .where(OutboxMessage.state.in_((State.PENDING, State.SENT))))
        return None if oldest is None else max(0.0, time.time() - oldest)

    def find(self, message_id: str) -> OutboxMessage | None:
        with self._session() as s:
            return s.get(OutboxMessage, message_id)

    def disk_free(self) -> int:
        try:
            return shutil.disk_usage(self.path.parent).free
        except OSError:
            return 0

    # -- helpers ---------------------------------------------------------------------------------------

    @staticmethod
    def _counter(s: Session, name: str) -> Counter:
        counter = s.get(Counter, name)
        if counter is None:
            counter = Counter(name=name, value=0)
            s.add(counter)
        return counter

    @classmethod
    def _next_counter(cls, s: Session, name: str) -> int:
        counter = cls._counter(s, name)
        counter.value += 1
        s.flush()
        return counter.value

    @staticmethod
    def _put_states(s: Session, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            s.merge(SyncState(key=key, value=value))


def _absent(lo: int, hi: int, present: set[int]) -> list[tuple[int, int]]:
    """Ranges of [lo, hi] with no number in ``present``."""
    return seqranges.missing(lo - 1, [(n, n) for n in sorted(present) if lo <= n <= hi] + [(hi + 1, hi + 1)])


def open_outbox(home: Path, device: DeviceConfig | None, limits: Limits | None = None) -> Outbox:
    """Open the kiosk's outbox; if it had to be quarantined, queue the alarm for the central."""
    outbox = Outbox(home / "outbox.db", limits)
    if outbox.quarantined is not None and device is not None:
        outbox.enqueue_alarm(device, "db_quarantined", f"moved aside as {outbox.quarantined.name}", "critical")
    return outbox


__all__ = ["Attachment", "Limits", "Outbox", "OutboxFull", "Receipt", "open_outbox"]
