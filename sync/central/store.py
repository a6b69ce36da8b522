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
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from sync.central.messages import Incoming
from sync.central.models import AttachmentChunk, AttachmentFile, Device, Event, Submission, TelemetrySample
from sync.protocol.masking import mask_field
from sync.sqlite import make_engine, upgrade

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

    def merge(self, part: Acks) -> None:
        for device, ids in part.items():
            self.setdefault(device, []).extend(ids)
        for device, rejected in part.rejected.items():
            self.rejected[device].extend(rejected)
        self.reconnected.update(part.reconnected)


class CentralStore:
    def __init__(self, db_url: str) -> None:
        self.engine = make_engine(db_url)
        upgrade(self.engine, MIGRATIONS)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        return self._session()

    # -- ingest ----------------------------------------------------------------------------------------

    def apply(self, items: Sequence[Incoming], *, seen: bool = True) -> Acks:
        """Store a batch; return the ids to ack per device (after this returns, they are committed).

        ``seen=False`` leaves the devices' ``last_seen`` alone: an imported export (``sync.central.importer``)
        is not a sign of life."""
        if not items:
            return Acks()
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
        from sync.central import sequences  # here: sequences -> fleet -> store

        acks = Acks()
        now = time.time()
        seqs: dict[str, list[int]] = defaultdict(list)  # tracked numbers per device in this batch
        fresh: dict[str, list[int]] = defaultdict(list)  # ... of messages whose id is new here
        with self._session.begin() as s:
            # One query for the submissions already known, one for the devices; plain submissions (no
            # attachments, the common case) are inserted together at the end of the batch.
            sub_ids = [i.envelope.id for i in items if i.topic.kind == "submission" and i.envelope is not None
                       and i.refusal is None]
            known: dict[str, str | None] = {}
            if sub_ids:
                for sub_id, sub_digest in s.execute(select(Submission.id, Submission.digest)
                                                    .where(Submission.id.in_(sub_ids))):
                    known[sub_id] = sub_digest
            new_plain: dict[str, dict[str, Any]] = {}  # rows for one executemany INSERT (no ORM objects)
            after: list[Incoming] = []  # enrolments and resend answers, applied to the counts last
            for item in items:
                kind = item.topic.kind
                env = item.envelope
                if env is not None and kind in sequences.TRACKED_KINDS:
                    seqs[env.device_id].append(env.seq)
                if item.refusal is not None:
                    assert env is not None
                    acks.rejected[env.device_id].append((env.id, item.refusal))
                    continue
                if kind == "submission":
                    assert env is not None
                    if env.id in known or env.id in new_plain:
                        stored = known.get(env.id) if env.id in known else new_plain[env.id]["digest"]
                        if stored and item.digest and stored != item.digest:
                            self._id_reused(s, item, now, acks)
                            continue
                    if env.id not in known and env.id not in new_plain and not env.meta.get("attachments"):
                        new_plain[env.id] = self._submission_row(item, now)
                        fresh[env.device_id].append(env.seq)
                        acks.setdefault(env.device_id, []).append(env.id)
                    elif env.id in new_plain:
                        acks.setdefault(env.device_id, []).append(env.id)
                    else:
                        if new_plain:  # keep order: what this one depends on must be in the database
                            self._insert_plain(s, new_plain)
                            known.update({k: v["digest"] for k, v in new_plain.items()})
                            new_plain = {}
                        if self._submission(s, item, now, acks):
                            fresh[env.device_id].append(env.seq)
                elif kind == "attachment":
                    if self._chunk(s, item, acks):
                        assert env is not None
                        fresh[env.device_id].append(env.seq)
                elif kind == "event":
                    assert env is not None
                    outcome = self._event(s, item, now, acks)
                    if outcome == "stored":
                        fresh[env.device_id].append(env.seq)
                        if env.meta.get("type") in ("enrol", "resend_result"):
                            after.append(item)
                    elif outcome == "refused":
                        seqs[env.device_id].remove(env.seq)  # not the kiosk's until its enrolment is accepted
                elif kind == "telemetry":
                    self._telemetry(s, item, now)
                elif kind == "status":
                    self._status(s, item, now, acks)
            self._insert_plain(s, new_plain)
            # last_seen once per device, in a fixed order so two workers never lock devices crosswise.
            for device_id in sorted({i.device_id for i in items}):
                for item in after:
                    if item.device_id == device_id and item.envelope and item.envelope.meta.get("type") == "enrol":
                        sequences.restart(s, device_id, item.envelope.seq, now)
                sequences.note(s, device_id, seqs.get(device_id, ()), fresh.get(device_id, ()), now)
                for item in after:
                    if item.device_id == device_id and item.envelope \
                            and item.envelope.meta.get("type") == "resend_result":
                        sequences.apply_resend_result(s, device_id, item.envelope.meta, now)
                device = self._device(s, device_id)
                if seen:
                    device.last_seen = now
        return acks

    @staticmethod
    def _id_reused(s: Session, item: Incoming, now: float, acks: Acks) -> None:
        """A known id with other signed content: not a resend. Refused, and an operator is told."""
        from sync.central.fleet import open_alarm

        env = item.envelope
        assert env is not None
        log.warning("refused a %s from %s: its id is stored with other content", env.kind, env.device_id)
        open_alarm(s, env.device_id, "id_reused", "critical", f"a {env.kind} id came again with other content", now)
        acks.rejected[env.device_id].append((env.id, "id already stored with other content"))

    @staticmethod
    def _submission_row(item: Incoming, now: float) -> dict[str, Any]:
        env = item.envelope
        assert env is not None
        expected = len(env.meta.get("attachments", []))
        return {"id": env.id, "device_id": env.device_id, "seq": env.seq,
                "service_code": env.meta_str("service_code"), "receipt_no": env.meta_str("receipt_no", 32),
                "created_at": env.created_at, "received_at": now,
                "fields_json": json.dumps(item.opened.get("fields", []), ensure_ascii=False),
                "attachments_expected": expected, "complete": expected == 0, "digest": item.digest or None}

    @classmethod
    def _new_submission(cls, item: Incoming, now: float) -> Submission:
        return Submission(**cls._submission_row(item, now))

    @staticmethod
    def _insert_plain(s: Session, rows: dict[str, dict[str, Any]]) -> None:
        """Plain submissions of a batch in one Core executemany: the ORM's per-object bookkeeping (identity
        map, attribute events, unit of work) cost as much as the rest of ``apply`` and bought nothing here."""
        if rows:
            s.execute(insert(cast(Table, Submission.__table__)), list(rows.values()))

    def _submission(self, s: Session, item: Incoming, now: float, acks: Acks) -> bool:
        """Store (or find) a submission with attachments; True if it was new."""
        env = item.envelope
        assert env is not None
        sub = s.get(Submission, env.id)
        new = sub is None
        if sub is None:
            sub = self._new_submission(item, now)
            s.add(sub)
            s.flush()
        if not sub.complete:
            self._check_complete(s, sub)
        if sub.complete:
            acks.setdefault(env.device_id, []).append(env.id)
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
                self._id_reused(s, item, now, acks)
                return "refused"
            acks.setdefault(env.device_id, []).append(env.id)
            return "known"
        if event_type == "enrol":
            from sync.central.enrolment import EnrolmentRefused, accept

            try:
                with s.begin_nested():
                    accept(s, env.device_id, env.meta, now)
            except EnrolmentRefused as exc:
                log.warning("refused the enrolment of %s: %s", env.device_id, exc)
                acks.rejected[env.device_id].append((env.id, str(exc)))
                return "refused"
        s.add(Event(id=env.id, device_id=env.device_id, seq=env.seq, type=event_type,
                    created_at=env.created_at, received_at=now,
                    meta_json=json.dumps(env.meta, ensure_ascii=False),
                    private_json=json.dumps(item.opened, ensure_ascii=False) if item.opened else None,
                    digest=item.digest or None))
        s.flush()  # a second copy of this id later in the batch finds it
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
        device.site = str(st.get("site", device.site))[:128]
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
        """Submissions for listings and logs: personal data masked by field kind."""
        with self._session() as s:
            rows = s.scalars(select(Submission).order_by(Submission.received_at.desc()).limit(limit)).all()
        out = []
        for r in rows:
            fields = json.loads(r.fields_json)
            out.append({
                "id": r.id, "device_id": r.device_id, "seq": r.seq, "service_code": r.service_code,
                "receipt_no": r.receipt_no, "created_at": r.created_at, "received_at": r.received_at,
                "complete": r.complete, "attachments": r.attachments_expected,
                "fields": [{"id": f.get("id"), "label": f.get("label"),
                            "value": mask_field(str(f.get("kind", "")), f.get("value"))} for f in fields],
            })
        return out
