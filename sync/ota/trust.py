"""What this kiosk trusts for software: the pinned release key and the version floor.

``{home}/release-trust.json`` (the kiosk user's, like the rest of its home)::

    {"key": base64 Ed25519 public key, "key_id": ..., "floor": "0.4.0" | null,
     "history": [{"key_id", "pinned_at", "how"}]}

- **The key** is the offline release key's public half (``sync.protocol.release``), never the central's
  command key: whoever controls the central cannot ship code. It is pinned on first use from the key
  installed with the software (``$KIOSK_RELEASE_KEY_FILE``, default ``/etc/kiosk/release-key.pub``: the
  technician's install, OPERATIONS.md "The release key"), and replaced only by a rotation certificate that
  the pinned key signed (:meth:`ReleaseTrust.rotate`). A kiosk with no key pinned refuses every update.
- **The floor** (anti-rollback): no release older than it is installed. Raised by the signed
  ``release_floor`` command (never lowered); an update refused for it says so.

Versions are compared as PEP 440 versions (``packaging.version``); one that is not such a version is refused
while a floor is set.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from packaging.version import InvalidVersion, Version

from sync.protocol.release import key_id, rotation_statement

TRUST_FILE = "release-trust.json"
KEY_FILE_ENV = "KIOSK_RELEASE_KEY_FILE"
DEFAULT_KEY_FILE = Path("/etc/kiosk/release-key.pub")


class TrustRefused(ValueError):
    """A rotation, floor or version this kiosk does not accept. The message is safe to report."""


def parse_public_key(text: str) -> bytes:
    """A release public key as ``packaging/release key new`` writes it: base64 of the 32 raw bytes."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error):
        raise TrustRefused("not a base64 Ed25519 public key") from None
    return raw


def older(version: str, floor: str) -> bool:
    """True when ``version`` is below ``floor`` (or cannot be compared with it)."""
    try:
        return Version(version) < Version(floor)
    except InvalidVersion:
        return True


class ReleaseTrust:
    """The pinned release key and the floor of one kiosk (thread-safe; every change is written atomically)."""

    def __init__(self, home: Path, installed_key: Path | None = None) -> None:
        self.path = home / TRUST_FILE
        env = os.environ.get(KEY_FILE_ENV)
        self.installed_key = installed_key or (Path(env) if env else DEFAULT_KEY_FILE)
        self._lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            # A damaged file must not quietly become "nothing pinned" (that would re-pin from the installed key).
            raise TrustRefused(f"{self.path.name} cannot be read; updates are refused until a technician "
                               "restores it") from None
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{TRUST_FILE}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def key(self) -> bytes | None:
        """The pinned key; pins the installed one on first use; None when there is neither."""
        with self._lock:
            data = self._load()
            if data.get("key"):
                return parse_public_key(str(data["key"]))
            try:
                raw = parse_public_key(self.installed_key.read_text(encoding="ascii"))
            except (OSError, UnicodeDecodeError, TrustRefused):
                return None
            self._pin(data, raw, "installed")
            return raw

    def pin(self, public_raw: bytes) -> None:
        """First pin (a technician's install or provisioning): refused when a key is already pinned."""
        with self._lock:
            data = self._load()
            if data.get("key"):
                raise TrustRefused("a release key is already pinned; only a rotation signed by it replaces it")
            self._pin(data, public_raw, "installed")

    def floor(self) -> str | None:
        with self._lock:
            value = self._load().get("floor")
        return str(value) if value else None

    def summary(self) -> dict[str, Any]:
        with self._lock:
            data = self._load()
        return {"key_id": data.get("key_id"), "floor": data.get("floor"),
                "rotations": max(0, len(data.get("history") or []) - 1)}

    # -- changes ---------------------------------------------------------------------------------

    def _pin(self, data: dict[str, Any], raw: bytes, how: str) -> None:
        data["key"] = base64.b64encode(raw).decode("ascii")
        data["key_id"] = key_id(raw)
        data.setdefault("history", []).append({"key_id": data["key_id"], "pinned_at": time.time(), "how": how})
        self._save(data)

    def rotate(self, certificate: dict[str, Any]) -> str:
        """Pin the certificate's new key if the pinned key signed it; returns the new key id."""
        current = self.key()
        with self._lock:
            if current is None:
                raise TrustRefused("no release key is pinned, so no rotation can be checked")
            try:
                new = parse_public_key(str(certificate["key"]))
                signature = base64.b64decode(str(certificate["signature"]), validate=True)
            except (KeyError, ValueError, binascii.Error):
                raise TrustRefused("the key rotation certificate is malformed") from None
            if new == current:
                return key_id(new)  # already done (a repeated update carrying the same certificate)
            try:
                Ed25519PublicKey.from_public_bytes(current).verify(signature, rotation_statement(current, new))
            except InvalidSignature:
                raise TrustRefused("the key rotation is not signed by the pinned release key") from None
            data = self._load()
            self._pin(data, new, f"rotated from {key_id(current)}")
        return key_id(new)

    def raise_floor(self, version: str) -> str:
        """Set the floor to ``version`` unless that would lower it; returns the floor now in force."""
        try:
            Version(version)
        except InvalidVersion:
            raise TrustRefused("the floor must be a release version like 1.4.0") from None
        with self._lock:
            data = self._load()
            now = data.get("floor")
            if now and older(version, str(now)):
                raise TrustRefused(f"the floor is {now}; it is never lowered")
            data["floor"] = version
            self._save(data)
        return version

    def check_version(self, version: str) -> None:
        floor = self.floor()
        if floor and older(version, floor):
            raise TrustRefused(f"version {version} is below this kiosk's floor {floor} (anti-rollback)")


__all__ = ["DEFAULT_KEY_FILE", "KEY_FILE_ENV", "TRUST_FILE", "ReleaseTrust", "TrustRefused", "older",
           "parse_public_key"]
