"""``up/batch``: several submission envelopes in one MQTT message, under one device signature.

Why: on a 2-core kiosk-and-central machine the per-message costs (paho at both ends, the broker, and above
all the central's Ed25519 verify of every envelope) dominate a backlog's drain. A batch pays them once for
up to :data:`MAX_ENVELOPES` submissions. Each envelope is byte for byte what ``up/submission`` carries (with
its own signature, made when it was queued), so the central stores, dedupes, tracks sequence numbers and
acks it exactly as a single one; only the signature check is done once, on the batch.

Wire form (envelopes never contain a raw newline: their JSON escapes it)::

    {"v": 1, "device_id": "...", "n": K, "sig": "<base64 Ed25519>"}\\n
    <envelope 1 bytes>\\n
    ...
    <envelope K bytes>

``sig`` is by the kiosk's device key over :func:`signing_bytes`::

    b"kiosk-batch-sig/v1\\n" + device_id (UTF-8) + b"\\n" + SHA-256(envelope 1 bytes) + ... + SHA-256(envelope K)

so it binds every envelope's exact bytes (and through them its id, sequence number, sealed payload and
meta) to the device, as each envelope's own signature does. The domain prefix keeps it apart from envelope
and CSR signatures by the same key. Only ``submission`` envelopes travel in batches; events (an enrolment
above all), attachment chunks and telemetry keep their own topics.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.exceptions import ValueError as NaclValueError

from sync.protocol import signatures, strict_json
from sync.protocol.envelope import MAX_ENVELOPE_BYTES, SIG_BYTES
from sync.protocol.signing import DeviceSigner, VerifyKey
from sync.protocol.topics import TopicError, check_device_id

VERSION = 1
DOMAIN = signatures.BATCH
MAX_ENVELOPES = 64
MAX_BATCH_BYTES = MAX_ENVELOPE_BYTES  # the same cap as one message: brokers and the central budget for it
BATCHED_KINDS = frozenset({"submission"})


class BatchError(ValueError):
    """A batch that cannot be read or whose signature fails; the reason never quotes personal data.
    ``code`` is ``unreadable``, ``unsigned`` or ``bad_signature``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Batch:
    device_id: str
    envelopes: tuple[bytes, ...]  # each exactly as up/submission would carry it
    sig: bytes


def signing_bytes(device_id: str, envelopes: tuple[bytes, ...] | list[bytes]) -> bytes:
    return signatures.statement(
        DOMAIN, device_id.encode("utf-8") + b"\n" + b"".join(hashlib.sha256(e).digest() for e in envelopes))


def encode(signer: DeviceSigner, device_id: str, envelopes: list[bytes]) -> bytes:
    """The ``up/batch`` payload for ``envelopes`` (each a signed envelope's bytes), signed by ``signer``."""
    if not 1 <= len(envelopes) <= MAX_ENVELOPES:
        raise ValueError(f"a batch holds 1 to {MAX_ENVELOPES} envelopes")
    if any(b"\n" in e for e in envelopes):
        raise ValueError("an envelope with a raw newline cannot be batched")
    sig = signer.sign_bytes(signing_bytes(device_id, envelopes))
    head = json.dumps({"v": VERSION, "device_id": device_id, "n": len(envelopes),
                       "sig": base64.b64encode(sig).decode("ascii")}, separators=(",", ":")).encode("utf-8")
    return b"\n".join([head, *envelopes])


def decode(payload: bytes) -> Batch:
    """Split and check the form of a batch (not its signature: see :func:`verify`)."""
    if len(payload) > MAX_BATCH_BYTES:
        raise BatchError("unreadable", "batch too large")
    head, *envelopes = payload.split(b"\n")
    try:
        obj = strict_json.loads(head)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BatchError("unreadable", "batch header is not JSON") from exc
    if not isinstance(obj, dict) or obj.get("v") != VERSION:
        raise BatchError("unreadable", "unsupported batch version")
    device_id, n, sig_text = obj.get("device_id"), obj.get("n"), obj.get("sig")
    if not isinstance(device_id, str) or isinstance(n, bool) or not isinstance(n, int):
        raise BatchError("unreadable", "batch header lacks device_id or n")
    try:
        check_device_id(device_id)  # never quoted unchecked: it could be anything, personal data included
    except TopicError as exc:
        raise BatchError("unreadable", "bad device_id in the batch header") from exc
    if not 1 <= n <= MAX_ENVELOPES or n != len(envelopes):
        raise BatchError("unreadable", "batch count does not match its envelopes")
    if not isinstance(sig_text, str) or not sig_text:
        raise BatchError("unsigned", "the batch carries no device signature")
    try:
        sig = base64.b64decode(sig_text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BatchError("bad_signature", "batch sig is not base64") from exc
    if len(sig) != SIG_BYTES:
        raise BatchError("bad_signature", "the batch signature has the wrong length")
    return Batch(device_id, tuple(envelopes), sig)


def verify(batch: Batch, key: VerifyKey) -> None:
    """Raise :class:`BatchError` unless ``batch.sig`` is ``key``'s over its device id and envelopes."""
    try:
        key.verify(signing_bytes(batch.device_id, batch.envelopes), batch.sig)
    except (BadSignatureError, NaclValueError) as exc:
        raise BatchError("bad_signature", "the batch signature is not by this device's key over these "
                                          "envelopes") from exc


__all__ = ["BATCHED_KINDS", "DOMAIN", "MAX_BATCH_BYTES", "MAX_ENVELOPES", "Batch", "BatchError", "decode",
           "encode", "signing_bytes", "verify"]
