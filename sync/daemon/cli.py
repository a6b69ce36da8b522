"""``kiosk-syncd [--home DIR]``: the sync daemon process."""

from __future__ import annotations

import argparse
import sys

from sync.cli_common import stop_on_signals
from sync.daemon.service import SyncDaemon
from sync.device import OUTBOX_FILE, DeviceConfig, DeviceConfigError, resolve_home
from sync.logconfig import setup_logging
from sync.outbox.store import Outbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kiosk-syncd", description="Deliver the kiosk's outbox to the central.")
    parser.add_argument("--home", help="kiosk data folder (default $KIOSK_HOME or ~/.local/share/kiosk)")
    parser.add_argument("--window", type=int, default=20, help="messages in flight at once (default 20)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    home = resolve_home(args.home)
    try:
        device = DeviceConfig.load(home)
    except DeviceConfigError as exc:
        print(f"kiosk-syncd: {exc}", file=sys.stderr)
        return 2
    outbox = Outbox(home / OUTBOX_FILE)
    daemon = SyncDaemon(outbox, device, window=args.window)
    stop_on_signals(daemon)
    try:
        daemon.run()
    finally:
        outbox.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
