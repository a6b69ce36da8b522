"""``rollout``: start a staged OTA rollout (a percentage of the fleet or chosen sites) of a release
``packaging/release`` signed; the dashboard server sends it in waves, halts it on failures and shows its
progress (``central.rollouts``). ``rollout --list`` prints the rollouts' progress as JSON."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from central import rollouts
from central.cli.common import _open_store
from central.cli.downlink import _release_args
from central.keys import CentralKeys, KeysError
from central.paths import central_home
from sync.runtime.cli_common import print_json


def _cmd_rollout(args: argparse.Namespace) -> int:
    home = central_home(args.home)
    store = _open_store(args, home)
    try:
        if args.list:
            with store.session() as s:
                print_json(rollouts.progress(s))
            return 0
        try:
            keys = CentralKeys.load(home)
            release = argparse.Namespace(action="update", version=args.version, artifact=args.artifact,
                                         manifest=args.manifest, base_url=args.base_url, health_timeout=None, file=None)
            update = _release_args(release, keys, home)
            rollout_id = rollouts.create(store, args.version, update, percent=args.percent, sites=args.site or None,
                                         max_failure_rate=args.max_failure_rate, min_finished=args.min_finished,
                                         wave=args.wave, actor="cli")
        except (ValueError, KeysError) as exc:
            print(f"kiosk-central rollout: {exc}", file=sys.stderr)
            return 2
        with store.session() as s:
            print_json(rollouts.progress(s, rollout_id)[0])
        return 0
    finally:
        store.close()


def _add_rollout(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("rollout", parents=[common], help="start a staged OTA rollout (or --list them)")
    p.add_argument("--db", help="SQLAlchemy URL (default sqlite in --home)")
    p.add_argument("--list", action="store_true", help="print every rollout's progress as JSON")
    p.add_argument("--version", help="the release's version")
    p.add_argument("--artifact", help="the release artefact (its manifest beside it: ARTIFACT.release.json)")
    p.add_argument("--manifest", help="the release manifest, if not beside the artefact")
    p.add_argument("--base-url", help="the central's address kiosks download from (default $KIOSK_CENTRAL_URL)")
    p.add_argument("--percent", type=float, help="this percentage of the fleet (widen it on the dashboard)")
    p.add_argument("--site", action="append", help="every kiosk of this site (repeat for more sites)")
    p.add_argument("--max-failure-rate", type=float, default=0.2,
                   help="halt when more than this fraction of the kiosks that finished failed (default 0.2)")
    p.add_argument("--min-finished", type=int, default=3, help="judge the rate once this many finished (default 3)")
    p.add_argument("--wave", type=int, default=10, help="kiosks updating at once (default 10)")
    p.set_defaults(func=_cmd_rollout)


COMMANDS = {"rollout": _add_rollout}
