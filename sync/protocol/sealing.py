"""Sealing personal data for the central's public key: X25519 + HKDF-SHA256 + AES-256-GCM.

A sealed blob is ``MAGIC | key id (8) | ephemeral public key (32) | nonce (12) | ciphertext+tag``.
Each seal uses a fresh ephemeral key, so only the central's private key opens it: neither the disk
of a stolen kiosk nor the broker can read it. The caller's ``aad`` (the message id) is bound into
the tag, so a sealed payload cannot be moved to another message.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"KS1"
_INFO = b"street-kiosk seal v1"
_HEADER = len(MAGIC) + 8 + 32 + 12


class SealError(ValueError):
    """A blob that cannot be opened: wrong key, tampered, truncated, or not a sealed blob."""


def key_id(public_raw: bytes) -> bytes:
    return hashlib.sha256(public_raw).digest()[:8]


@dataclass(frozen=True)
class SealKeyPair:
    private_raw: bytes
    public_raw: bytes

    @classmethod
    def generate(cls) -> SealKeyPair:
        private = X25519PrivateKey.generate()
        return cls(
            private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                  serialization.NoEncryption()),
            private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
        )


def _derive(shared: bytes, eph_pub: bytes, recipient_pub: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=eph_pub + recipient_pub, info=_INFO).derive(shared)


def seal(recipient_public_raw: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    recipient = X25519PublicKey.from_public_bytes(recipient_public_raw)
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = _derive(eph.exchange(recipient), eph_pub, recipient_public_raw)
    nonce = os.urandom(12)
    header = MAGIC + key_id(recipient_public_raw) + eph_pub + nonce
    return header + AESGCM(key).encrypt(nonce, plaintext, header + aad)


class Opener:
    """Opens blobs sealed for one private key; keeps the parsed key (the central opens thousands)."""

    def __init__(self, private_raw: bytes) -> None:
        self._private = X25519PrivateKey.from_private_bytes(private_raw)
        self._public_raw = self._private.public_key().public_bytes(serialization.Encoding.Raw,
                                                                   serialization.PublicFormat.Raw)
        self._kid = key_id(self._public_raw)

    def open(self, blob: bytes, aad: bytes = b"") -> bytes:
        blob = bytes(blob)
        if len(blob) < _HEADER + 16 or not blob.startswith(MAGIC):
            raise SealError("not a sealed blob")
        if blob[len(MAGIC):len(MAGIC) + 8] != self._kid:
            raise SealError("sealed for another key")
        eph_pub = blob[len(MAGIC) + 8:len(MAGIC) + 40]
        nonce = blob[len(MAGIC) + 40:_HEADER]
        try:
            shared = self._private.exchange(X25519PublicKey.from_public_bytes(eph_pub))
            key = _derive(shared, eph_pub, self._public_raw)
            return AESGCM(key).decrypt(nonce, blob[_HEADER:], blob[:_HEADER] + aad)
        except (InvalidTag, ValueError) as exc:
            raise SealError("sealed blob failed authentication") from exc


def open_sealed(private_raw: bytes, blob: bytes, aad: bytes = b"") -> bytes:
    return Opener(private_raw).open(blob, aad)
