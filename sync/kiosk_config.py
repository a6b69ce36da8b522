"""The kiosk's own settings (``{home}/config.json``): validated, written atomically, audited.

Changed by the technician (``kiosk config set``, the service screen) or by a signed ``config`` command
from the central; both go through :func:`apply_updates`, and a change is all-or-nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.json"


class ConfigError(ValueError):
    """A setting that does not exist or a value out of range; nothing was changed."""


def _int_range(lo: int, hi: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool):
            raise ConfigError("must be a whole number")
        try:
            n = int(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError("must be a whole number") from exc
        if not lo <= n <= hi:
            raise ConfigError(f"must be between {lo} and {hi}")
        return n
    return check


def _text(max_len: int) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or len(value) > max_len:
            raise ConfigError(f"must be text of 1 to {max_len} characters")
        return value.strip()
    return check


def _choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ConfigError(f"must be one of {', '.join(options)}")
        return str(value)
    return check


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
        return value.lower() in ("true", "1", "yes", "on")
    raise ConfigError("must be true or false")


SETTINGS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "site_display_name": ("", _text(64)),
    "idle_timeout_s": (60, _int_range(30, 600)),
    "language_default": ("zh", _choice("zh", "en")),
    "elder_mode_default": (False, _flag),
    "heartbeat_interval_s": (30, _int_range(5, 3600)),
}


def load_config(home: Path) -> dict[str, Any]:
    """Every setting, with defaults for the unset ones; a damaged file falls back to the defaults."""
    config = {key: default for key, (default, _check) in SETTINGS.items()}
    try:
        stored = json.loads((home / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return config
    if isinstance(stored, dict):
        for key, value in stored.items():
            if key in SETTINGS:
                with contextlib.suppress(ConfigError):  # a damaged value keeps its default
                    config[key] = SETTINGS[key][1](value)
    return config


def validate(updates: Mapping[str, Any]) -> dict[str, Any]:
    if not updates:
        raise ConfigError("nothing to change")
    clean: dict[str, Any] = {}
    for key, value in updates.items():
        if key not in SETTINGS:
            raise ConfigError(f"unknown setting {key!r}")
        try:
            clean[key] = SETTINGS[key][1](value)
        except ConfigError as exc:
            raise ConfigError(f"{key} {exc}") from None
    return clean


def apply_updates(home: Path, updates: Mapping[str, Any]) -> dict[str, Any]:
    """Validate every update first, then write the whole file atomically (0600). Returns the new config."""
    clean = validate(updates)
    config = load_config(home)
    config.update(clean)
    tmp = home / (CONFIG_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, home / CONFIG_FILE)
    return config
