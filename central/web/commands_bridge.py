"""The dashboard's command buttons: what they may send, and the sender behind them (``central.commands``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from central.commands import central_tls, send_command
from central.keys import CentralKeys, KeysError
from central.store import CentralStore

ACTIONS = ("maintenance_on", "maintenance_off", "diagnostics", "service_unlock", "service_pin_reset")
# Only an admin may send these (a kiosk's service-mode lock and PIN); every command is audited.
ADMIN_ACTIONS = frozenset({"service_unlock", "service_pin_reset"})
MAX_MESSAGE = 200


class CommandUnavailable(RuntimeError):
    """The central's key material (or its TLS identity) is not at hand: the reason is shown to the operator."""


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


def default_sender(keys_home: Path, broker_url: str, store: CentralStore | None = None) -> Sender:
    """The sender backed by :func:`central.commands.send_command` with the central's keys from ``keys_home``
    (read at each send, so keys made after the dashboard started are used); with ``store`` a revoked kiosk is
    refused. Raises :class:`CommandUnavailable` (keys, TLS identity) or :class:`CommandFailed`."""

    def send(device_id: str, action: str, params: dict[str, Any]) -> str:
        try:
            keys = CentralKeys.load(keys_home)
        except KeysError as exc:
            raise CommandUnavailable(f"central keys: {exc}") from exc
        try:  # an mqtts:// broker: the central's fleet identity
            tls = central_tls(broker_url, keys_home)
        except (ValueError, OSError) as exc:
            raise CommandUnavailable(f"the central's TLS identity: {exc}") from exc
        try:
            return send_command(keys, broker_url, device_id, action, params, tls=tls, store=store).id
        except Exception as exc:  # a failure to sign or publish: told to the operator, kept out of the page
            raise CommandFailed(type(exc).__name__ + (f": {exc}" if str(exc) else "")) from exc

    return send
