"""``kiosk-syncd [--home DIR]``: the sync daemon process."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from sync.cli_common import stop_on_signals, whole_number
from sync.daemon.commands import CommandExecutor
from sync.daemon.service import BATCH_SIZE, SyncDaemon
from sync.daemon.watchdog import LoopWatchdog
from sync.device import DeviceConfig, DeviceConfigError, resolve_home
from sync.kiosk_config import load_config
from sync.logconfig import setup_logging
from sync.outbox.store import open_outbox
from sync.protocol.batch import MAX_ENVELOPES

EXIT_RESTART = 75  # a new release was switched to (or rolled back): systemd's Restart= starts it


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kiosk-syncd", description="Deliver the kiosk's outbox to the central.")
    parser.add_argument("--home", help="kiosk data folder (default $KIOSK_HOME or ~/.local/share/kiosk)")
    parser.add_argument("--window", type=int, default=20, help="messages in flight at once (default 20)")
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
    outbox = open_outbox(home, device)
    settings = load_config(home)
    daemon: SyncDaemon | None = None

    def apply_settings(new: dict[str, Any]) -> None:
        if daemon is not None and "heartbeat_interval_s" in new:
            daemon.heartbeat_interval_s = float(new["heartbeat_interval_s"])

    restart = threading.Event()

    def request_restart() -> None:
        restart.set()
        if daemon is not None:
            daemon.request_stop()

    executor = CommandExecutor(outbox, device, home, on_config=apply_settings, on_restart=request_restart)
    daemon = SyncDaemon(outbox, device, window=args.window, batch_size=args.batch_size,
                        heartbeat_interval_s=float(settings.get("heartbeat_interval_s", 30.0)),
                        command_handler=executor.handle)
    executor.resume_updates()  # confirm or roll back a release switched to before this start
    watchdog = LoopWatchdog.from_env()  # systemd Type=notify + WatchdogSec; a no-op elsewhere
    daemon.loop_hook = watchdog.tick
    stop_on_signals(daemon)
    try:
        daemon.run()
    finally:
        watchdog.stopping()
        executor.ota.stop()
        outbox.close()
    return EXIT_RESTART if restart.is_set() else 0


if __name__ == "__main__":
    raise SystemExit(main())
