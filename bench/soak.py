"""Soak: a kiosk fleet (one ``kiosk-syncd`` process per kiosk) submitting at a steady rate for a bounded time
while the broker, the central and sync daemons are killed and restarted on a seeded schedule; then the drain.

Prints one JSON object: submissions enqueued, stored, lost, duplicated; publishes and resends; the faults as
injected; alarms raised and cleared at the central; RSS of every process over time. Exit status 0 only when
the drain finished with 0 lost, 0 duplicated and nothing unexpected. The machinery is ``devtools/soak.py``.

Run: ``.venv/bin/python -m bench.soak --kiosks 50 --minutes 10 [--tls]`` (nice it on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import signal
import sys
from pathlib import Path

from devtools.soak import SoakError, SoakSettings, run_soak
from sync.runtime.logconfig import setup_logging


def _range(text: str) -> tuple[float, float]:
    lo, sep, hi = text.partition(",")
    try:
        return (float(lo), float(hi)) if sep else (float(lo), float(lo))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LOW,HIGH seconds") from None


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--kiosks", type=int, default=50, help="kiosks, each its own kiosk-syncd process (default 50)")
    p.add_argument("--minutes", type=float, default=10.0, help="how long the fleet submits (default 10)")
    p.add_argument("--rate", type=float, default=20.0, help="submissions per second, whole fleet (default 20)")
    p.add_argument("--broker-restarts", type=int, default=3)
    p.add_argument("--central-restarts", type=int, default=3)
    p.add_argument("--daemon-kills", type=int, default=20)
    p.add_argument("--broker-down", type=_range, default=(1.0, 8.0), metavar="LOW,HIGH",
                   help="seconds a restarted broker stays down (default 1,8)")
    p.add_argument("--central-down", type=_range, default=(0.5, 5.0), metavar="LOW,HIGH")
    p.add_argument("--daemon-down", type=_range, default=(2.0, 30.0), metavar="LOW,HIGH")
    p.add_argument("--attachment-share", type=float, default=0.1, help="share of submissions with a photo")
    p.add_argument("--offline-alarm", type=float, default=10.0,
                   help="seconds offline before the central's offline alarm (dashboard default 300)")
    p.add_argument("--drain-timeout", type=float, default=600.0)
    p.add_argument("--daemon", choices=("kiosk-syncd", "paced"), default="kiosk-syncd",
                   help="each kiosk's daemon process: the product's kiosk-syncd, or the same engine polling "
                        "less when idle (devtools/soak_daemon.py) for fleets larger than the machine's cores")
    p.add_argument("--tls", action="store_true",
                   help="the shipped broker configuration (mutual TLS, per-device ACL, CRL): every kiosk gets a "
                        "client certificate from the central's fleet CA and the central serves on mqtts://")
    p.add_argument("--seed", type=int, default=20261128)
    p.add_argument("--home", help="keep the run's folders here (default: a temporary folder, removed)")
    p.add_argument("--full", action="store_true", help="print every sample series (default: abridged)")
    args = p.parse_args(argv)
    setup_logging()
    # SIGTERM (e.g. from timeout) unwinds like Ctrl-C, so every broker, central and daemon is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    logging.getLogger("kiosk").setLevel(logging.WARNING)
    try:
        settings = SoakSettings(
            kiosks=args.kiosks, seconds=args.minutes * 60, rate=args.rate, broker_restarts=args.broker_restarts,
            central_restarts=args.central_restarts, daemon_kills=args.daemon_kills, broker_down_s=args.broker_down,
            central_down_s=args.central_down, daemon_down_s=args.daemon_down,
            attachment_share=args.attachment_share, offline_alarm_s=args.offline_alarm,
            drain_timeout_s=args.drain_timeout, sample_every_s=5.0 if args.minutes >= 5 else 2.0,
            evaluate_every_s=2.0, seed=args.seed, daemon=args.daemon, tls=args.tls)
        report = run_soak(settings, Path(args.home) if args.home else None)
    except SoakError as exc:
        p.error(str(exc))
    report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                         "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]}
    if not args.full:
        report.pop("stored_series", None)
    print(json.dumps(report, ensure_ascii=False))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
