"""Send a signed command to a kiosk through ``sync.central.commands`` (imported lazily: the dashboard
starts, and says why commands are unavailable, even where that module is missing or incomplete)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

ACTIONS = ("maintenance_on", "maintenance_off", "diagnostics")
MAX_MESSAGE = 200
_FUNCTION_NAMES = ("send_command", "sign_and_publish", "publish_command")


class CommandUnavailable(RuntimeError):
    """The commands module (or its key material) is not there: the reason is shown to the operator."""


class CommandFailed(RuntimeError):
    """The command could not be signed or published."""


# What a command sender looks like to the dashboard: (device_id, action, params) -> command id.
Sender = Callable[[str, str, dict[str, Any]], str]


def command_params(action: str, message: str) -> dict[str, Any]:
    if action not in ACTIONS:
        raise CommandFailed(f"unknown action {action!r}")
    if action == "maintenance_on":
        return {"message": message.strip()[:MAX_MESSAGE]}
    return {}


def _command_id(result: Any) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        for key in ("id", "command_id"):
            if isinstance(result.get(key), str):
                return str(result[key])
    for attr in ("id", "command_id"):
        value = getattr(result, attr, None)
        if isinstance(value, str):
            return value
    return ""


def default_sender(keys_home: Path, broker_url: str) -> Sender:
    """The sender backed by ``sync.central.commands``; raises :class:`CommandUnavailable` when it is missing."""

    def send(device_id: str, action: str, params: dict[str, Any]) -> str:
        try:
            module = importlib.import_module("sync.central.commands")
        except ImportError as exc:
            raise CommandUnavailable("sync.central.commands is not installed in this version") from exc
        func = next((getattr(module, n) for n in _FUNCTION_NAMES if callable(getattr(module, n, None))), None)
        if func is None:
            raise CommandUnavailable("sync.central.commands offers no send function yet")
        from sync.central.keys import CentralKeys, KeysError

        try:
            keys = CentralKeys.load(keys_home)
        except KeysError as exc:
            raise CommandUnavailable(f"central keys: {exc}") from exc
        values: dict[str, Any] = {"device_id": device_id, "device": device_id, "action": action,
                                  "params": params, "args": params, "keys": keys, "central_keys": keys,
                                  "keys_home": keys_home, "home": keys_home, "broker_url": broker_url,
                                  "broker": broker_url}
        wanted = inspect.signature(func).parameters
        tls_for = getattr(module, "central_tls", None)
        if "tls" in wanted and callable(tls_for):  # an mqtts:// broker: the central's fleet identity
            try:
                values["tls"] = tls_for(broker_url, keys_home)
            except (ValueError, OSError) as exc:
                raise CommandUnavailable(f"the central's TLS identity: {exc}") from exc
        kwargs = {name: values[name] for name in wanted if name in values}
        try:
            result = func(**kwargs)
        except CommandUnavailable:
            raise
        except Exception as exc:  # a failure to sign or publish: told to the operator, kept out of the page
            raise CommandFailed(type(exc).__name__ + (f": {exc}" if str(exc) else "")) from exc
        return _command_id(result)

    return send
