"""The central's signed ``service_pin`` command (an admin's, audited at the central): ``{"op": "unlock"}`` ends
a service-PIN lock-out, ``{"op": "reset"}`` removes the PIN so the technician on site sets a new one at the
PIN pad. The files are the service mode's (kiosk.service_mode.pin: the argon2 hash and the try state in the
secrets folder); the daemon writes them directly because it must not import the kiosk's UI packages. Either
way the lock-out alarm at the central is cleared, and the kiosk never learns or sends a PIN."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from sync.device import SECRETS_DIR as _SECRETS
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from sync.runtime.files import write_private

log = logging.getLogger("kiosk.commands")

PIN_FILE = "service_pin"  # kiosk.service_mode.pin.PIN_FILE
STATE_FILE = "service_pin_state.json"  # kiosk.service_mode.pin.STATE_FILE
RESET_FILE = "service_pin_reset"  # kiosk.service_mode.pin.RESET_FILE
LOCKOUT_ALARM_STATE = "pin_lockout_alarm"  # kiosk.service_mode.pin_page.LOCKOUT_ALARM_STATE


def execute(outbox: Outbox, device: DeviceConfig, home: Path, args: dict[str, Any]) -> dict[str, Any]:
    secrets = home / _SECRETS
    secrets.mkdir(mode=0o700, exist_ok=True)
    lockouts = 0.0
    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
        lockouts = float(json.loads((secrets / STATE_FILE).read_text(encoding="utf-8")).get("lockouts", 0))
    write_private(secrets / STATE_FILE, json.dumps({"failures": 0, "next_try_at": 0.0, "locked_until": 0.0,
                                                    "lockouts": lockouts}).encode("utf-8"))
    if args["op"] == "reset":
        (secrets / PIN_FILE).unlink(missing_ok=True)
        write_private(secrets / RESET_FILE, b"reset by the central\n")
        detail = "service PIN reset: a new one is set at the kiosk"
    else:
        detail = "service mode unlocked"
    if outbox.states().get(LOCKOUT_ALARM_STATE):
        outbox.set_states({LOCKOUT_ALARM_STATE: ""})
    outbox.enqueue_event(device, "alarm_cleared", {"code": "service_pin_lockout", "by": f"central {args['op']}"})
    log.warning("%s by a signed command of the central", detail)
    return {"detail": detail, "op": args["op"]}
