"""systemd's notify protocol (``sd_notify``) for ``kiosk-syncd``: READY, WATCHDOG and STOPPING.

Under ``Type=notify`` with ``WatchdogSec=`` systemd passes ``$NOTIFY_SOCKET`` (a unix datagram socket) and
``$WATCHDOG_USEC``; the daemon says ``READY=1`` once it runs and ``WATCHDOG=1`` at least once per interval,
or systemd kills and restarts it. The pings come from the daemon's own loop (``LoopWatchdog.tick`` is its
loop hook), never from a timer thread: a loop stuck in a hung callback or a blocked database stops pinging,
and that is exactly when the restart is wanted. Outside systemd (no ``$NOTIFY_SOCKET``) all of this is a
no-op. No library is needed: the protocol is one datagram of ``KEY=VALUE`` lines.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("kiosk.syncd.watchdog")


class Notifier:
    """Sends ``sd_notify`` datagrams to ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace)."""

    def __init__(self, socket_path: str | None) -> None:
        self.socket_path = socket_path or None
        self._sock: socket.socket | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if env is None else env
        return cls(env.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self.socket_path is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields in one datagram; False (logged once per failure) when it cannot be sent."""
        if self.socket_path is None:
            return False
        address = self.socket_path
        if address.startswith("@"):
            address = "\0" + address[1:]
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(fields).encode(), address)
        except OSError as exc:
            log.warning("cannot notify systemd: %s", type(exc).__name__)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval_s(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """The watchdog period systemd asked for (``$WATCHDOG_USEC``), or None when there is no watchdog.

    ``$WATCHDOG_PID``, when set, names the process the watchdog is meant for; a child that inherited the
    environment must not ping on its parent's behalf.
    """
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    wanted_pid = env.get("WATCHDOG_PID")
    if wanted_pid and int(wanted_pid) != (os.getpid() if pid is None else pid):
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("ignoring an invalid WATCHDOG_USEC")
        return None
    return value / 1_000_000 if value > 0 else None


class LoopWatchdog:
    """Called on every turn of the daemon's loop: READY=1 on the first turn, then WATCHDOG=1 at most every
    half interval (systemd's advice). A turn that never comes means no ping."""

    def __init__(self, notifier: Notifier, interval_s: float | None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.notifier = notifier
        self.ping_every_s = interval_s / 2 if interval_s else None
        self.clock = clock
        self.ready_sent = False
        self.pings = 0
        self._next_ping = 0.0

    @classmethod
    def from_env(cls) -> LoopWatchdog:
        return cls(Notifier.from_env(), watchdog_interval_s())

    def tick(self) -> None:
        if not self.notifier.enabled:
            return
        if not self.ready_sent:
            self.ready_sent = self.notifier.ready("delivering the outbox")
        if self.ping_every_s is None:
            return
        now = self.clock()
        if now < self._next_ping:
            return
        if self.notifier.watchdog():
            self.pings += 1
        self._next_ping = now + self.ping_every_s

    def stopping(self) -> None:
        if self.notifier.enabled:
            self.notifier.stopping()
        self.notifier.close()
