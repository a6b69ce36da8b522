"""The status report ``kiosk status --json`` prints, read from the outbox the daemon keeps current."""

from __future__ import annotations

import json
import time
from typing import Any

from sync.outbox.store import Outbox

# The daemon refreshes ``daemon_seen`` every few seconds; older than this, it is not running.
DAEMON_LIVENESS_S = 15.0


def daemon_connected(states: dict[str, str], now: float | None = None) -> bool:
    now = time.time() if now is None else now
    try:
        seen = float(states.get("daemon_seen", "0"))
    except ValueError:
        return False
    return states.get("connected") == "1" and now - seen < DAEMON_LIVENESS_S


def outbox_status(outbox: Outbox, device_id: str | None) -> dict[str, Any]:
    states = outbox.states()
    counts = outbox.counts()
    last_delivery = states.get("last_delivery")
    return {
        "device_id": device_id,
        "connected": daemon_connected(states),
        "outbox": counts,
        "oldest_pending_s": outbox.oldest_undelivered_age(),
        "last_delivery": float(last_delivery) if last_delivery else None,
        # Outbox files moved aside after a failed integrity check, and the undelivered rows salvaged from
        # them into this outbox (counted in "outbox" above, exported with the rest).
        "quarantine": outbox.quarantine_report(),
        # As the sync daemon last saw it: "full" after a write failed for want of room, until room is back.
        "disk": {"free": outbox.disk_free(), "full": states.get("disk_full") == "1",
                 "reserve": states.get("disk_reserve") or "none"},
        # sync.ota: the running release, the anti-rollback floor, and the last release applied from a USB stick.
        "software": {"release": states.get("release_version") or None, "floor": states.get("release_floor") or None,
                     "usb_update": _json_or_none(states.get("usb_update"))},
    }


def _json_or_none(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
