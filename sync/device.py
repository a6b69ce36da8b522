"""The kiosk's home folder and its device identity, shared by the UI process and the sync daemon.

``{home}/device.json`` holds what provisioning gives a kiosk: device id, site, broker URL and the
central's public keys. ``{home}/outbox.db`` is the outbox. The kiosk's own secrets live in
``{home}/secrets/``: its Ed25519 signing key, and for a TLS fleet its TLS client identity and the fleet CA.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from sync.protocol.broker_url import parse_broker_url
from sync.protocol.topics import check_device_id
from sync.runtime.files import private_dir

DEVICE_FILE = "device.json"
OUTBOX_FILE = "outbox.db"
SECRETS_DIR = "secrets"  # folder 0700, files 0600
# TLS fleets (mqtts:// broker URL): the kiosk's client key and certificate in one PEM (so a renewal replaces
# both in one atomic rename), and the fleet CA it pins the broker to.
TLS_IDENTITY_FILE = "tls_client.pem"
FLEET_CA_FILE = "fleet_ca.pem"


class DeviceConfigError(ValueError):
    """The device is not provisioned, or its configuration is unreadable."""


def resolve_home(arg: str | os.PathLike[str] | None = None) -> Path:
    """``--home`` if given, else ``$KIOSK_HOME``, else ``~/.local/share/kiosk``."""
    if arg:
        home = Path(arg)
    elif os.environ.get("KIOSK_HOME"):
        home = Path(os.environ["KIOSK_HOME"])
    else:
        home = Path.home() / ".local" / "share" / "kiosk"
    return private_dir(home)  # 0700 whatever the umask: the outbox and the device's keys live here


@dataclass(frozen=True)
class DeviceConfig:
    device_id: str
    site: str
    broker_url: str
    central_seal_key: str  # base64 of the central's X25519 public key
    central_command_key: str = ""  # base64 of the central's Ed25519 command-verify key ("" = none)

    @property
    def seal_public_key(self) -> bytes:
        return base64.b64decode(self.central_seal_key)

    @property
    def command_public_key(self) -> bytes | None:
        return base64.b64decode(self.central_command_key) if self.central_command_key else None

    @property
    def broker_host_port(self) -> tuple[str, int]:
        return parse_broker_url(self.broker_url)

    def save(self, home: Path) -> None:
        tmp = home / (DEVICE_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        os.replace(tmp, home / DEVICE_FILE)

    @classmethod
    def load(cls, home: Path) -> DeviceConfig:
        path = home / DEVICE_FILE
        if not path.exists():
            raise DeviceConfigError(f"this kiosk is not provisioned: {path} is missing")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            cfg = cls(**{k: data[k] for k in ("device_id", "site", "broker_url", "central_seal_key")},
                      central_command_key=str(data.get("central_command_key", "")))
            check_device_id(cfg.device_id)
            if len(cfg.seal_public_key) != 32:
                raise ValueError("seal key length")
            cfg.broker_host_port  # noqa: B018 - validates
        except (ValueError, KeyError, TypeError) as exc:
            raise DeviceConfigError(f"{path} is unreadable: {type(exc).__name__}") from exc
        return cfg
