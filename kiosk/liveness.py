"""The UI's own proof of life, from its UI thread: the liveness record, the probe's answer and systemd's
watchdog (``kiosk-ui.service``: ``WatchdogSec=``, ``NotifyAccess=all``).

One QTimer on the UI thread does everything (:mod:`sync.ota.liveness` describes the record). A UI thread
that hangs (a blocked slot, a QML loop) stops the timer, so the record goes stale, the probe goes
unanswered and the ``WATCHDOG=1`` pings stop: systemd kills and restarts the UI, the daemon reports it in
the heartbeat, and an update waiting for this UI's health is rolled back. ``READY=1`` is sent once the
attract screen has been drawn (a frame swapped while the journey showed it).

The release the UI runs is ``$KIOSK_RELEASE_DIR``'s name (``kiosk-session`` sets it), else the bundle's
``VERSION`` file, else None (a development checkout).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtQuick import QQuickWindow

from sync.daemon.watchdog import Notifier
from sync.ota.liveness import BEAT_S, PROBE_POLL_S, STARTS_KEPT_S, read_probe, read_record, write_record

log = logging.getLogger("kiosk.liveness")

ATTRACT = "attract"


def running_release() -> str | None:
    named = os.environ.get("KIOSK_RELEASE_DIR")
    if named:
        return Path(named).name or None
    if getattr(sys, "frozen", False):
        with_version = Path(sys.executable).resolve().parent / "VERSION"
        try:
            return with_version.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None
    return None


def watchdog_usec(env: dict[str, str] | None = None) -> float | None:
    """The UI's watchdog period. Not :func:`sync.daemon.watchdog.watchdog_interval_s`: the UI is cage's child,
    not the unit's main process, so ``$WATCHDOG_PID`` names cage and the unit says ``NotifyAccess=all``."""
    value = (env if env is not None else os.environ).get("WATCHDOG_USEC", "")
    try:
        usec = int(value)
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


class UiLiveness(QObject):
    """Beats, answers probes and pings systemd from the UI thread of ``window``."""

    def __init__(self, home: Path, window: QQuickWindow, journey: QObject, *, release: str | None = None,
                 notifier: Notifier | None = None, beat_s: float = BEAT_S, poll_s: float = PROBE_POLL_S,
                 parent: QObject | None = None) -> None:
        super().__init__(parent or window)
        self.home = home
        self.window = window
        self.journey = journey
        self.notifier = notifier if notifier is not None else Notifier.from_env()
        self.beat_s = beat_s
        interval = watchdog_usec()
        self.ping_every_s = min(poll_s, interval / 2) if interval else poll_s
        now = time.time()
        earlier = read_record(home) or {}
        starts = [t for t in earlier.get("starts") or () if isinstance(t, int | float) and now - t <= STARTS_KEPT_S]
        self.record: dict[str, Any] = {"pid": os.getpid(), "release": release if release is not None
                                       else running_release(), "started_at": now, "beat_at": now,
                                       "attract_at": None, "probe": earlier.get("probe"),
                                       "starts": [*starts, now], "selftest": None}
        self._last_write = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(int(self.ping_every_s * 1000))
        self._timer.timeout.connect(self.tick)
        window.frameSwapped.connect(self._frame)

    def start(self) -> UiLiveness:
        self._write()
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.stop()
        self.notifier.stopping()
        self.notifier.close()

    def set_selftest(self, reports: list[dict[str, Any]]) -> None:
        """The drivers' self-test at start (``drivers.registry.selftest_all``): names and ok, nothing else."""
        self.record["selftest"] = {str(r["driver"]): bool(r["ok"]) for r in reports}
        self._write()

    def _frame(self) -> None:
        if self.record["attract_at"] is None and self.journey.property("screen") == ATTRACT:
            self.record["attract_at"] = time.time()
            self.window.frameSwapped.disconnect(self._frame)
            log.info("the attract screen is up (release %s)", self.record["release"] or "development")
            self.notifier.ready("attract screen shown")
            self._write()

    def tick(self) -> None:
        """On the UI thread: ping systemd; answer a new probe at once; beat every ``beat_s``."""
        self.notifier.watchdog()
        asked = read_probe(self.home)
        now = time.time()
        if (asked is not None and asked != self.record["probe"]) or now - self._last_write >= self.beat_s:
            if asked is not None:
                self.record["probe"] = asked
            self._write(now)

    def _write(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.record["beat_at"] = now
        try:
            write_record(self.home, self.record)
        except OSError as exc:  # a full disk must not take the UI down; the record goes stale and says so
            log.warning("cannot write the UI liveness record: %s", type(exc).__name__)
        self._last_write = now


__all__ = ["UiLiveness", "running_release", "watchdog_usec"]
