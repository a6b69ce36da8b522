"""The central's key pairs: X25519 to open sealed submissions, Ed25519 to sign commands.

Private halves live in ``{home}/keys.json`` (folder 0700, file 0600); the public halves are what a
kiosk is provisioned with (``public_keys()``).
"""

from __future__ import annotations

import base64
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sync.protocol.sealing import Opener, SealKeyPair, key_id
from sync.runtime.files import write_private

KEYS_FILE = "keys.json"
LOOKUP_KEY_SALT = b"kiosk lookup key v1"


class KeysError(RuntimeError):
    pass


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True, eq=False)
class CentralKeys:
    seal: SealKeyPair
    command_private_raw: bytes

    @functools.cached_property
    def opener(self) -> Opener:
        return Opener(self.seal.private_raw)

    @property
    def command_public_raw(self) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.command_private_raw).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def public_keys(self) -> dict[str, str]:
        return {"seal_public_key": _b64(self.seal.public_raw),
                "seal_key_id": key_id(self.seal.public_raw).hex(),
                "command_public_key": _b64(self.command_public_raw)}

    @classmethod
    def generate(cls) -> CentralKeys:
        command = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        return cls(SealKeyPair.generate(), command)

    def save(self, home: Path, *, overwrite: bool = False) -> Path:
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        path = home / KEYS_FILE
        if path.exists() and not overwrite:
            raise KeysError(f"{path} exists: the central already has keys (refusing to replace them)")
        data = json.dumps({"seal_private": _b64(self.seal.private_raw), "seal_public": _b64(self.seal.public_raw),
                           "command_private": _b64(self.command_private_raw)}, indent=2)
        return write_private(path, data)

    @classmethod
    def load(cls, home: Path) -> CentralKeys:
        path = home / KEYS_FILE
        if not path.exists():
            raise KeysError(f"no central keys in {home}: run `kiosk-central init --home {home}` first")
        try:
            data = json.loads(path.read_text())
            return cls(SealKeyPair(base64.b64decode(data["seal_private"]), base64.b64decode(data["seal_public"])),
                       base64.b64decode(data["command_private"]))
        except (ValueError, KeyError) as exc:
            raise KeysError(f"{path} is unreadable") from exc


def site_lookup_key(keys: CentralKeys, site: str) -> bytes:
    """The 32-byte lookup key of one site (HKDF-SHA256 over the central's sealing private key): in each
    enrolment token for the site's kiosks, and behind the lookup tags of status pushes (central.status_push)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=LOOKUP_KEY_SALT,
                info=b"site:" + site.encode("utf-8")).derive(keys.seal.private_raw)
