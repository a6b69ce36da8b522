"""Every Ed25519 signature of the protocol signs a *statement* built here, so that no signature made for one
purpose can be passed off as another (domain separation).

Two families, which cannot be confused with each other:

- **prefixed statements**: one of the :data:`DOMAINS` below (a short ASCII tag ending in a newline), then the
  body. Envelopes, acks, batches, release statements, release-key rotations, identity hand-overs and the
  kiosk's MQTT client id are signed this way. No domain is a prefix of another, so each statement has one
  reading.
- **canonical JSON objects** (:func:`object_statement`): commands, catalogue updates, enrolment tokens and the
  TLS enrolment/renewal messages sign the canonical JSON of one object with its purpose inside it (an ``action``,
  a ``catalog``, a token's fields). Such a statement starts with ``{``, which no domain does.

The keys are separated too: the central's command key signs commands, acks, catalogues and enrolment
messages; a kiosk's device key signs envelopes, batches, hand-overs and its client id; the offline release key
signs releases and rotations. Which library signs or verifies (``cryptography``, or PyNaCl where the central
verifies every envelope) is the caller's; the bytes are always these.
"""

from __future__ import annotations

from typing import Any

from sync.protocol.canonical import canonical_json

ENVELOPE = b"kiosk-envelope-sig/v1\n"  # sync.protocol.signing
ACK = b"kiosk-ack-sig/v1\n"  # sync.protocol.acksign
BATCH = b"kiosk-batch-sig/v1\n"  # sync.protocol.batch
RELEASE = b"street-kiosk release v1\n"  # sync.protocol.release
RELEASE_KEY_ROTATION = b"street-kiosk release-key rotation v1\n"  # sync.protocol.release
RETIREMENT = b"kiosk-retire/v1\n"  # sync.protocol.enrolment: a re-enrolled kiosk hands its old identity over
CLIENT_ID = b"kiosk-client-id/v1\n"  # sync.runtime.mqtt.kiosk_client_id

DOMAINS = (ENVELOPE, ACK, BATCH, RELEASE, RELEASE_KEY_ROTATION, RETIREMENT, CLIENT_ID)


def statement(domain: bytes, body: bytes) -> bytes:
    """The bytes to sign for ``body`` under ``domain`` (one of :data:`DOMAINS`)."""
    if domain not in DOMAINS:
        raise ValueError("not a signature domain of this protocol")
    return domain + body


def object_statement(obj: dict[str, Any]) -> bytes:
    """The bytes to sign for a JSON object: its canonical JSON (``ValueError``/``TypeError`` when it has none)."""
    if not isinstance(obj, dict):
        raise TypeError("only a JSON object is signed as such")
    return canonical_json(obj)


__all__ = ["ACK", "BATCH", "CLIENT_ID", "DOMAINS", "ENVELOPE", "RELEASE", "RELEASE_KEY_ROTATION", "RETIREMENT",
           "object_statement", "statement"]
