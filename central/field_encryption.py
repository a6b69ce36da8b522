"""Personal data at rest at the central: envelope encryption of a submission's fields (and of an event's
sealed part, e.g. a complaint's phone number) with AES-256-GCM (issue 13 item 14).

- A **data key** (32 random bytes) encrypts the records; each ingest process makes one per UTC day (and a new
  one after ``MAX_USES`` records) and stores it in ``data_keys`` only **wrapped**: AES-GCM under the master
  key, with the data key's id as associated data.
- A record is ``b"\\x01" + nonce(12) + AES-GCM(data key, JSON, aad = purpose + record id)``: a ciphertext
  copied onto another row, or from a submission to an event, does not open.
- The **master key** (32 bytes) never enters the database. It is read, in this order, from ``--master-key
  PATH``, ``$KIOSK_CENTRAL_MASTER_KEY`` (the keys inline), ``$KIOSK_CENTRAL_MASTER_KEY_FILE``, or
  ``{central home}/master.key`` (0600). A key ring is one or more base64 keys separated by white space or
  commas; the first is the active one (it wraps new data keys), the others only unwrap. A key's id is a
  hash of the key (``key_id``), stored beside each wrapped data key.
- **Rotation** (``rotate``): a new master key goes first in the key file, every data key is unwrapped with
  its old master key and wrapped again with the new one (the records are not touched), and the old key is
  removed from the file (retired). A process that already runs reloads the key file when it makes a data
  key or meets a data key wrapped by a key it does not hold.
- The masked copy of the fields (``fields_masked``: masked by ``sync.protocol.masking`` at ingest) is what
  listings read: masked views never need, nor touch, the master key.
- Rows stored before this (``fields_json`` / ``private_json`` in clear) are encrypted by
  ``encrypt_existing`` (``kiosk-central datakey encrypt-existing``; ``serve`` runs it at start), which on
  SQLite also rewrites the file (VACUUM) so that the freed pages do not keep the clear text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import Session, object_session

from central import face_result
from central.models import DataKey, Event, Submission
from sync.protocol.masking import mask_field
from sync.runtime.files import write_private

log = logging.getLogger("kiosk.central.fields")

MASTER_KEY_FILE = "master.key"
ENV_KEYS = "KIOSK_CENTRAL_MASTER_KEY"
ENV_FILE = "KIOSK_CENTRAL_MASTER_KEY_FILE"
KEY_BYTES = 32
NONCE_BYTES = 12
VERSION = b"\x01"
MAX_USES = 1_000_000  # records per data key (random 96-bit nonces stay far below the collision bound)
SUBMISSION = "submission"
EVENT = "event"
_RECORD_AAD = b"kiosk-central record v1\x00"
# json.dumps(value, ensure_ascii=False) without building an encoder per call (it holds no state between calls).
JSON_UTF8 = json.JSONEncoder(ensure_ascii=False)
_WRAP_AAD = b"kiosk-central data key v1\x00"
_ID_PREFIX = b"kiosk-central master key id v1\x00"


class FieldKeyError(RuntimeError):
    """No master key, a master key that does not open a data key, or a record that does not open."""


class MasterKeyMissing(FieldKeyError):
    pass


def key_id(key: bytes) -> str:
    """A master key's public name: 16 hex characters of SHA-256 over a domain-separated key."""
    return hashlib.sha256(_ID_PREFIX + key).hexdigest()[:16]


def new_master_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


@dataclass(frozen=True)
class MasterKeys:
    """A key ring: ``keys[0]`` is active. ``origin`` says where it came from (for messages, never the key)."""

    keys: tuple[bytes, ...]
    origin: str
    path: Path | None = None  # the file, when it came from one (rotation rewrites it)

    def __post_init__(self) -> None:
        if not self.keys:
            raise FieldKeyError(f"{self.origin}: no master key")
        for k in self.keys:
            if len(k) != KEY_BYTES:
                raise FieldKeyError(f"{self.origin}: a master key must be {KEY_BYTES} bytes (base64)")

    @property
    def active(self) -> bytes:
        return self.keys[0]

    @property
    def active_id(self) -> str:
        return key_id(self.keys[0])

    @property
    def ids(self) -> list[str]:
        return [key_id(k) for k in self.keys]

    def by_id(self, wanted: str) -> bytes | None:
        return next((k for k in self.keys if key_id(k) == wanted), None)

    @staticmethod
    def parse(text: str, origin: str, path: Path | None = None) -> MasterKeys:
        keys = []
        for word in text.replace(",", " ").split():
            try:
                keys.append(base64.b64decode(word, validate=True))
            except (ValueError, binascii.Error):
                raise FieldKeyError(f"{origin}: not base64 keys") from None
        return MasterKeys(tuple(keys), origin, path)

    def text(self) -> str:
        return "".join(base64.b64encode(k).decode("ascii") + "\n" for k in self.keys)


@dataclass(frozen=True)
class KeySource:
    """Where the master key ring is read from (read again on each ``load``)."""

    path: Path | None = None  # an explicit file (--master-key), or the home's default file
    inline: str | None = None  # $KIOSK_CENTRAL_MASTER_KEY

    @staticmethod
    def resolve(home: Path | None = None, path: str | Path | None = None) -> KeySource:
        """--master-key PATH, else $KIOSK_CENTRAL_MASTER_KEY, else $KIOSK_CENTRAL_MASTER_KEY_FILE, else
        ``{home}/master.key`` (``home`` None: no file)."""
        if path:
            return KeySource(path=Path(path))
        if os.environ.get(ENV_KEYS):
            return KeySource(inline=os.environ[ENV_KEYS])
        if os.environ.get(ENV_FILE):
            return KeySource(path=Path(os.environ[ENV_FILE]))
        return KeySource(path=home / MASTER_KEY_FILE if home is not None else None)

    def describe(self) -> str:
        if self.inline is not None:
            return f"${ENV_KEYS}"
        return str(self.path) if self.path is not None else "no master key configured"

    def exists(self) -> bool:
        return self.inline is not None or (self.path is not None and self.path.exists())

    def load(self) -> MasterKeys:
        if self.inline is not None:
            return MasterKeys.parse(self.inline, f"${ENV_KEYS}")
        if self.path is None:
            raise MasterKeyMissing(f"no master key: set ${ENV_KEYS} or ${ENV_FILE}, or give --master-key")
        try:
            text = self.path.read_text("ascii")
        except FileNotFoundError:
            raise MasterKeyMissing(f"no master key file {self.path}: create one with "
                                   "`kiosk-central datakey init`") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise FieldKeyError(f"{self.path}: cannot read the master key ({type(exc).__name__})") from None
        return MasterKeys.parse(text, str(self.path), self.path)

    def create(self) -> MasterKeys:
        """Write a new key file (0600); refuses to replace one, and refuses for inline keys."""
        if self.path is None or self.inline is not None:
            raise FieldKeyError(f"the master key comes from {self.describe()}: nothing to create")
        if self.path.exists():
            raise FieldKeyError(f"{self.path} exists: refusing to replace a master key (use `datakey rotate`)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = MasterKeys((new_master_key(),), str(self.path), self.path)
        write_private(self.path, keys.text())
        return keys


def _record_aad(purpose: str, record_id: str) -> bytes:
    return _RECORD_AAD + purpose.encode("ascii") + b"\x00" + record_id.encode("utf-8")


def wrap(master: bytes, data_key_id: str, data_key: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return VERSION + nonce + AESGCM(master).encrypt(nonce, data_key, _WRAP_AAD + data_key_id.encode("ascii"))


def unwrap(master: bytes, data_key_id: str, wrapped: bytes) -> bytes:
    if wrapped[:1] != VERSION:
        raise FieldKeyError(f"data key {data_key_id}: unknown format")
    nonce, body = wrapped[1:1 + NONCE_BYTES], wrapped[1 + NONCE_BYTES:]
    try:
        return AESGCM(master).decrypt(nonce, body, _WRAP_AAD + data_key_id.encode("ascii"))
    except InvalidTag:
        raise FieldKeyError(f"data key {data_key_id} does not open with its master key") from None


@dataclass
class _Writing:
    id: str
    aead: AESGCM
    period: str
    uses: int = 0


EVIDENCE_LEVELS = ("A", "B", "C", "D")  # 国办函〔2016〕108号: e-licence verified, staff, photo, declaration


def masked_fields(fields: Iterable[Any]) -> list[dict[str, Any]]:
    """What listings show of a submission's fields: id, label, kind and the masked value."""
    out = []
    for f in fields:
        if isinstance(f, dict):
            kind = str(f.get("kind", ""))
            entry = {"id": f.get("id"), "label": f.get("label"), "kind": kind,
                     "value": mask_field(kind, f.get("value"))}
            if f.get("evidence") in EVIDENCE_LEVELS:  # how a material was obtained: no personal data (issue 20)
                entry["evidence"] = f["evidence"]
            if kind == face_result.KIND:  # 人证核验: the result and its band, no personal data (issue 20)
                entry.update(face_result.listed(f))
            out.append(entry)
    return out


def _period(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


class FieldCipher:
    """Seals and opens records with data keys; one per ``CentralStore``, shared by its threads."""

    def __init__(self, engine: Engine, source: KeySource) -> None:
        self.engine = engine
        self.source = source
        self._lock = threading.Lock()
        self._keys: MasterKeys | None = None
        self._writing: _Writing | None = None
        self._open: dict[str, AESGCM] = {}

    # -- keys -----------------------------------------------------------------------------------------------

    def master_keys(self, *, reload: bool = False) -> MasterKeys:
        if self._keys is None or reload:
            self._keys = self.source.load()
        return self._keys

    def ready(self, now: float | None = None) -> None:
        """Make sure a data key of this period is stored (committed) before a batch's transaction begins."""
        now = time.time() if now is None else now
        period = _period(now)
        with self._lock:
            w = self._writing
            if w is not None and w.period == period and w.uses < MAX_USES:
                return
            keys = self.master_keys(reload=True)  # a rotation since the last data key: wrap with the new key
            data_key = AESGCM.generate_key(bit_length=256)
            dk_id = uuid.uuid4().hex
            with self.engine.begin() as conn:
                conn.execute(insert(DataKey).values(id=dk_id, master_key_id=keys.active_id,
                                                    wrapped=wrap(keys.active, dk_id, data_key),
                                                    created_at=now, period=period, rewrapped_at=None))
            aead = AESGCM(data_key)
            self._writing = _Writing(dk_id, aead, period)
            self._open[dk_id] = aead
            log.info("new data key %s for %s (master key %s)", dk_id, period, keys.active_id)

    def seal(self, purpose: str, record_id: str, value: Any) -> tuple[str, bytes]:
        """(data key id, ciphertext) of ``value`` as JSON; ``ready`` must have run before."""
        w = self._writing
        if w is None:
            raise FieldKeyError("no data key: FieldCipher.ready() was not called")
        w.uses += 1
        nonce = os.urandom(NONCE_BYTES)
        plain = JSON_UTF8.encode(value).encode("utf-8")
        return w.id, VERSION + nonce + w.aead.encrypt(nonce, plain, _record_aad(purpose, record_id))

    def _data_key(self, dk_id: str, session: Session | None = None) -> AESGCM:
        aead = self._open.get(dk_id)
        if aead is not None:
            return aead
        query = select(DataKey.master_key_id, DataKey.wrapped).where(DataKey.id == dk_id)
        if session is not None:  # the caller's transaction (a second connection would wait on its SQLite lock)
            row = session.execute(query).first()
        else:
            with self.engine.connect() as conn:
                row = conn.execute(query).first()
        if row is None:
            raise FieldKeyError(f"data key {dk_id} is not in the database")
        master_id, wrapped = row
        keys = self.master_keys()
        master = keys.by_id(master_id)
        if master is None:
            keys = self.master_keys(reload=True)  # rotated since this process loaded the ring
            master = keys.by_id(master_id)
        if master is None:
            raise FieldKeyError(f"data key {dk_id} is wrapped by master key {master_id}, which "
                                f"{self.source.describe()} does not hold (retired, or another key file)")
        aead = AESGCM(unwrap(master, dk_id, bytes(wrapped)))
        with self._lock:
            self._open[dk_id] = aead
        return aead

    def open(self, purpose: str, record_id: str, dk_id: str, sealed: bytes, session: Session | None = None) -> Any:
        """Decrypt one record. Only the audited full view and the back-office hand-off call this."""
        sealed = bytes(sealed)
        if sealed[:1] != VERSION:
            raise FieldKeyError(f"{purpose} {record_id}: unknown format")
        aead = self._data_key(dk_id, session)
        nonce, body = sealed[1:1 + NONCE_BYTES], sealed[1 + NONCE_BYTES:]
        try:
            plain = aead.decrypt(nonce, body, _record_aad(purpose, record_id))
        except InvalidTag:
            raise FieldKeyError(f"{purpose} {record_id} does not open: its ciphertext belongs to another "
                                "record or was altered") from None
        return json.loads(plain)

    def submission_fields(self, row: Submission) -> list[dict[str, Any]]:
        """A stored submission's fields in clear (a row stored before encryption: its clear column)."""
        if row.fields_sealed is not None and row.fields_key is not None:
            fields = self.open(SUBMISSION, row.id, row.fields_key, row.fields_sealed, object_session(row))
        else:
            fields = json.loads(row.fields_json or "[]")
        return fields if isinstance(fields, list) else []

    def event_private(self, row: Event) -> dict[str, Any] | None:
        if row.private_sealed is not None and row.private_key is not None:
            value = self.open(EVENT, row.id, row.private_key, row.private_sealed, object_session(row))
        else:
            value = json.loads(row.private_json) if row.private_json else None
        return value if isinstance(value, dict) else None


def listed_fields(row: Submission) -> list[dict[str, Any]]:
    """The masked fields of a row for listings: never decrypts (a row stored before encryption and not yet
    migrated is masked from its clear column)."""
    if row.fields_masked is not None:
        fields = json.loads(row.fields_masked)
        return fields if isinstance(fields, list) else []
    return masked_fields(json.loads(row.fields_json or "[]"))


# -- rotation and migration ---------------------------------------------------------------------------------

BATCH = 500


def rewrap(engine: Engine, keys: MasterKeys, now: float | None = None) -> int:
    """Wrap every data key not wrapped by the active master key again with it; the number re-wrapped.

    Raises :class:`FieldKeyError` (before changing anything of that data key) when its master key is not in
    the ring."""
    now = time.time() if now is None else now
    done = 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(select(DataKey.id, DataKey.master_key_id, DataKey.wrapped)
                                .where(DataKey.master_key_id != keys.active_id).order_by(DataKey.id)
                                .limit(BATCH)).all()
            if not rows:
                return done
            for dk_id, master_id, wrapped in rows:
                old = keys.by_id(master_id)
                if old is None:
                    raise FieldKeyError(f"data key {dk_id} is wrapped by master key {master_id}, which the key "
                                        "ring does not hold: add that key as a second key, then re-wrap")
                data_key = unwrap(old, dk_id, bytes(wrapped))
                conn.execute(update(DataKey).where(DataKey.id == dk_id, DataKey.master_key_id == master_id)
                             .values(master_key_id=keys.active_id, wrapped=wrap(keys.active, dk_id, data_key),
                                     rewrapped_at=now))
                done += 1


def data_key_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {m: n for m, n in conn.execute(select(DataKey.master_key_id, func.count())
                                                .group_by(DataKey.master_key_id))}


def rotate(engine: Engine, source: KeySource, now: float | None = None) -> dict[str, Any]:
    """New master key; every data key re-wrapped with it; the old key(s) retired (removed from the key file).

    Crash-safe in this order: the file first holds the new key *and* the old ones, so whatever is interrupted
    still opens; the old keys leave the file only once no data key is wrapped by them. Running it again (or
    ``retire``) finishes an interrupted rotation."""
    if source.inline is not None or source.path is None:
        raise FieldKeyError(f"the master key comes from {source.describe()}: put the new key first in it "
                            "yourself, restart, run `kiosk-central datakey rewrap`, then remove the old key")
    old = source.load()
    new = MasterKeys((new_master_key(), *old.keys), old.origin, old.path)
    write_private(source.path, new.text())
    rewrapped = rewrap(engine, new, now)
    retired = retire(engine, source)
    return {"active": new.active_id, "rewrapped": rewrapped, "retired": retired}


def retire(engine: Engine, source: KeySource) -> list[str]:
    """Remove from the key file every key but the active one, once no data key is wrapped by it."""
    keys = source.load()
    if source.path is None or source.inline is not None:
        raise FieldKeyError(f"the master key comes from {source.describe()}: remove the old key there")
    in_use = data_key_counts(engine)
    still = [i for i in keys.ids[1:] if in_use.get(i)]
    if still:
        raise FieldKeyError(f"master key(s) {', '.join(still)} still wrap data keys: run `datakey rewrap` first")
    retired = keys.ids[1:]
    if retired:
        write_private(source.path, MasterKeys((keys.active,), keys.origin, keys.path).text())
    return retired


def clear_rows(engine: Engine) -> dict[str, int]:
    """Rows still holding personal data in clear (stored before encryption)."""
    with engine.connect() as conn:
        subs = conn.scalar(select(func.count()).select_from(Submission).where(Submission.fields_json.is_not(None)))
        events = conn.scalar(select(func.count()).select_from(Event).where(Event.private_json.is_not(None)))
    return {"submissions": subs or 0, "events": events or 0}


def encrypt_existing(engine: Engine, cipher: FieldCipher, *, vacuum: bool = True,
                     progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Encrypt rows stored in clear before revision c0011, in batches; on SQLite, then rewrite the file so
    that no freed page keeps the clear text (PostgreSQL: ``VACUUM FULL`` on request, see OPERATIONS.md)."""
    counts = {"submissions": 0, "events": 0}
    while True:
        cipher.ready()
        with engine.begin() as conn:
            rows = conn.execute(select(Submission.id, Submission.fields_json)
                                .where(Submission.fields_json.is_not(None)).limit(BATCH)).all()
            for sub_id, clear in rows:
                fields = json.loads(str(clear))
                dk_id, sealed = cipher.seal(SUBMISSION, sub_id, fields)
                conn.execute(update(Submission).where(Submission.id == sub_id)
                             .values(fields_json=None, fields_key=dk_id, fields_sealed=sealed,
                                     fields_masked=json.dumps(masked_fields(fields), ensure_ascii=False)))
            events = conn.execute(select(Event.id, Event.private_json)
                                  .where(Event.private_json.is_not(None)).limit(BATCH)).all()
            for ev_id, clear in events:
                dk_id, sealed = cipher.seal(EVENT, ev_id, json.loads(str(clear)))
                conn.execute(update(Event).where(Event.id == ev_id)
                             .values(private_json=None, private_key=dk_id, private_sealed=sealed))
        counts["submissions"] += len(rows)
        counts["events"] += len(events)
        if progress is not None:
            progress(counts["submissions"] + counts["events"])
        if not rows and not events:
            break
    if vacuum and (counts["submissions"] or counts["events"]) and engine.dialect.name == "sqlite":
        compact_sqlite(engine)
    return counts


def compact_sqlite(engine: Engine) -> None:
    """VACUUM and truncate the WAL: the pages that held the clear text are rewritten, not just freed."""
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("VACUUM")
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")


__all__ = ["EVENT", "SUBMISSION", "FieldCipher", "FieldKeyError", "KeySource", "MasterKeyMissing", "MasterKeys",
           "clear_rows", "data_key_counts", "encrypt_existing", "key_id", "listed_fields", "masked_fields",
           "new_master_key", "retire", "rewrap", "rotate"]
