"""``kiosk-syncd [--home DIR]``: the sync daemon process."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from sync.daemon.commands import CommandExecutor
from sync.daemon.reserve import DiskReserve
from sync.daemon.service import BATCH_SIZE, WINDOW_BYTES, SyncDaemon, hold_token
from sync.daemon.watchdog import LoopWatchdog
from sync.device import DEVICE_FILE, OUTBOX_FILE, DeviceConfig, DeviceConfigError, resolve_home
from sync.kiosk_config import load_config
from sync.outbox.store import Outbox, OutboxUnavailable, open_outbox_waiting
from sync.protocol.batch import MAX_ENVELOPES
from sync.runtime.cli_common import stop_on_signals, whole_number
from sync.runtime.logconfig import setup_logging

OPEN_RETRY_MAX_S = 20.0  # below half of the unit's WatchdogSec=60: the waiting daemon pings in time
EXIT_RESTART = 75  # a new release was switched to (or rolled back): systemd's Restart= starts it
log = logging.getLogger("kiosk.syncd")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kiosk-syncd", description="Deliver the kiosk's outbox to the central.")
    parser.add_argument("--home", help="kiosk data folder (default $KIOSK_HOME or ~/.local/share/kiosk)")
    parser.add_argument("--window", type=int, default=20, help="messages in flight at once (default 20)")
    parser.add_argument("--window-bytes", type=whole_number(16 * 1024, 64 * 1024 * 1024), default=WINDOW_BYTES,
                        help=f"payload bytes in flight at once (default {WINDOW_BYTES // 1024} KiB: a new application "
                             "waits behind at most this much)")
    parser.add_argument("--batch-size", type=whole_number(1, MAX_ENVELOPES), default=BATCH_SIZE,
                        help=f"queued submissions sent together in one up/batch message (1 to {MAX_ENVELOPES}, "
                             f"default {BATCH_SIZE}; 1 sends each alone, for a central older than up/batch)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    home = resolve_home(args.home)
    try:
        device = DeviceConfig.load(home)
    except DeviceConfigError as exc:
        print(f"kiosk-syncd: {exc}", file=sys.stderr)
        return 2
    # A full disk or a lock at start-up is waited out (with backoff), never an exit: systemd would only
    # restart-loop the daemon. The reserve is given up first if the disk is full.
    watchdog = LoopWatchdog.from_env()  # systemd Type=notify + WatchdogSec; a no-op elsewhere
    reserve = DiskReserve(home)
    stopping = threading.Event()
    stop_on_signals(stopping)
    while True:
        outcome = _serve(home, device, args, watchdog, reserve, stopping)
        if outcome != HELD:
            return outcome
        # Held by the service mode (re-provisioning, factory reset): wait until it lets go, then go on under the
        # identity the kiosk has then, without a restart; none (a factory reset): stop, and systemd's path unit
        # starts the daemon again when the kiosk is provisioned anew.
        if not _wait_for_release(home, watchdog, stopping):
            watchdog.stopping()
            return 0
        try:
            device = DeviceConfig.load(home)
        except DeviceConfigError:
            log.info("no identity after the hold (factory reset): stopping")
            watchdog.stopping()
            return 0
        log.info("hold released: going on as %s", device.device_id)


HELD = -1


def _wait_for_release(home: Path, watchdog: LoopWatchdog, stopping: threading.Event) -> bool:
    """Wait while the hold is in force; False if the daemon should stop (asked to, or the identity is gone)."""
    while not stopping.is_set():
        watchdog.tick()
        if not (home / DEVICE_FILE).exists() or not (home / OUTBOX_FILE).exists():
            return False
        try:
            outbox = Outbox(home / OUTBOX_FILE)
            try:
                held = hold_token(outbox.states())
            finally:
                outbox.close()
        except (OutboxUnavailable, OSError, DBAPIError):
            held = "?"
        if held is None:
            return True
        stopping.wait(0.2)
    return False


def _serve(home: Path, device: DeviceConfig, args: argparse.Namespace, watchdog: LoopWatchdog,
           reserve: DiskReserve, stopping: threading.Event) -> int:
    """Run the daemon under ``device`` until it stops: its exit code, or HELD."""

    def waiting(exc: OutboxUnavailable) -> None:
        watchdog.tick()  # alive and saying so, while it waits
        if exc.code == "disk_full":
            reserve.release()

    outbox = open_outbox_waiting(home, device, stopping, waiting, max_delay_s=OPEN_RETRY_MAX_S)
    if outbox is None:
        watchdog.stopping()
        return 0
    reserve.ensure()
    settings = load_config(home)
    daemon: SyncDaemon | None = None

    def apply_settings(new: dict[str, Any]) -> None:
        if daemon is not None and "heartbeat_interval_s" in new:
            daemon.heartbeat_interval_s = float(new["heartbeat_interval_s"])
        if daemon is not None and "data_budget_mb" in new:
            daemon.budget.budget_mb = int(new["data_budget_mb"])

    restart = threading.Event()

    def request_restart() -> None:
        restart.set()
        if daemon is not None:
            daemon.request_stop()

    executor = CommandExecutor(outbox, device, home, on_config=apply_settings, on_restart=request_restart)
    daemon = SyncDaemon(outbox, device, window=args.window, window_bytes=args.window_bytes, batch_size=args.batch_size,
                        heartbeat_interval_s=float(settings.get("heartbeat_interval_s", 30.0)),
                        data_budget_mb=int(settings.get("data_budget_mb", 0)),
                        command_handler=executor.handle, reserve=reserve)
    executor.resume_updates()  # confirm or roll back a release switched to before this start
    daemon.loop_hook = watchdog.tick
    stop_on_signals(daemon)
    if stopping.is_set():
        daemon.request_stop()
    try:
        daemon.run()
    finally:
        executor.ota.stop()
        outbox.close()
        stop_on_signals(stopping)
    if daemon.held and not stopping.is_set() and not restart.is_set():
        return HELD
    watchdog.stopping()
    return EXIT_RESTART if restart.is_set() else 0


if __name__ == "__main__":
    raise SystemExit(main())
