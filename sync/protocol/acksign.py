"""Signed acks: the central signs every ``down/ack`` with its command key; the kiosk checks before acting.

An ack makes a kiosk purge the sealed body of what it names, so whoever can publish on
``kiosk/v1/X/down/ack`` (a compromised broker, a broker misconfiguration) could otherwise make kiosk X
drop submissions the central never stored. The central therefore signs each ack (Ed25519, the same
command key that signs commands and catalogues, pinned in every kiosk's ``DeviceConfig``) over::

    b"kiosk-ack-sig/v1\\n" + canonical JSON of
    {"v", "device_id", "ts" (as a float), "ids", "rejected" ([[id, reason], ...]), "resend" ([[lo, hi], ...])}

Canonical JSON is the commands' (sorted keys, no spaces, UTF-8, no NaN). The domain prefix keeps an ack
signature from ever passing as a command signature (whose signed bytes are bare canonical JSON, starting
with ``{``), a catalogue signature, or a device's envelope signature (``kiosk-envelope-sig/v1``).

``device_id`` is signed so an ack for kiosk A replayed on kiosk B's topic is refused. ``ts`` (the central's
clock) is signed for the record and shown in the kiosk's log when far off; it is not a freshness check:
acks are idempotent, so replaying an old ack to the SAME kiosk changes nothing (ids it names are already
acked, a refusal is the central's final word on that id, a resend request only makes the kiosk send again
what the central dedupes), and refusing old acks would strand the queue of a kiosk whose clock is wrong.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import replace

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.protocol import signatures
from sync.protocol.canonical import canonical_json
from sync.protocol.envelope import SIG_BYTES, VERSION, Ack

DOMAIN = signatures.ACK

# Reasons a kiosk refuses an ack (``AckRefused.code``; also the ``detail`` of its ``forged_ack`` alarm).
MALFORMED = "malformed"
UNSIGNED = "unsigned"
BAD_SIGNATURE = "bad_signature"
WRONG_DEVICE = "wrong_device"
NO_COMMAND_KEY = "no_command_key"
REASONS = (MALFORMED, UNSIGNED, BAD_SIGNATURE, WRONG_DEVICE, NO_COMMAND_KEY)


class AckRefused(ValueError):
    """An ack the kiosk will not act on. ``code`` is one of :data:`REASONS`; the message quotes nothing
    from the payload."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def signing_bytes(ack: Ack) -> bytes:
    """The exact bytes the central signs for ``ack`` (see the module docstring)."""
    ts = float(ack.ts)
    if not math.isfinite(ts):
        raise AckRefused(MALFORMED, "the ack's timestamp is not a finite number")
    body = {"v": VERSION, "device_id": ack.device_id, "ts": ts, "ids": list(ack.ids),
            "rejected": [[i, r] for i, r in ack.rejected], "resend": [[lo, hi] for lo, hi in ack.resend]}
    try:
        canonical = canonical_json(body)
    except (ValueError, TypeError) as exc:  # a lone surrogate in an id or reason
        raise AckRefused(MALFORMED, "the ack has no canonical form") from exc
    return signatures.statement(DOMAIN, canonical)


@functools.lru_cache(maxsize=8)
def _private(raw: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(raw)


@functools.lru_cache(maxsize=8)
def _public(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def sign_ack(private_raw: bytes, ack: Ack, device_id: str, now: float | None = None) -> Ack:
    """``ack`` addressed to ``device_id``, stamped now and signed with the central's command key."""
    stamped = replace(ack, device_id=device_id, ts=time.time() if now is None else now, sig=b"")
    return replace(stamped, sig=_private(private_raw).sign(signing_bytes(stamped)))


def signed_ack_bytes(private_raw: bytes, ack: Ack, device_id: str) -> bytes:
    """The wire payload the central publishes on ``kiosk/v1/{device_id}/down/ack``."""
    return sign_ack(private_raw, ack, device_id).to_bytes()


def verify_ack(public_raw: bytes | None, ack: Ack, device_id: str) -> Ack:
    """``ack`` if it is signed by the central's command key and addressed to ``device_id``; else
    :class:`AckRefused`. Checked in this order: key present, signature present, signature, addressee."""
    if not public_raw or len(public_raw) != 32:
        raise AckRefused(NO_COMMAND_KEY, "this kiosk has no central command key to check acks with")
    if not ack.sig:
        raise AckRefused(UNSIGNED, "the ack carries no signature")
    if len(ack.sig) != SIG_BYTES:
        raise AckRefused(BAD_SIGNATURE, "the signature has the wrong length")
    try:
        _public(public_raw).verify(ack.sig, signing_bytes(ack))
    except InvalidSignature as exc:
        raise AckRefused(BAD_SIGNATURE, "the signature is not the central's over this ack") from exc
    if ack.device_id != device_id:
        raise AckRefused(WRONG_DEVICE, "the ack is signed for another kiosk")
    return ack


__all__ = ["BAD_SIGNATURE", "DOMAIN", "MALFORMED", "NO_COMMAND_KEY", "REASONS", "UNSIGNED", "WRONG_DEVICE",
           "AckRefused", "sign_ack", "signed_ack_bytes", "signing_bytes", "verify_ack"]
