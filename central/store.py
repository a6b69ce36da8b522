"""The central's store: one transaction per ingest batch, idempotent by message id.

``apply`` returns, per device, the ids to acknowledge — only once their transaction has committed.
A submission with attachments is acknowledged only when every chunk of every file is stored and the
files reassemble to their checksums; each chunk is acknowledged as it is stored, so a kiosk resumes
an interrupted upload where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from central import daily_counts, feedback, sequences, submission_conflicts
from central.field_encryption import (
    EVENT,
    JSON_UTF8,
    SUBMISSION,
    FieldCipher,
    KeySource,
    listed_fields,
    masked_fields,
)
from central.messages import Incoming
from central.models import AttachmentChunk, AttachmentFile, Device, Event, Submission, TelemetrySample
from sync.runtime.sqlite import make_engine, upgrade

log = logging.getLogger("kiosk.central.store")

MIGRATIONS = Path(__file__).parent / "migrations"
RETRIES = 5


def _retryable(exc: OperationalError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("40P01", "40001") or "database is locked" in str(exc.orig)

class Acks(dict[str, list[str]]):
    """Ids to acknowledge per device; ``rejected`` holds (id, reason) the central refused per device;
    ``reconnected`` the kiosks whose status went online with a new connection in this batch, with their site
    and when the central last heard from them before (for the status catch-up, ``status_push.catch_up``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rejected: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.reconnected: dict[str, tuple[str, float]] = {}
        self.card_lookups: list[tuple[str, str, str]] = []  # (device, query, tag): central.card_lookup answers

    def merge(self, part: Acks) -> None:
        for device, ids in part.items():
            self.setdefault(device, []).extend(ids)
        for device, rejected in part.rejected.items():
            self.rejected[device].extend(rejected)
        self.reconnected.update(part.reconnected)
        self.card_lookups.extend(part.card_lookups)


@dataclass
class _Batch:
    """What one transaction of :meth:`CentralStore._apply` accumulates while its handlers run."""

    s: Session
    now: float
    acks: Acks
    seqs: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # tracked numbers per device
    fresh: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # ... of ids new here
    known: dict[str, str | None] = field(default_factory=dict)  # submission id -> stored digest
    held: dict[str, tuple[str, str]] = field(default_factory=dict)  # receipt number -> (submission, device)
    new_plain: dict[str, dict[str, Any]] = field(default_factory=dict)  # rows for one executemany INSERT
    after: list[Incoming] = field(default_factory=list)  # enrolments and resend answers, applied to the counts last
    _rules: tuple[str | None] | None = None  # the daily counts' rules once read (see counts_rules)

    def counts_rules(self) -> str | None:
        """The rules of the daily counts (``daily_counts.applications_rules``), read at the batch's first count
        and kept for the rest of its transaction, which holds the state row's lock from that read on."""
        if self._rules is None:
            self._rules = (daily_counts.applications_rules(self.s),)
        return self._rules[0]


class CentralStore:
    """``master_keys``: where the master key of the personal data at rest is read from when it is needed
    (``central.field_encryption``); by default ``$KIOSK_CENTRAL_MASTER_KEY`` or
    ``$KIOSK_CENTRAL_MASTER_KEY_FILE``. Storing a submission needs it; masked listings never do."""

    def __init__(self, db_url: str, *, master_keys: KeySource | None = None) -> None:
        self.engine = make_engine(db_url)
        upgrade(self.engine, MIGRATIONS)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self.fields = FieldCipher(self.engine, master_keys if master_keys is not None else KeySource.resolve())

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        return self._session()

    # -- ingest ----------------------------------------------------------------------------------------

    def apply(self, items: Sequence[Incoming], *, seen: bool = True) -> Acks:
        """Store a batch; return the ids to ack per device (after this returns, they are committed).

        ``seen=False`` leaves the devices' ``last_seen`` alone: an imported export (``central.importer``)
        is not a sign of life."""
        if not items:
            return Acks()
        if any(i.topic.kind == "submission" or i.opened for i in items):
            self.fields.ready()  # today's data key, committed before the batch's transaction takes the lock
        for attempt in range(RETRIES):
            try:
                try:
                    return self._apply(items, seen)
                except IntegrityError:
                    # Another worker stored one of these between our check and our commit: one by one.
                    return self._one_by_one(items, seen)
            except OperationalError as exc:
                # Deadlock / serialisation failure (PostgreSQL) or a lock held past the busy timeout
                # (SQLite): nothing was committed, so the whole batch can run again.
                if not _retryable(exc) or attempt == RETRIES - 1:
                    raise
                log.info("batch hit a lock conflict; retrying (attempt %d)", attempt + 2)
                threading.Event().wait(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311 - jitter
        raise AssertionError("unreachable")

    def _one_by_one(self, items: Sequence[Incoming], seen: bool = True) -> Acks:
        acks = Acks()
        for item in items:
            try:
                part = self._apply([item], seen)
            except IntegrityError:
                part = self._apply([item], seen)  # now it is a known duplicate
            acks.merge(part)
        return acks

    def _apply(self, items: Sequence[Incoming], seen: bool = True) -> Acks:
        """Store one batch in one transaction: each message through the handler of its kind, then the sequence
        bookkeeping and ``last_seen`` per device (:meth:`_finish`)."""
        with self._session.begin() as s:
            batch = _Batch(s, time.time(), Acks())
            # One query for the submissions already known and the receipt numbers already held; plain
            # submissions (no attachments, the common case) are inserted together at the end of the batch.
            batch.known, batch.held = submission_conflicts.known_and_held(s, items)
            handlers = {"submission": self._on_submission, "attachment": self._on_attachment,
                        "event": self._on_event, "telemetry": self._on_telemetry, "status": self._on_status}
            for item in items:
                env = item.envelope
                if env is not None and item.topic.kind in sequences.TRACKED_KINDS:
                    batch.seqs[env.device_id].append(env.seq)
                if item.refusal is not None:
                    assert env is not None
                    batch.acks.rejected[env.device_id].append((env.id, item.refusal))
                    continue
                handler = handlers.get(item.topic.kind)
                if handler is not None:
                    handler(batch, item)
            self._insert_plain(batch, batch.new_plain)
            self._finish(batch, items, seen)
        return batch.acks

    def _on_submission(self, b: _Batch, item: Incoming) -> None:
        env = item.envelope
        assert env is not None
        if env.id in b.known or env.id in b.new_plain:
            stored = b.known.get(env.id) if env.id in b.known else b.new_plain[env.id]["digest"]
            if stored and item.digest and stored != item.digest:
                submission_conflicts.id_reused(b.s, item, b.now, b.acks)
                return
        if env.id not in b.known and env.id not in b.new_plain:
            receipt_no = env.meta_str("receipt_no", 32)
            holder = b.held.get(receipt_no) if receipt_no else None
            if holder is not None and holder[0] != env.id:
                if holder[1] == env.device_id:
                    submission_conflicts.receipt_reused(b.s, item, receipt_no, holder[0], b.now, b.acks)
                    return
                submission_conflicts.receipt_collision(b.s, item, receipt_no, holder, b.now)
            if receipt_no:
                b.held[receipt_no] = (env.id, env.device_id)
        if env.id not in b.known and env.id not in b.new_plain and not env.meta.get("attachments"):
            b.new_plain[env.id] = self._submission_row(item, b.now)
            b.fresh[env.device_id].append(env.seq)
            b.acks.setdefault(env.device_id, []).append(env.id)
        elif env.id in b.new_plain:
            b.acks.setdefault(env.device_id, []).append(env.id)
        else:
            if b.new_plain:  # keep order: what this one depends on must be in the database
                self._insert_plain(b, b.new_plain)
                b.known.update({k: v["digest"] for k, v in b.new_plain.items()})
                b.new_plain = {}
            if self._submission(b, item):
                b.fresh[env.device_id].append(env.seq)

    def _on_attachment(self, b: _Batch, item: Incoming) -> None:
        if self._chunk(b.s, item, b.acks):
            assert item.envelope is not None
            b.fresh[item.envelope.device_id].append(item.envelope.seq)

    def _on_event(self, b: _Batch, item: Incoming) -> None:
        env = item.envelope
        assert env is not None
        outcome = self._event(b.s, item, b.now, b.acks)
        if outcome == "stored":
            b.fresh[env.device_id].append(env.seq)
            if env.meta.get("type") in ("enrol", "resend_result"):
                b.after.append(item)
        elif outcome == "refused":
            b.seqs[env.device_id].remove(env.seq)  # not the kiosk's until its enrolment is accepted

    def _on_telemetry(self, b: _Batch, item: Incoming) -> None:
        self._telemetry(b.s, item, b.now)

    def _on_status(self, b: _Batch, item: Incoming) -> None:
        self._status(b.s, item, b.now, b.acks)

    def _finish(self, b: _Batch, items: Sequence[Incoming], seen: bool) -> None:
        """Per device, in a fixed order so two workers never lock devices crosswise: an accepted enrolment
        restarts its sequence, the batch's numbers are noted, resend answers applied, ``last_seen`` set."""
        for device_id in sorted({i.device_id for i in items}):
            for item in b.after:
                if item.device_id == device_id and item.envelope and item.envelope.meta.get("type") == "enrol":
                    sequences.restart(b.s, device_id, item.envelope.seq, b.now)
            sequences.note(b.s, device_id, b.seqs.get(device_id, ()), b.fresh.get(device_id, ()), b.now)
            for item in b.after:
                if item.device_id == device_id and item.envelope \
                        and item.envelope.meta.get("type") == "resend_result":
                    sequences.apply_resend_result(b.s, device_id, item.envelope.meta, b.now)
            device = self._device(b.s, device_id)
            if seen:
                device.last_seen = b.now

    def _submission_row(self, item: Incoming, now: float) -> dict[str, Any]:
        env = item.envelope
        assert env is not None
        expected = len(env.meta.get("attachments", []))
        fields = item.opened.get("fields", [])
        data_key, sealed = self.fields.seal(SUBMISSION, env.id, fields)  # personal data: encrypted at rest
        return {"id": env.id, "device_id": env.device_id, "seq": env.seq,
                "service_code": env.meta_str("service_code"), "receipt_no": env.meta_str("receipt_no", 32),
                "created_at": env.created_at, "received_at": now, "fields_json": None, "fields_key": data_key,
                "fields_sealed": sealed,
                "fields_masked": JSON_UTF8.encode(masked_fields(fields if isinstance(fields, list) else [])),
                "attachments_expected": expected, "complete": expected == 0, "digest": item.digest or None}

    def _new_submission(self, item: Incoming, now: float) -> Submission:
        return Submission(**self._submission_row(item, now))

    @staticmethod
    def _insert_plain(b: _Batch, rows: dict[str, dict[str, Any]]) -> None:
        """Plain submissions of a batch in one Core executemany: the ORM's per-object bookkeeping (identity
        map, attribute events, unit of work) cost as much as the rest of ``apply`` and bought nothing here."""
        if rows:
            b.s.execute(insert(cast(Table, Submission.__table__)), list(rows.values()))
            # The statistics' counts, in the same transaction.
            daily_counts.applications_added(b.s, rows, rules=b.counts_rules())

    def _submission(self, b: _Batch, item: Incoming) -> bool:
        """Store (or find) a submission with attachments; True if it was new."""
        s = b.s
        env = item.envelope
        assert env is not None
        sub = s.get(Submission, env.id)
        new = sub is None
        if sub is None:
            sub = self._new_submission(item, b.now)
            s.add(sub)
            s.flush()
            daily_counts.applications_added(s, [sub.id], rules=b.counts_rules())
        if not sub.complete:
            self._check_complete(s, sub)
        if sub.complete:
            b.acks.setdefault(env.device_id, []).append(env.id)
        return new

    def _chunk(self, s: Session, item: Incoming, acks: Acks) -> bool:
        """Store a chunk (reassembling its file when complete); True if it was new."""
        env = item.envelope
        assert env is not None
        sub_id, file, chunk = env.meta_str("submission_id"), env.meta_int("file"), env.meta_int("chunk")
        acks.setdefault(env.device_id, []).append(env.id)  # stored now or before: either way durable after commit
        if s.get(AttachmentFile, (sub_id, file)) is not None \
                or s.get(AttachmentChunk, (sub_id, file, chunk)) is not None:
            return False
        s.add(AttachmentChunk(submission_id=sub_id, file=file, chunk=chunk, message_id=env.id,
                              device_id=env.device_id, chunks=env.meta_int("chunks"),
                              file_sha256=env.meta_str("file_sha256"), file_size=env.meta_int("file_size"),
                              data=env.sealed))
        s.flush()
        self._assemble(s, sub_id, file)
        sub = s.get(Submission, sub_id)
        if sub is not None and not sub.complete:
            self._check_complete(s, sub)
            if sub.complete:
                acks.setdefault(sub.device_id, []).append(sub.id)
        return True

    def _assemble(self, s: Session, sub_id: str, file: int) -> None:
        rows = s.scalars(select(AttachmentChunk).where(AttachmentChunk.submission_id == sub_id,
                                                       AttachmentChunk.file == file)
                         .order_by(AttachmentChunk.chunk)).all()
        if not rows or len(rows) != rows[0].chunks:
            return
        blob = b"".join(r.data for r in rows)
        digest = hashlib.sha256(blob).hexdigest()
        if digest != rows[0].file_sha256 or len(blob) != rows[0].file_size:
            log.error("attachment %d of %s does not reassemble to its checksum", file, sub_id)
            return
        s.add(AttachmentFile(submission_id=sub_id, file=file, size=len(blob), sha256=digest, sealed=blob))
        s.execute(delete(AttachmentChunk).where(AttachmentChunk.submission_id == sub_id,
                                                AttachmentChunk.file == file))

    @staticmethod
    def _check_complete(s: Session, sub: Submission) -> None:
        have = s.scalar(select(func.count()).select_from(AttachmentFile)
                        .where(AttachmentFile.submission_id == sub.id)) or 0
        if have >= sub.attachments_expected:
            sub.complete = True

    def _event(self, s: Session, item: Incoming, now: float, acks: Acks) -> str:
        """Store an event once: ``stored`` (new), ``known`` (a resend) or ``refused``."""
        env = item.envelope
        assert env is not None
        event_type = env.meta_str("type", 32)
        existing = s.get(Event, env.id)
        if existing is not None:
            if existing.digest and item.digest and existing.digest != item.digest:
                submission_conflicts.id_reused(s, item, now, acks)
                return "refused"
            acks.setdefault(env.device_id, []).append(env.id)
            return "known"
        if event_type == "enrol":
            from central.enrolment import EnrolmentRefused, accept

            try:
                with s.begin_nested():
                    accept(s, env.device_id, env.meta, now)
            except EnrolmentRefused as exc:
                log.warning("refused the enrolment of %s: %s", env.device_id, exc)
                acks.rejected[env.device_id].append((env.id, str(exc)))
                if str(exc) == "token_reused":
                    # Another machine presented the token this kiosk enrolled with: the operator is told (a
                    # warning, not a trust alarm), the enrolled kiosk is not touched.
                    from central.alarms import open_alarm

                    open_alarm(s, env.device_id, "enrolment_token_reused", "warning",
                               "another machine presented this kiosk's used enrolment token: refused; "
                               "this kiosk is not affected", now)
                return "refused"
        opened = item.opened
        if event_type == "card_lookup":  # a resident's card lookup (central/card_lookup.py): answered, not kept
            from sync.protocol.card_lookup import question

            asked, opened = question(env.meta, opened), {}
            if asked is not None:
                acks.card_lookups.append((env.device_id, *asked))
        private_key, private_sealed = self.fields.seal(EVENT, env.id, opened) if opened else (None, None)
        s.add(Event(id=env.id, device_id=env.device_id, seq=env.seq, type=event_type,
                    created_at=env.created_at, received_at=now,
                    meta_json=json.dumps(env.meta, ensure_ascii=False), private_json=None,
                    private_key=private_key, private_sealed=private_sealed, digest=item.digest or None))
        s.flush()  # a second copy of this id later in the batch finds it
        feedback.on_event(s, event_id=env.id, event_type=event_type, device_id=env.device_id, meta=env.meta,
                          created_at=env.created_at, now=now)  # 好差评 rows, rectification tickets
        if event_type == "alarm":  # a resident's call for staff: shown at once
            from central.alarms import open_live_alarm

            open_live_alarm(s, env.device_id, env.meta, env.id, now)
        acks.setdefault(env.device_id, []).append(env.id)
        return "stored"

    def _telemetry(self, s: Session, item: Incoming, now: float) -> None:
        env = item.envelope
        assert env is not None
        data = json.dumps(env.meta, ensure_ascii=False)
        s.add(TelemetrySample(device_id=env.device_id, at=env.created_at, data_json=data))
        device = self._device(s, env.device_id)
        device.telemetry_json = data

    def _status(self, s: Session, item: Incoming, now: float, acks: Acks) -> None:
        st = item.status
        device = self._device(s, item.device_id)
        if device.status == "retired":  # central.enrolment.retire: a re-enrolled kiosk's former identity
            return
        conn = int(st.get("conn", 0))
        # A Will that arrives after a newer connection's online (a smaller counter) is stale: ignored.
        if conn < device.conn:
            log.info("ignored a stale %s status from %s (connection %d < %d)", st["state"], item.device_id,
                     conn, device.conn)
            return
        new_connection = st["state"] == "online" and conn > device.conn
        previously_seen = device.last_seen
        device.conn = conn
        device.status = str(st["state"])
        device.status_at = now
        site = str(st.get("site", device.site))[:128]
        if site != device.site:  # its applications now count for the new site (central.daily_counts)
            with daily_counts.moving(s, Submission.device_id == item.device_id):
                device.site = site
        device.version = str(st.get("version", device.version))[:32]
        if new_connection:
            acks.reconnected[item.device_id] = (device.site, previously_seen)

    @staticmethod
    def _device(s: Session, device_id: str) -> Device:
        device = s.get(Device, device_id)
        if device is None:
            device = Device(device_id=device_id, site="", status="unknown", conn=0, status_at=0.0, last_seen=0.0,
                            version="", telemetry_json="{}")
            s.add(device)
            s.flush()
        return device

    # -- queries -----------------------------------------------------------------------------------------

    def count(self, complete_only: bool = False) -> int:
        stmt = select(func.count()).select_from(Submission)
        if complete_only:
            stmt = stmt.where(Submission.complete.is_(True))
        with self._session() as s:
            return s.scalar(stmt) or 0

    def duplicates(self) -> int:
        """Rows sharing a (device, seq): must always be 0."""
        with self._session() as s:
            sub = (select(Submission.device_id, Submission.seq).group_by(Submission.device_id, Submission.seq)
                   .having(func.count() > 1)).subquery()
            return s.scalar(select(func.count()).select_from(sub)) or 0

    def attachment(self, submission_id: str, file: int) -> AttachmentFile | None:
        with self._session() as s:
            return s.get(AttachmentFile, (submission_id, file))

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        stmt = select(Event).order_by(Event.received_at)
        if event_type:
            stmt = stmt.where(Event.type == event_type)
        with self._session() as s:
            return [{"id": e.id, "device_id": e.device_id, "type": e.type, "meta": json.loads(e.meta_json),
                     "created_at": e.created_at} for e in s.scalars(stmt)]

    def device(self, device_id: str) -> dict[str, Any] | None:
        with self._session() as s:
            d = s.get(Device, device_id)
            if d is None:
                return None
            return {"device_id": d.device_id, "site": d.site, "status": d.status, "conn": d.conn,
                    "status_at": d.status_at, "last_seen": d.last_seen, "version": d.version,
                    "telemetry": json.loads(d.telemetry_json)}

    def list_masked(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Submissions for listings and logs: personal data masked by field kind (from the masked copy made at
        ingest: this never decrypts, and works without the master key)."""
        with self._session() as s:
            rows = s.scalars(select(Submission).order_by(Submission.received_at.desc()).limit(limit)).all()
        out = []
        for r in rows:
            fields = listed_fields(r)
            out.append({
                "id": r.id, "device_id": r.device_id, "seq": r.seq, "service_code": r.service_code,
                "receipt_no": r.receipt_no, "created_at": r.created_at, "received_at": r.received_at,
                "complete": r.complete, "attachments": r.attachments_expected,
                "fields": [{"id": f.get("id"), "label": f.get("label"), "value": f.get("value")} for f in fields],
            })
        return out
