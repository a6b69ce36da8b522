"""The sync daemon's life cycle as the service mode drives it: enrolment starts it, re-enrolment restarts it
under the new identity, factory reset stops it, without a restart of the kiosk.

Two ways a kiosk runs its daemon, one small interface (:class:`SyncControl`):

- ``kiosk run --sim`` (development, the demo, the tests) runs it in the UI process: :class:`InProcessSync`
  stops the old :class:`~sync.daemon.service.SyncDaemon` and starts a new one.
- A production kiosk runs ``kiosk-syncd`` under systemd as its own user; the UI cannot (and must not) start
  or stop units. :class:`ExternalSync` *holds* the daemon through the shared database
  (``sync.daemon.service.HOLD_STATE``): the daemon says offline, disconnects, answers ``HELD_STATE`` and waits;
  on release it goes on under whatever identity the kiosk has then, or exits when it has none (factory
  reset). ``kiosk-syncd.path`` starts the unit when ``device.json`` appears (first enrolment); a daemon that
  starts while the hold is in force waits for the release before it connects.

Both answer :meth:`SyncControl.hold` only once nothing can be sent under the old identity any more.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Protocol

from sync.daemon.service import HELD_STATE, HOLD_STATE, SyncDaemon
from sync.device import DeviceConfig
from sync.outbox.status import DAEMON_LIVENESS_S
from sync.outbox.store import Outbox

log = logging.getLogger("kiosk.service")

HOLD_LAPSE_S = 300.0  # a hold nobody releases (the UI died) lapses after this
_tick = threading.Event()


class SyncControl(Protocol):
    def hold(self, outbox: Outbox, timeout_s: float = 15.0) -> bool:
        """Stop sending under the current identity; True once nothing is sent any more."""

    def release(self, outbox: Outbox, device: DeviceConfig | None) -> None:
        """Go on under ``device`` (start or restart the daemon), or stay stopped when it is None."""

    def running(self, outbox: Outbox) -> bool:
        """Whether a daemon delivers this kiosk's outbox now."""


def daemon_alive(outbox: Outbox, now: float | None = None) -> bool:
    try:
        seen = float(outbox.states().get("daemon_seen", "0") or 0)
    except ValueError:
        return False
    return (time.time() if now is None else now) - seen < DAEMON_LIVENESS_S


class InProcessSync:
    """The daemon runs in this process (``kiosk run --sim``)."""

    def __init__(self, heartbeat_interval_s: float = 30.0) -> None:
        self.heartbeat_interval_s = heartbeat_interval_s
        self.daemon: SyncDaemon | None = None

    def start(self, outbox: Outbox, device: DeviceConfig) -> SyncDaemon:
        self.stop()
        self.daemon = SyncDaemon(outbox, device, heartbeat_interval_s=self.heartbeat_interval_s).start()
        log.info("sync daemon started for %s", device.device_id)
        return self.daemon

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            log.info("sync daemon stopped")
            self.daemon = None

    def hold(self, outbox: Outbox, timeout_s: float = 15.0) -> bool:
        self.stop()
        return True

    def release(self, outbox: Outbox, device: DeviceConfig | None) -> None:
        if device is not None:
            self.start(outbox, device)

    def running(self, outbox: Outbox) -> bool:
        return self.daemon is not None and self.daemon._thread is not None and self.daemon._thread.is_alive()


class ExternalSync:
    """``kiosk-syncd`` runs as its own service; it is held and released through the shared database."""

    def __init__(self) -> None:
        self.token = ""

    def hold(self, outbox: Outbox, timeout_s: float = 15.0) -> bool:
        self.token = secrets.token_hex(8)
        outbox.set_states({HOLD_STATE: f"{self.token}:{time.time() + HOLD_LAPSE_S}", HELD_STATE: ""})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if outbox.states().get(HELD_STATE) == self.token or not daemon_alive(outbox):
                return True
            _tick.wait(0.05)
        log.warning("the sync daemon did not answer the hold within %.0f s", timeout_s)
        return False

    def release(self, outbox: Outbox, device: DeviceConfig | None) -> None:
        outbox.set_states({HOLD_STATE: ""})

    def running(self, outbox: Outbox) -> bool:
        return daemon_alive(outbox)


__all__ = ["ExternalSync", "InProcessSync", "SyncControl", "daemon_alive"]
