"""Telemetry retention at the central: heartbeat samples older than a configurable age (default 30 days)
are deleted at startup and then periodically (hourly by default), in small batches so a long backlog never
holds a lock the ingest workers wait on.

The fleet view needs only each device's latest telemetry (kept on the ``devices`` row) and the device
page's recent chart; a thousand kiosks heartbeating every 10 s write 8.6 million samples a day, so
without this the table grows without bound. ``kiosk-central serve --telemetry-days N`` sets the age
(``KIOSK_CENTRAL_TELEMETRY_DAYS`` too); 0 keeps everything.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
from collections.abc import Callable

from sqlalchemy import delete, select

from central.models import TelemetrySample
from central.store import CentralStore

log = logging.getLogger("kiosk.central.retention")

DEFAULT_TELEMETRY_DAYS = 30.0
DEFAULT_EVERY_S = 3600.0
BATCH = 5000
ENV_DAYS = "KIOSK_CENTRAL_TELEMETRY_DAYS"


def telemetry_days(arg: float | None = None) -> float:
    """The retention age in days: the option if given, else ``$KIOSK_CENTRAL_TELEMETRY_DAYS``, else 30."""
    if arg is not None:
        value = float(arg)
    else:
        try:
            value = float(os.environ.get(ENV_DAYS, DEFAULT_TELEMETRY_DAYS))
        except ValueError:
            log.warning("%s is not a number: keeping %.0f days", ENV_DAYS, DEFAULT_TELEMETRY_DAYS)
            value = DEFAULT_TELEMETRY_DAYS
    if value < 0:
        raise ValueError("the telemetry retention must be 0 (keep all) or more days")
    return value


def days_arg(text: str) -> float:
    """``--telemetry-days``: a number of days, 0 or more."""
    try:
        return telemetry_days(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number of days, 0 (keep all) or more") from None


def purge_telemetry(store: CentralStore, max_age_s: float, now: float | None = None, batch: int = BATCH) -> int:
    """Delete telemetry samples taken more than ``max_age_s`` ago; the number deleted."""
    if max_age_s <= 0:
        return 0
    horizon = (time.time() if now is None else now) - max_age_s
    total = 0
    while True:
        with store.session() as s, s.begin():
            ids = list(s.scalars(select(TelemetrySample.id).where(TelemetrySample.at < horizon).limit(batch)))
            if ids:
                s.execute(delete(TelemetrySample).where(TelemetrySample.id.in_(ids)))
        total += len(ids)
        if len(ids) < batch:
            return total


class RetentionTask:
    """Runs :func:`purge_telemetry` now and every ``every_s`` on a daemon thread until ``stop()``."""

    def __init__(self, store: CentralStore, *, days: float = DEFAULT_TELEMETRY_DAYS, every_s: float = DEFAULT_EVERY_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.max_age_s, self.every_s, self.clock = store, days * 86400.0, every_s, clock
        self.deleted = 0
        self.rounds = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        try:
            n = purge_telemetry(self.store, self.max_age_s, self.clock())
        except Exception:  # the database may be briefly away; the next round tries again
            log.exception("telemetry retention failed")
            return 0
        self.deleted += n
        self.rounds += 1
        if n:
            log.info("telemetry retention: %d sample(s) older than %.1f days deleted", n, self.max_age_s / 86400)
        return n

    def start(self) -> RetentionTask:
        self._thread = threading.Thread(target=self._loop, name="telemetry-retention", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        self.run_once()  # at startup
        while not self._stop.wait(self.every_s):
            self.run_once()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def start_retention(store: CentralStore, days: float | None = None, every_s: float = DEFAULT_EVERY_S) -> RetentionTask:
    """The task ``kiosk-central serve`` starts beside its ingest workers."""
    return RetentionTask(store, days=telemetry_days(days), every_s=every_s).start()


__all__ = ["DEFAULT_TELEMETRY_DAYS", "RetentionTask", "days_arg", "purge_telemetry", "start_retention",
           "telemetry_days"]
