"""The outbox store: the UI enqueues sealed submissions; the daemon moves them pending -> sent -> acked.

Both processes open the same SQLite file; every change is one short ``BEGIN IMMEDIATE`` transaction.
Resident submissions are never evicted: above the high-water mark new ones are refused with a reason
the UI shows. Telemetry waits in its own queue, dropped oldest-first past a cap and after its TTL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import shutil
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, delete, event, func, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sync.device import DeviceConfig
from sync.outbox import ledger
from sync.outbox.errors import (
    REFUSAL_MESSAGES,
    OutboxFull,
    OutboxUnavailable,
    is_corruption,
    unavailable,
)
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
from sync.outbox.quarantine import QUARANTINE_MARK, move_aside_if_corrupt, quarantine_files, readable_rows
from sync.protocol import seqranges
from sync.protocol.envelope import Envelope
from sync.protocol.ids import new_message_id, receipt_number
from sync.protocol.sealing import seal
from sync.protocol.signing import KeyFile
from sync.runtime.sqlite import sqlite_engine, upgrade

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


RETRY_FIRST_S = 1.0  # a deferred outbox (the UI's) tries to open again after this, doubling up to RETRY_MAX_S
RETRY_MAX_S = 60.0


class Outbox:
    def __init__(self, path: Path, limits: Limits | None = None, *, open_timeout_s: float = 10.0,
                 defer: bool = False) -> None:
        """Open (check, migrate, reconcile) the outbox at ``path``.

        A full disk, a lock held longer than ``open_timeout_s`` or another transient error raises
        :class:`OutboxUnavailable` and moves nothing; with ``defer=True`` (the UI) the object is made anyway,
        refuses submissions with that reason, and tries again from :meth:`refusal` with backoff. Only a failed
        integrity check moves the file aside (its rows are salvaged into the new one)."""
        self.path = path
        self.home = path.parent
        self.limits = limits or Limits()
        # Messages are signed with the device key as they are queued (sync.protocol.signing); the key lives
        # beside the outbox in the kiosk's home.
        self.key_file = KeyFile(path.parent)
        self.quarantined: Path | None = None
        self.open_timeout_s = open_timeout_s
        self.open_error: OutboxUnavailable | None = None
        self._ready = False
        self._opening = False
        self._retry_delay = RETRY_FIRST_S
        self._next_try = 0.0
        self.engine = sqlite_engine(path)
        # Until the outbox has been checked and opened, nothing may touch (or create) the file. A weak
        # reference: the engine must not keep this object alive (a cycle would leave it to the collector).
        guard = weakref.WeakMethod(self._guard_connect)
        event.listen(self.engine, "do_connect", lambda *a: (g := guard()) and g(*a))
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        try:
            self._open()
        except OutboxUnavailable as exc:
            if not defer:
                self.engine.dispose()
                raise
            self._unavailable(exc)

    @property
    def ready(self) -> bool:
        return self._ready

    def close(self) -> None:
        self.engine.dispose()

    def _guard_connect(self, *_args: Any) -> None:
        if not self._ready and not self._opening:
            raise self.open_error or OutboxUnavailable("db_unavailable", REFUSAL_MESSAGES["db_unavailable"])

    def _unavailable(self, exc: OutboxUnavailable) -> None:
        self.open_error = exc
        self._next_try = time.monotonic() + self._retry_delay
        log.error("the outbox cannot be opened now (%s); nothing was moved; trying again in %.0f s",
                  exc, self._retry_delay)
        self._retry_delay = min(RETRY_MAX_S, self._retry_delay * 2)

    def try_open(self, force: bool = False) -> bool:
        """A deferred outbox: try to open now if the backoff allows (or ``force``); True once it is open."""
        if self._ready:
            return True
        if not force and time.monotonic() < self._next_try:
            return False
        try:
            self._open()
        except OutboxUnavailable as exc:
            self._unavailable(exc)
            return False
        log.info("the outbox is open again")
        return True

    def _open(self) -> None:
        self._opening = True
        try:
            recovered = self._quarantine_if_corrupt(self.path)
            try:
                upgrade(self.engine, MIGRATIONS)
                self._reconcile(recovered)
                self._salvage_all()
            except (DBAPIError, OSError) as exc:
                self.engine.dispose()
                trouble = unavailable(exc, self.home)
                if trouble is None:
                    raise
                raise trouble from exc
            except BaseException:
                # No connection may stay open on a file we could not open (SchemaTooNew, ...): another
                # process may replace or downgrade it next, and a stale connection closing later would
                # checkpoint into, and delete, the WAL of the new file.
                self.engine.dispose()
                raise
        finally:
            self._opening = False
        self._ready = True
        self.open_error = None
        self._retry_delay = RETRY_FIRST_S

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Session]:
        """One write transaction; a transient SQLite error comes out as :class:`OutboxUnavailable`."""
        try:
            with self._session.begin() as s:
                yield s
        except (DBAPIError, OSError) as exc:
            trouble = unavailable(exc, self.home)
            if trouble is None:
                raise
            raise trouble from exc

    # -- integrity -------------------------------------------------------------------------------------

    def _quarantine_if_corrupt(self, path: Path) -> int:
        """A database that fails its integrity check is moved aside (never deleted) and a fresh one made; see
        :func:`sync.outbox.quarantine.move_aside_if_corrupt`. Returns the highest sequence number recoverable
        from a moved file (the ledger covers the rest)."""
        recovered, target = move_aside_if_corrupt(path, self.home, self.open_timeout_s)
        if target is not None:
            self.quarantined = target
        return recovered

    def _reconcile(self, recovered: int) -> None:
        """Sequence numbers continue above everything this kiosk ever used: above the ledger's ceiling (an
        outbox that was replaced, restored or reset knows less than the ledger) and above a moved file's."""
        led = ledger.read(self.home)
        floor = recovered + QUARANTINE_SEQ_GAP if self.quarantined is not None else 0
        with self._session() as s:
            seq = s.get(Counter, "seq")
            ceiling = s.get(Counter, "seq_ceiling")
            have_seq = seq.value if seq else 0
            have_ceiling = ceiling.value if ceiling else 0
        if not led.readable:
            floor = max(floor, have_seq + ledger.SEQ_BLOCK)
        if led.seq_ceiling <= have_ceiling and floor <= have_seq and self.quarantined is None:
            return
        with self._session.begin() as s:
            seq_row, ceiling_row = self._counter(s, "seq"), self._counter(s, "seq_ceiling")
            if led.seq_ceiling > ceiling_row.value or floor > seq_row.value:
                seq_row.value = max(seq_row.value, led.seq_ceiling, floor)
                ceiling_row.value = seq_row.value  # the next number reserves a new block in the ledger
                log.info("sequence numbers continue above %d (the ledger's mark)", seq_row.value)
            if self.quarantined is not None:
                self._put_states(s, {"quarantined": self.quarantined.name})

    def quarantine_files(self) -> list[Path]:
        """Outbox files moved aside in this kiosk's home (their -wal/-shm companions not counted)."""
        return quarantine_files(self.home, self.path.name)

    def _salvage_all(self) -> None:
        led = ledger.read(self.home)
        for path in self.quarantine_files():
            if "salvaged" not in led.quarantines.get(path.name, {}):
                self._salvage(path)

    def _salvage(self, path: Path) -> None:
        """Copy the undelivered rows of a moved-aside file into this outbox with their ids and numbers (the
        central deduplicates by id), then note in the ledger that it was done. Best effort on a damaged file:
        rows are read by rowid in small runs, skipping what cannot be read; the file itself stays."""
        rows, complete = readable_rows(path)
        columns = {c.name for c in _OUTBOX.columns}
        salvaged = 0
        try:
            with self._session.begin() as s:
                for row in rows:
                    values = {k: v for k, v in row.items() if k in columns}
                    if values.get("state") == State.SENT:
                        values["state"] = State.PENDING
                    s.execute(sqlite_insert(_OUTBOX).values(**values).on_conflict_do_nothing(index_elements=["id"]))
                salvaged = len(rows)  # inserted now, or by an earlier attempt that stopped before the ledger
                if rows:  # new numbers go above the salvaged ones, even with no ledger and no readable max(seq)
                    counter = self._counter(s, "seq")
                    counter.value = max(counter.value, max(int(r["seq"]) for r in rows))
        except IntegrityError:
            # A number taken twice cannot happen while the ledger holds; if it does, nothing is half-copied
            # and the rows stay in the moved file for a technician.
            log.error("rows of %s could not be salvaged: a sequence number is taken", path.name)
            salvaged, complete = 0, False
        with self._session.begin() as s:
            s.connection()  # the write lock: the ledger is written by one process at a time
            led = ledger.read(self.home)
            entry = led.quarantines.setdefault(path.name, {"reported": False})
            entry.update({"salvaged": salvaged, "complete": complete})
            ledger.write(self.home, led)
        log.warning("salvaged %d undelivered message(s) from %s%s", salvaged, path.name,
                    "" if complete else " (part of the file could not be read; it stays for a technician)")

    def quarantine_report(self) -> dict[str, Any]:
        """What ``kiosk status`` shows: moved-aside files, rows salvaged from them, whether all were read."""
        led = ledger.read(self.home)
        files = [p.name for p in self.quarantine_files()]
        entries = [led.quarantines.get(name, {}) for name in files]
        return {"files": files, "salvaged": sum(int(e.get("salvaged", 0)) for e in entries),
                "incomplete": [name for name, e in zip(files, entries, strict=True) if not e.get("complete")]}

    def report_quarantines(self, device: DeviceConfig) -> int:
        """Queue a ``db_quarantined`` alarm for every moved-aside file not yet reported (also one moved by an
        earlier start that failed before it could queue it); returns how many were queued."""
        queued = 0
        led = ledger.read(self.home)
        for path in self.quarantine_files():
            entry = led.quarantines.get(path.name, {})
            if entry.get("reported"):
                continue
            self.enqueue_alarm(device, "db_quarantined",
                               f"moved aside as {path.name}; {int(entry.get('salvaged', 0))} undelivered "
                               f"message(s) salvaged{'' if entry.get('complete') else ', part unreadable'}",
                               "critical")
            with self._session.begin() as s:
                s.connection()
                fresh = ledger.read(self.home)
                fresh.quarantines.setdefault(path.name, {})["reported"] = True
                ledger.write(self.home, fresh)
            queued += 1
        return queued

    # -- the UI side -------------------------------------------------------------------------------

    def refusal(self) -> OutboxFull | None:
        """Why new submissions would be refused right now, or None. An outbox that could not be opened
        (``defer``) tries again here, with backoff, and until then refuses with the reason."""
        if not self._ready and not self.try_open():
            assert self.open_error is not None
            return self.open_error
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            free = 0
        if free < self.limits.min_free_bytes:
            return OutboxFull("disk_low", REFUSAL_MESSAGES["disk_low"])
        try:
            with self._session() as s:
                undelivered = s.scalar(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.state.in_((State.PENDING, State.SENT)),
                    OutboxMessage.priority == Priority.SUBMISSION, OutboxMessage.parent_id.is_(None))) or 0
        except DBAPIError as exc:
            trouble = unavailable(exc, self.home)
            if trouble is None:
                raise
            return trouble
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
        with self._writing() as s:
            seq = self._next_seq(s)
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
                    self._add(s, device, new_message_id(), self._next_seq(s), "attachment",
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
        with self._writing() as s:
            seq = self._next_seq(s)
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

    def pending_batch(self, limit: int, exclude: Iterable[str] = (), backlog_top: int = 0,
                      max_bytes: int | None = None) -> list[Outgoing]:
        """The next pending rows in delivery order, skipping ``exclude`` (published but not yet marked sent).

        Four lanes, each by sequence number (docs/PROTOCOL.md, "Delivery order"): applications (their
        envelopes, small), events, the photos of applications queued after ``backlog_top`` (the daemon's
        mark of the backlog it is draining: a resident may be waiting on the done screen), then the backlog's
        photos. So on a thin link a new application never waits behind yesterday's photos; telemetry goes only
        in the room left (the daemon). ``backlog_top`` 0: no backlog, photos in order. ``max_bytes``: stop
        reading once the bodies read reach it (photo chunks are ~240 KB each)."""
        skip = list(exclude)
        out: list[Outgoing] = []
        size = 0
        chunk = OutboxMessage.parent_id.is_not(None)
        lanes = [(OutboxMessage.priority == Priority.SUBMISSION) & OutboxMessage.parent_id.is_(None),
                 OutboxMessage.priority == Priority.EVENT,  # (state, priority, seq): in order, no sort
                 chunk & (OutboxMessage.seq > backlog_top)]
        if backlog_top:
            lanes.append(chunk & (OutboxMessage.seq <= backlog_top))
        with self._session() as s:
            for lane in lanes:
                if len(out) >= limit or (max_bytes is not None and size >= max_bytes):
                    break
                stmt = (select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.body)
                        .where(OutboxMessage.state == State.PENDING, lane)
                        .order_by(OutboxMessage.seq).limit(limit - len(out)))
                if skip:
                    stmt = stmt.where(OutboxMessage.id.not_in(skip))
                for r in s.execute(stmt):  # row by row: a byte cap stops the reading too
                    if r.body is None:
                        continue
                    out.append(Outgoing(r.id, r.kind, r.body))
                    size += len(r.body)
                    if max_bytes is not None and size >= max_bytes:
                        break
        return out

    def last_seq(self) -> int:
        """The last sequence number issued: the daemon reads ahead again when it rises (a new row)."""
        with self._session() as s:
            counter = s.get(Counter, "seq")
            return counter.value if counter is not None else 0

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

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database and truncate it (best effort: a reader may hold it).
        On a full disk the WAL would otherwise grow into the little room there is (up to the 1,000-page
        auto-checkpoint) while the daemon records deliveries."""
        with self.engine.connect() as conn:
            raw = conn.connection.dbapi_connection  # outside any transaction: a checkpoint cannot run in one
            assert raw is not None
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

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

    def _next_seq(self, s: Session) -> int:
        """The next message sequence number (receipt numbers are made from it). Numbers are reserved in
        blocks in the ledger (``sync.outbox.ledger``) before they are used, inside this write transaction, so
        no outbox that replaces this one can issue them again."""
        counter, ceiling = self._counter(s, "seq"), self._counter(s, "seq_ceiling")
        value = counter.value + 1
        if value > ceiling.value:
            led = ledger.read(self.home)
            if not led.readable:
                value += ledger.SEQ_BLOCK
            elif led.seq_ceiling > ceiling.value:
                value = max(value, led.seq_ceiling + 1)  # another outbox used numbers up to there
            led.seq_ceiling = value + ledger.SEQ_BLOCK - 1
            ledger.write(self.home, led)  # OSError (a full disk): the transaction fails, nothing is issued
            ceiling.value = led.seq_ceiling
        counter.value = value
        s.flush()
        return value

    @staticmethod
    def _put_states(s: Session, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            s.merge(SyncState(key=key, value=value))


def _absent(lo: int, hi: int, present: set[int]) -> list[tuple[int, int]]:
    """Ranges of [lo, hi] with no number in ``present``."""
    return seqranges.missing(lo - 1, [(n, n) for n in sorted(present) if lo <= n <= hi] + [(hi + 1, hi + 1)])


def open_outbox(home: Path, device: DeviceConfig | None, limits: Limits | None = None, *,
                defer: bool = False) -> Outbox:
    """Open the kiosk's outbox and queue a ``db_quarantined`` alarm for every file moved aside and not yet
    reported (with no device yet, the next open that has one queues it). Raises :class:`OutboxUnavailable`
    on a transient error, unless ``defer`` (see :class:`Outbox`)."""
    outbox = Outbox(home / "outbox.db", limits, defer=defer)
    if device is not None and outbox.ready:
        try:
            outbox.report_quarantines(device)
        except (OutboxUnavailable, DBAPIError, OSError) as exc:
            log.error("the db_quarantined alarm could not be queued yet (%s); the next start queues it",
                      type(exc).__name__)
    return outbox


def open_outbox_waiting(home: Path, device: DeviceConfig | None, stop: threading.Event,
                        on_wait: Callable[[OutboxUnavailable], None] | None = None,
                        first_delay_s: float = RETRY_FIRST_S, max_delay_s: float = RETRY_MAX_S) -> Outbox | None:
    """Open the outbox, waiting out a transient error with exponential backoff (a service must not exit and
    restart-loop over a full disk or a lock). ``on_wait`` runs before each wait (it may free room, e.g. a
    disk reserve). None if ``stop`` is set first."""
    delay = first_delay_s
    while not stop.is_set():
        try:
            return open_outbox(home, device)
        except OutboxUnavailable as exc:
            log.error("the outbox cannot be opened (%s); nothing was moved; trying again in %.1f s", exc, delay)
            if on_wait is not None:
                on_wait(exc)
            stop.wait(delay)
            delay = min(max_delay_s, delay * 2)
    return None


# Re-exported: the refusals and the quarantine moved to modules of their own (issue 15).
__all__ = ["QUARANTINE_MARK", "REFUSAL_MESSAGES", "Attachment", "Limits", "Outbox", "OutboxFull", "OutboxUnavailable",
           "Receipt", "is_corruption", "open_outbox", "open_outbox_waiting", "unavailable"]
