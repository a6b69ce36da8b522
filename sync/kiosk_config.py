"""The kiosk's own settings (``{home}/config.json``): validated, written atomically, versioned, audited.

One module for every writer: the technician (``kiosk config set``, the service screen) and the central's
signed ``config`` command (``sync.daemon.commands``). The allowed keys and their checks are the
protocol's (``sync.protocol.commands.CONFIG_KEYS``); a change is all-or-nothing.

File: ``{"version": int, "settings": {...}, "command_id": str | null, "source": str, "updated_at": float}``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sync.protocol.commands import CONFIG_KEYS
from sync.runtime.files import write_private

log = logging.getLogger("kiosk.config")

CONFIG_FILE = "config.json"
DEFAULTS: dict[str, Any] = {
    "site_display_name": "",
    "idle_timeout_s": 60,
    "language_default": "zh",
    "elder_mode_default": False,
    "heartbeat_interval_s": 30,
    "voice_volume": 70,
    "voice_muted": False,
    "service_hotline": "",
    "data_budget_mb": 0,
}
assert set(DEFAULTS) == set(CONFIG_KEYS)


class ConfigError(ValueError):
    """A setting that does not exist or a value out of range; nothing was changed."""


def read_document(home: Path) -> dict[str, Any]:
    """The stored document; only whitelisted, valid settings survive (a hand edit cannot add others)."""
    path = home / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"version": 0, "settings": {}}
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable (%s): using defaults", path.name, type(exc).__name__)
        return {"version": 0, "settings": {}}
    if not isinstance(data, dict):
        return {"version": 0, "settings": {}}
    raw = data.get("settings")
    raw = raw if isinstance(raw, dict) else {}
    settings = {k: v for k, v in raw.items() if k in CONFIG_KEYS and CONFIG_KEYS[k].check(v)}
    version = data.get("version")
    return {**data, "version": version if isinstance(version, int) and not isinstance(version, bool) else 0,
            "settings": settings}


def write_document(home: Path, document: dict[str, Any]) -> None:
    """Replace the file atomically (temp file, fsync, rename, fsync of the folder); mode 0600."""
    write_private(home / CONFIG_FILE, json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True))


def load_config(home: Path) -> dict[str, Any]:
    """Every setting's effective value: stored where valid, else the default."""
    return {**DEFAULTS, **read_document(home)["settings"]}


def validate(updates: Mapping[str, Any], *, typed: bool = False) -> dict[str, Any]:
    """Check every update; text values (as typed on a command line) are parsed unless ``typed``."""
    if not updates:
        raise ConfigError("nothing to change")
    clean: dict[str, Any] = {}
    for key, value in updates.items():
        spec = CONFIG_KEYS.get(key)
        if spec is None:
            raise ConfigError(f"unknown setting {key!r}")
        if not typed and isinstance(value, str) and spec.kind is not str:
            try:
                value = spec.parse(value)
            except ValueError:
                raise ConfigError(f"{key}: {value!r} is not a valid value") from None
        if not spec.check(value):
            raise ConfigError(f"{key}: value out of range")
        clean[key] = value
    return clean


def apply_updates(home: Path, updates: Mapping[str, Any], *, source: str = "technician",
                  command_id: str | None = None, typed: bool = False) -> tuple[int, dict[str, Any]]:
    """Validate every update first, then write the whole document. Returns (new version, effective config)."""
    clean = validate(updates, typed=typed)
    current = read_document(home)
    version = int(current["version"]) + 1
    settings = {**current["settings"], **clean}
    write_document(home, {"version": version, "settings": settings, "command_id": command_id, "source": source,
                          "updated_at": time.time()})
    return version, {**DEFAULTS, **settings}
