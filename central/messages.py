"""Parsing, authenticating and opening what arrives on ``kiosk/v1/+/up/#``: the ingest worker's first step,
before any database work. Every refusal carries a reason that is safe to log (no personal data).

Order of checks: the envelope's form; its ``device_id`` against the topic's; its device signature against
the key that device enrolled (an ``enrol`` event against the key it carries: proof that the kiosk holds
it, the token then decides); then the content. A refusal before the signature verified is never told to
the topic's device (the message is not provably that device's: a rejection would let a forger cancel the
real kiosk's message by id) and carries an ``alarm``; one after it is told (``message_id``) and its
sequence number counts as received (``authenticated``)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from central.keys import CentralKeys
from sync.protocol import batch as batches
from sync.protocol import signing, strict_json
from sync.protocol.envelope import Envelope, EnvelopeError
from sync.protocol.sealing import SealError
from sync.protocol.signing import VerifyKey
from sync.protocol.topics import Topic, TopicError

MAX_ATTACHMENTS = 20
MAX_CHUNKS = 4096


class DeviceKeys(Protocol):
    """Where enrolled device keys come from (``central.trust.Keyring``)."""

    def get(self, device_id: str, *, fresh: bool = False) -> VerifyKey | None: ...


class Refused(ValueError):
    """A message the central will not store; ``message_id`` set when the kiosk can be told. ``alarm`` is
    ``(code, severity, detail)`` for refusals an operator must see (trust failures); ``envelope`` is set
    when the message was authenticated (its sequence number is then accounted for)."""

    def __init__(self, reason: str, message_id: str | None = None, *, alarm: tuple[str, str, str] | None = None,
                 envelope: Envelope | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message_id = message_id
        self.alarm = alarm
        self.envelope = envelope


@dataclass(frozen=True)
class Incoming:
    topic: Topic
    envelope: Envelope | None  # None for status messages
    opened: dict[str, Any] = field(default_factory=dict)  # the opened sealed part, if any
    status: dict[str, Any] = field(default_factory=dict)  # for up/status
    digest: str = ""  # SHA-256 of what the device signed: the same id with other content is refused
    refusal: str | None = None  # authenticated but refused: nothing stored, the kiosk is told after commit

    @property
    def device_id(self) -> str:
        return self.topic.device_id


def _open_json(keys: CentralKeys, env: Envelope, aad: bytes) -> dict[str, Any]:
    try:
        plain = keys.opener.open(env.sealed, aad=aad)
    except SealError as exc:
        raise Refused(f"sealed payload: {exc}", env.id) from exc
    try:
        body = strict_json.loads(plain)
    except (ValueError, RecursionError) as exc:
        raise Refused("sealed payload is not JSON", env.id) from exc
    if not isinstance(body, dict):
        raise Refused("sealed payload is not an object", env.id)
    return body


def _enrol_key(env: Envelope) -> VerifyKey | None:
    if env.kind != "event" or env.meta.get("type") != "enrol":
        return None
    try:
        return signing.public_key(base64.b64decode(str(env.meta.get("device_public_key", "")), validate=True))
    except (binascii.Error, ValueError):
        return None


def authenticate(topic: Topic, env: Envelope, device_keys: DeviceKeys) -> str:
    """Check the envelope is the topic's device's and signed by its key; the digest of the signed bytes."""
    if env.device_id != topic.device_id:
        # Never told to the topic's device: the message is not what that device sent.
        raise Refused("device id does not match the topic",
                      alarm=("topic_mismatch", "critical", f"a message naming {env.device_id} on this kiosk's topic"))
    key = _enrol_key(env) or device_keys.get(env.device_id)
    if key is None:
        raise Refused("unknown device", alarm=("unknown_device", "critical",
                                               "messages from a kiosk with no enrolled key"))
    try:
        try:
            data = signing.verify(env, key)
        except signing.SignatureError as exc:
            if exc.code != signing.BAD_SIGNATURE:
                raise
            fresh = device_keys.get(env.device_id, fresh=True)  # re-enrolled since the cache was filled?
            if fresh is None or _enrol_key(env) is not None:
                raise
            data = signing.verify(env, fresh)
    except signing.SignatureError as exc:
        code = "unsigned" if exc.code == signing.UNSIGNED else "bad_signature"
        raise Refused(f"device signature: {exc.code}", alarm=(code, "critical", f"{env.kind} refused: {exc.code}")) \
            from exc
    return hashlib.sha256(data).hexdigest()


def parse(keys: CentralKeys, topic: Topic, payload: bytes, device_keys: DeviceKeys) -> Incoming:
    if topic.kind == "batch":
        raise Refused("a batch is read by parse_batch")
    if topic.kind == "status":
        try:
            status = strict_json.loads(payload)  # every number bounded (64-bit integers, finite floats)
        except (ValueError, RecursionError) as exc:
            raise Refused("malformed status") from exc
        if not isinstance(status, dict) or status.get("state") not in ("online", "offline"):
            raise Refused("malformed status")
        conn = status.get("conn", 0)  # the kiosk's connection counter: a whole number, stored in 64 bits
        if not strict_json.is_int64(conn) or conn < 0:
            raise Refused("malformed status: conn is not a connection counter")
        return Incoming(topic, None, status=status)
    try:
        env = Envelope.from_bytes(payload)
    except EnvelopeError as exc:
        raise Refused(f"unreadable envelope: {exc}") from exc
    digest = authenticate(topic, env, device_keys)
    # An enrol event is signed by the key it brings: that proves possession, not that it is the kiosk's.
    known = _enrol_key(env) is None
    try:
        return _content(keys, topic, env, digest)
    except (Refused, EnvelopeError) as exc:
        reason = exc.reason if isinstance(exc, Refused) else str(exc)
        raise Refused(reason, env.id if known else None, envelope=env if known else None) from exc


def _content(keys: CentralKeys, topic: Topic, env: Envelope, digest: str) -> Incoming:
    if env.kind != topic.kind:
        raise Refused("envelope kind does not match the topic", env.id)
    if env.kind == "submission":
        return _submission(keys, topic, env, digest)
    if env.kind == "attachment":
        return _attachment(topic, env, digest)
    if env.kind == "event":
        env.meta_str("type", 32)
        opened = _open_json(keys, env, env.id.encode("ascii")) if env.sealed else {}
        return Incoming(topic, env, opened, digest=digest)
    if env.kind == "telemetry":
        return Incoming(topic, env, digest=digest)
    raise Refused("unsupported kind", env.id)


def _submission(keys: CentralKeys, topic: Topic, env: Envelope, digest: str) -> Incoming:
    service_code = env.meta_str("service_code")
    env.meta_str("receipt_no", 32)
    files = env.meta.get("attachments", [])
    if not isinstance(files, list) or len(files) > MAX_ATTACHMENTS:
        raise Refused("bad attachment manifest", env.id)
    for i, f in enumerate(files):
        if not isinstance(f, dict) or f.get("file") != i or not isinstance(f.get("chunks"), int) \
                or not 1 <= f["chunks"] <= MAX_CHUNKS:
            raise Refused("bad attachment manifest", env.id)
    body = _open_json(keys, env, env.id.encode("ascii"))
    fields = body.get("fields")
    if body.get("service_code") != service_code or not isinstance(fields, list) \
            or not all(isinstance(f, dict) for f in fields):
        raise Refused("payload does not match its envelope", env.id)
    return Incoming(topic, env, body, digest=digest)


def _attachment(topic: Topic, env: Envelope, digest: str) -> Incoming:
    env.meta_str("submission_id")
    chunks = env.meta_int("chunks", 1, MAX_CHUNKS)
    env.meta_int("file", 0, MAX_ATTACHMENTS - 1)
    env.meta_int("chunk", 0, chunks - 1)
    env.meta_int("file_size", 1, 2**31)
    if hashlib.sha256(env.sealed).hexdigest() != env.meta_str("sha256"):
        raise Refused("attachment chunk fails its checksum", env.id)
    env.meta_str("file_sha256")
    return Incoming(topic, env, digest=digest)


def parse_batch(keys: CentralKeys, topic: Topic, payload: bytes,
                device_keys: DeviceKeys) -> list[Incoming | Refused]:
    """An ``up/batch`` (sync.protocol.batch): one signature check for the batch, then each envelope as
    :func:`parse` reads an ``up/submission`` (its digest, its content). Raises :class:`Refused` for the
    whole batch (unreadable, unsigned, a bad signature, another kiosk's, an unknown kiosk: never told, an
    alarm for trust failures); returns one :class:`Incoming` or :class:`Refused` per envelope otherwise."""
    try:
        batch = batches.decode(payload)
    except batches.BatchError as exc:
        if exc.code == "unreadable":
            raise Refused(f"unreadable batch: {exc.reason}") from exc
        code = "unsigned" if exc.code == "unsigned" else "bad_signature"
        raise Refused(f"batch signature: {exc.code}", alarm=(code, "critical", f"batch refused: {exc.code}")) \
            from exc
    if batch.device_id != topic.device_id:
        raise Refused("device id does not match the topic",
                      alarm=("topic_mismatch", "critical", f"a batch naming {batch.device_id} on this kiosk's topic"))
    key = device_keys.get(topic.device_id)
    if key is None:
        raise Refused("unknown device", alarm=("unknown_device", "critical", "messages from a kiosk with no "
                                                                                  "enrolled key"))
    try:
        try:
            batches.verify(batch, key)
        except batches.BatchError:
            fresh = device_keys.get(topic.device_id, fresh=True)  # re-enrolled since the cache was filled?
            if fresh is None:
                raise
            batches.verify(batch, fresh)
    except batches.BatchError as exc:
        raise Refused(f"batch signature: {exc.code}", alarm=("bad_signature", "critical",
                                                             f"batch refused: {exc.code}")) from exc
    as_submission = Topic(topic.device_id, "up", "submission")
    out: list[Incoming | Refused] = []
    for raw in batch.envelopes:
        try:
            env = Envelope.from_bytes(raw)
        except EnvelopeError as exc:
            out.append(Refused(f"unreadable envelope in a batch: {exc}"))
            continue
        if env.device_id != topic.device_id:
            out.append(Refused("device id does not match the topic", alarm=(
                "topic_mismatch", "critical", f"a batched message naming {env.device_id} on this kiosk's topic")))
            continue
        try:
            if env.kind not in batches.BATCHED_KINDS:
                raise Refused("this kind does not travel in a batch", env.id)
            digest = signing.digest(env)
            out.append(_content(keys, as_submission, env, digest))
        except (Refused, EnvelopeError, signing.SignatureError, TopicError) as exc:
            reason = exc.reason if isinstance(exc, Refused) else str(exc)
            out.append(Refused(reason, env.id, envelope=env))
    return out
