"""Device signatures on uplink envelopes (Ed25519 by the kiosk's own key).

Sealing hides a submission's content; it does not say who sent it. Every uplink envelope therefore
carries ``sig``: Ed25519 by the key the kiosk generated at enrolment (``{home}/secrets/device_key``, PEM
PKCS#8; the central holds the public half in ``device_keys``) over :func:`signing_bytes`::

    b"kiosk-envelope-sig/v1\\n" + canonical JSON of
    {"v", "device_id", "id", "seq", "kind", "created_at" (as a float), "sealed_sha256" (hex), "meta"}

Canonical JSON is the one commands use: sorted keys, no spaces, UTF-8 (not ASCII-escaped), no NaN or
infinities. The central re-serialises what it parsed, so the kiosk and the central agree on the bytes
whatever spacing or key order the wire had. The sealed part is covered by its SHA-256 (one hash over up to
180 KiB instead of signing it whole). The domain prefix keeps these signatures apart from any other
Ed25519 use of the same key (a CSR, a future status signature).

Verifying uses libsodium (PyNaCl), signing ``cryptography``: Ed25519 is one standard (RFC 8032), so either
checks the other's signatures, and the central verifies every envelope it receives, which libsodium does in
75 us against OpenSSL's 187 us on the 2-core reference machine. libsodium is also the stricter checker: it
refuses non-canonical signatures and small-order keys, which an honest kiosk never produces.

Signing happens once, when a message is queued (the UI process and the daemon both read the key file);
the daemon signs at publish time only rows that were queued unsigned (before the key existed).
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from dataclasses import replace
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.exceptions import BadSignatureError
from nacl.exceptions import ValueError as NaclValueError
from nacl.signing import VerifyKey

from sync.protocol import signatures
from sync.protocol.canonical import canonical_json
from sync.protocol.envelope import VERSION, Envelope

DOMAIN = signatures.ENVELOPE
DEVICE_KEY_FILE = Path("secrets") / "device_key"
SIG_BYTES = 64

# Reasons a signature check fails (``SignatureError.code``).
UNSIGNED = "unsigned"
BAD_SIGNATURE = "bad_signature"
UNSIGNABLE = "unsignable"


class SignatureError(ValueError):
    """A signature that is missing, wrong, or over content that has no canonical form. ``code`` is one of
    :data:`UNSIGNED`, :data:`BAD_SIGNATURE`, :data:`UNSIGNABLE`; the message never quotes content."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def signing_bytes(env: Envelope) -> bytes:
    """The exact bytes a device signs for ``env`` (see the module docstring)."""
    created = float(env.created_at)
    if not math.isfinite(created):
        raise SignatureError(UNSIGNABLE, "created_at is not a finite number")
    try:
        body = canonical_json({"v": VERSION, "device_id": env.device_id, "id": env.id, "seq": env.seq,
                           "kind": env.kind, "created_at": created,
                           "sealed_sha256": hashlib.sha256(env.sealed).hexdigest(), "meta": env.meta})
    except (ValueError, TypeError, RecursionError) as exc:  # NaN, lone surrogates, non-JSON values
        raise SignatureError(UNSIGNABLE, "the envelope has no canonical form") from exc
    return signatures.statement(DOMAIN, body)


def digest(env: Envelope) -> str:
    """SHA-256 (hex) of what the signature covers: equal for a resend, different for any other content."""
    return hashlib.sha256(signing_bytes(env)).hexdigest()


def public_key(raw: bytes) -> VerifyKey:
    if len(raw) != 32:
        raise SignatureError(BAD_SIGNATURE, "a device key is 32 bytes")
    try:
        return VerifyKey(raw)
    except (NaclValueError, TypeError) as exc:
        raise SignatureError(BAD_SIGNATURE, "not an Ed25519 public key") from exc


def verify(env: Envelope, key: VerifyKey) -> bytes:
    """Check ``env.sig`` against ``key``; returns the signed bytes, raises :class:`SignatureError`."""
    if not env.sig:
        raise SignatureError(UNSIGNED, "the envelope carries no device signature")
    data = signing_bytes(env)
    if len(env.sig) != SIG_BYTES:
        raise SignatureError(BAD_SIGNATURE, "the signature has the wrong length")
    try:
        key.verify(data, env.sig)
    except (BadSignatureError, NaclValueError) as exc:
        raise SignatureError(BAD_SIGNATURE, "the signature is not by this device's key over this envelope") from exc
    return data


class DeviceSigner:
    """A kiosk's Ed25519 device key, able to sign envelopes."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @classmethod
    def generate(cls) -> DeviceSigner:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes) -> DeviceSigner:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise SignatureError(UNSIGNABLE, "the device key file is unreadable") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SignatureError(UNSIGNABLE, "the device key is not Ed25519")
        return cls(key)

    def pem(self) -> bytes:
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())

    def sign(self, env: Envelope) -> Envelope:
        """``env`` with its device signature (any previous one replaced)."""
        return replace(env, sig=self._key.sign(signing_bytes(env)))

    def sign_bytes(self, data: bytes) -> bytes:
        """A raw signature over ``data``, for callers with their own domain prefix (``sync.protocol.batch``)."""
        return self._key.sign(data)

    def save(self, home: Path) -> Path:
        """Write the key as provisioning does: ``{home}/secrets/device_key``, folder 0700, file 0600."""
        path = home / DEVICE_KEY_FILE
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.pem())
        os.chmod(path, 0o600)
        return path


class KeyFile:
    """The device key of a kiosk home, read when first needed and again whenever the file changes
    (re-provisioning replaces it while the UI process keeps its outbox open). ``signer()`` is None while
    the kiosk has no key (not provisioned yet): its messages are queued unsigned and signed at publish."""

    def __init__(self, home: Path) -> None:
        self.path = home / DEVICE_KEY_FILE
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._signer: DeviceSigner | None = None

    def signer(self) -> DeviceSigner | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._signer = DeviceSigner.from_pem(self.path.read_bytes())
                except (OSError, SignatureError):
                    self._signer = None
                self._stamp = stamp
            return self._signer

    def sign(self, env: Envelope) -> Envelope:
        signer = self.signer()
        return signer.sign(env) if signer is not None else env


__all__ = ["BAD_SIGNATURE", "DEVICE_KEY_FILE", "DOMAIN", "UNSIGNABLE", "UNSIGNED", "DeviceSigner", "KeyFile",
           "SignatureError", "VerifyKey", "digest", "public_key", "signing_bytes", "verify"]
