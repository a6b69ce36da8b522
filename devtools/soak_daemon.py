"""One kiosk's sync daemon in its own process, paced for a many-kiosk soak on a small machine.

``python -m devtools.soak_daemon --home DIR [--poll S] [--wait S]`` runs the real :class:`SyncDaemon` (through
``kiosk-sim``'s :class:`~devtools.sim.SimDaemon`, which adds only a poll()-based loop with a longer idle wait)
on a provisioned kiosk home, like ``kiosk-syncd`` minus the command executor and the watchdog. Why: an
idle ``kiosk-syncd`` wakes 20 times a second and reads its outbox 10 times a second, a few per cent of a
core; on its own kiosk that is nothing, but fifty of them on two cores leave nothing for delivering.
Traffic still wakes the paced loop at once; only idle polling is slower. SIGKILL is still SIGKILL of a
real process; SIGTERM stops gracefully (offline status).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devtools.sim import SimDaemon
from sync.device import DeviceConfig, DeviceConfigError
from sync.kiosk_config import load_config
from sync.outbox.store import open_outbox
from sync.runtime.cli_common import stop_on_signals
from sync.runtime.logconfig import setup_logging


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devtools.soak_daemon", description=__doc__.split("\n\n")[0])
    p.add_argument("--home", required=True, help="the kiosk's provisioned home")
    p.add_argument("--poll", type=float, default=0.5, help="outbox poll interval when idle (default 0.5 s)")
    p.add_argument("--wait", type=float, default=0.25, help="longest socket wait when idle (default 0.25 s)")
    args = p.parse_args(argv)
    if args.poll <= 0 or args.wait <= 0:
        p.error("--poll and --wait must be positive")
    setup_logging()
    home = Path(args.home)
    try:
        device = DeviceConfig.load(home)
    except DeviceConfigError as exc:
        p.error(str(exc))
    outbox = open_outbox(home, device)
    daemon = SimDaemon(outbox, device, poll_interval_s=args.poll, loop_timeout_s=args.wait,
                       heartbeat_interval_s=float(load_config(home).get("heartbeat_interval_s", 30.0)))
    stop_on_signals(daemon)
    try:
        daemon.run()
    finally:
        outbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
