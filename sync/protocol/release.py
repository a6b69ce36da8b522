"""What a release signature covers, and its check.

The release key signs a short *statement* rather than the artefact's bytes: Ed25519 (pure) would need
the whole artefact in memory, and the statement binds what matters — this exact version, these exact
bytes (SHA-256) and their size — with a domain prefix, so a signature made for a release can never be
passed off as a signed command or catalogue (those sign JSON objects)::

    b"street-kiosk release v1\\n" + version + b"\\n" + sha256 hex + b"\\n" + size in decimal

The release key is an offline key of its own, never on the central (OPERATIONS.md, "The release key"): the
release manager signs with ``packaging/release``; kiosks pin its public half (``sync.ota.trust``). A new
release key is accepted only with a *rotation certificate* signed by the key it replaces::

    b"street-kiosk release-key rotation v1\n" + key id of the old key + b"\n" + new public key (base64)

A key id is the first 16 hex digits of the SHA-256 of the raw public key.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.protocol import signatures
from sync.protocol.commands import is_version

DOMAIN = signatures.RELEASE
ROTATION_DOMAIN = signatures.RELEASE_KEY_ROTATION


def release_statement(version: str, sha256_hex: str, size: int) -> bytes:
    if not is_version(version):
        raise ValueError("not a release version")
    if len(sha256_hex) != 64 or sha256_hex != sha256_hex.lower():
        raise ValueError("sha256 must be 64 lower-case hex digits")
    return signatures.statement(DOMAIN, f"{version}\n{sha256_hex}\n{int(size)}".encode("ascii"))


def sign_release(private_raw: bytes, version: str, sha256_hex: str, size: int) -> str:
    """The release manager's side (offline, ``packaging/release``): base64 Ed25519 signature of the statement."""
    key = Ed25519PrivateKey.from_private_bytes(private_raw)
    return base64.b64encode(key.sign(release_statement(version, sha256_hex, size))).decode("ascii")


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def rotation_statement(old_public_raw: bytes, new_public_raw: bytes) -> bytes:
    if len(old_public_raw) != 32 or len(new_public_raw) != 32:
        raise ValueError("release keys are 32-byte Ed25519 public keys")
    return signatures.statement(ROTATION_DOMAIN,
                                f"{key_id(old_public_raw)}\n".encode("ascii") + base64.b64encode(new_public_raw))


def sign_rotation(old_private_raw: bytes, new_public_raw: bytes) -> dict[str, str]:
    """A rotation certificate: the new public key, signed by the old private key (both offline)."""
    old = Ed25519PrivateKey.from_private_bytes(old_private_raw)
    old_public = old.public_key().public_bytes_raw()
    return {"key": base64.b64encode(new_public_raw).decode("ascii"), "previous": key_id(old_public),
            "signature": base64.b64encode(old.sign(rotation_statement(old_public, new_public_raw))).decode("ascii")}


MANIFEST_FORMAT = "street-kiosk release manifest 1"


def release_manifest(private_raw: bytes, version: str, sha256_hex: str, size: int, *,
                     rotation: dict[str, str] | None = None, **facts: object) -> dict[str, object]:
    """What ``packaging/release`` writes beside an artefact (``<artefact>.release.json``) and the central sends
    on: the statement's facts, the signature, the signing key's id, and a rotation certificate if the key is new.
    ``facts`` adds plain information (``kind``, ``base``: what a delta applies to)."""
    key = Ed25519PrivateKey.from_private_bytes(private_raw)
    out: dict[str, object] = {"format": MANIFEST_FORMAT, "version": version, "sha256": sha256_hex, "size": int(size),
                              "signature": sign_release(private_raw, version, sha256_hex, size),
                              "key_id": key_id(key.public_key().public_bytes_raw()), **facts}
    if rotation:
        out["key_rotation"] = dict(rotation)
    return out
