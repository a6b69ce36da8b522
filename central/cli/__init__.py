"""``kiosk-central``: the central platform's command line, one module per group of subcommands.

- :mod:`central.cli.keys`: ``init``, ``keys``, ``datakey``
- :mod:`central.cli.server`: ``serve``, ``ingest``
- :mod:`central.cli.trust`: ``ca``, ``revoke``, ``enroll``
- :mod:`central.cli.downlink`: ``command``, ``status``
- :mod:`central.cli.data`: ``submissions``, ``import-export``
- :mod:`central.cli.reports`: ``report``
- ``fleet``, ``alarms`` (:func:`central.fleet.add_fleet_commands`) and ``operator``
  (:func:`central.web.auth.add_operator_commands`) next to what they manage.
"""

from __future__ import annotations

import argparse

from central.cli import data, downlink, keys, reports, server, trust
from central.cli.common import _master_key_ready  # noqa: F401 - tests reach it as central.cli._master_key_ready
from sync.runtime.logconfig import setup_logging


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", help="central data folder (default $KIOSK_CENTRAL_HOME or "
                                       "~/.local/share/kiosk-central)")
    common.add_argument("--master-key", metavar="PATH",
                        help="file of the master key of the personal data at rest (default "
                             "$KIOSK_CENTRAL_MASTER_KEY with the keys inline, $KIOSK_CENTRAL_MASTER_KEY_FILE, "
                             "or master.key in --home)")
    common.add_argument("-v", "--verbose", action="store_true")
    parser = argparse.ArgumentParser(prog="kiosk-central", description="The central platform.")
    sub = parser.add_subparsers(dest="cmd", required=True)

    # In the order `kiosk-central --help` has always listed them.
    for group, name in ((keys, "init"), (keys, "keys"), (server, "serve"), (server, "ingest"), (keys, "datakey"),
                        (data, "submissions")):
        group.COMMANDS[name](sub, common)
    from central.fleet import add_fleet_commands
    from central.web.auth import add_operator_commands

    add_fleet_commands(sub, common)
    add_operator_commands(sub, common)
    from central.cli.rollout import COMMANDS as ROLLOUT_COMMANDS

    ROLLOUT_COMMANDS["rollout"](sub, common)

    for group, name in ((trust, "ca"), (trust, "revoke"), (trust, "enroll"), (downlink, "command"),
                        (downlink, "status"), (data, "import-export"), (reports, "report"),
                        (reports, "report-counts")):
        group.COMMANDS[name](sub, common)

    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    setup_logging(args.verbose)
    return int(args.func(args))
