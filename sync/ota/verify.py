"""The kiosk's check of a release signature (what it covers: ``sync.protocol.release``).

The release key signs a short *statement* rather than the artefact's bytes: Ed25519 (pure) would need
the whole artefact in memory, and the statement binds what matters — this exact version, these exact
bytes (SHA-256) and their size — with a domain prefix, so a signature made for a release can never be
passed off as a signed command or catalogue (those sign JSON objects)::

    b"street-kiosk release v1\\n" + version + b"\\n" + sha256 hex + b"\\n" + size in decimal

The release key is an offline key of its own, never the central's command key (OPERATIONS.md, "The release
key"); the kiosk pins its public half and a rotation certified by it (``sync.ota.trust``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sync.protocol.release import DOMAIN, release_statement, sign_release

CHUNK = 1024 * 1024


class ReleaseRejected(ValueError):
    """An artefact that does not match its signed statement. The message never quotes the artefact."""


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def verify_release(public_raw: bytes | None, path: Path, *, version: str, sha256_hex: str, size: int,
                   signature_b64: str) -> None:
    """Raise :class:`ReleaseRejected` unless ``path`` has exactly the signed size and hash and the
    signature over the statement verifies with the pinned release key."""
    if public_raw is None:
        raise ReleaseRejected("this kiosk has no release key pinned")
    digest, actual_size = file_digest(path)
    if actual_size != size:
        raise ReleaseRejected(f"the artefact has {actual_size} bytes, the command says {size}")
    if digest != sha256_hex:
        raise ReleaseRejected("the artefact's SHA-256 does not match the command (tampered or corrupt)")
    try:
        sig = base64.b64decode(signature_b64, validate=True)
        Ed25519PublicKey.from_public_bytes(public_raw).verify(sig, release_statement(version, digest, size))
    except (InvalidSignature, ValueError, binascii.Error):
        raise ReleaseRejected("the release signature does not verify with the pinned release key") from None


__all__ = ["DOMAIN", "ReleaseRejected", "file_digest", "release_statement", "sign_release", "verify_release"]
