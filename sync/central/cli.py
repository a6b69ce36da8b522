"""``kiosk-central``: the central platform's command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from sync.central.ingest import IngestWorker
from sync.central.keys import CentralKeys, KeysError
from sync.central.store import CentralStore
from sync.cli_common import print_json, stop_on_signals
from sync.logconfig import setup_logging

log = logging.getLogger("kiosk.central")


def central_home(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    if os.environ.get("KIOSK_CENTRAL_HOME"):
        return Path(os.environ["KIOSK_CENTRAL_HOME"])
    return Path.home() / ".local" / "share" / "kiosk-central"


def default_db(home: Path) -> str:
    return f"sqlite:///{home / 'central.db'}"


def _cmd_init(args: argparse.Namespace) -> int:
    home = central_home(args.home)
    try:
        CentralKeys.generate().save(home, overwrite=args.force)
    except KeysError as exc:
        print(f"kiosk-central init: {exc}", file=sys.stderr)
        return 2
    keys = CentralKeys.load(home)
    if args.json:
        print_json({"home": str(home), **keys.public_keys()})
    else:
        print(f"central keys created in {home}")
    return 0


def _cmd_keys(args: argparse.Namespace) -> int:
    try:
        keys = CentralKeys.load(central_home(args.home))
    except KeysError as exc:
        print(f"kiosk-central keys: {exc}", file=sys.stderr)
        return 2
    print_json(keys.public_keys())
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    home = central_home(args.home)
    try:
        keys = CentralKeys.load(home)
    except KeysError as exc:
        print(f"kiosk-central serve: {exc}", file=sys.stderr)
        return 2
    store = CentralStore(args.db or default_db(home))
    dashboard = None
    if args.http:
        from sync.central.web.server import parse_http, serve

        host, port = parse_http(args.http)
        dashboard = serve(store, host, port, keys_home=home, broker_url=args.broker)
        log.info("operators' dashboard on %s", dashboard.url)
    workers = [IngestWorker(args.broker, store, keys, worker_id=f"{os.getpid()}-{i}") for i in range(args.workers)]
    stop = _Stop(workers)
    stop_on_signals(stop)
    for w in workers[1:]:
        w.start()
    log.info("central serving %d ingest worker(s)", len(workers))
    try:
        workers[0].run()
    finally:
        for w in workers[1:]:
            w.stop()
        if dashboard is not None:
            dashboard.stop()
        store.close()
    return 0


class _Stop:
    def __init__(self, workers: list[IngestWorker]) -> None:
        self.workers = workers

    def request_stop(self) -> None:
        for w in self.workers:
            w.request_stop()


def _cmd_submissions(args: argparse.Namespace) -> int:
    home = central_home(args.home)
    store = CentralStore(args.db or default_db(home))
    try:
        rows = store.list_masked(args.limit)
    finally:
        store.close()
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(f"{r['receipt_no']}  {r['service_code']}  {r['device_id']}  seq {r['seq']}")
    return 0


def _cmd_enroll(args: argparse.Namespace) -> int:
    from sync.central.enrolment import issue_token, list_tokens, save_qr

    home = central_home(args.home)
    store = CentralStore(args.db or default_db(home))
    try:
        if args.list:
            tokens = list_tokens(store)
            if args.json:
                print_json(tokens)
            else:
                for t in tokens:
                    state = "used" if t["used_at"] else "open"
                    print(f"{t['device_id']}  {t['site']}  {state}")
            return 0
        if not args.site or not args.broker:
            print("kiosk-central enroll: --site and --broker are required", file=sys.stderr)
            return 2
        try:
            keys = CentralKeys.load(home)
        except KeysError as exc:
            print(f"kiosk-central enroll: {exc}", file=sys.stderr)
            return 2
        issued = issue_token(store, keys, site=args.site, broker_url=args.broker, ttl_s=args.ttl,
                             device_id=args.device_id)
    finally:
        store.close()
    qr = str(save_qr(issued.token, Path(args.qr))) if args.qr else None
    if args.json:
        print_json({"token": issued.token, "token_id": issued.token_id, "device_id": issued.device_id,
                    "site": issued.site, "expires_at": issued.expires_at, "qr": qr})
    else:
        print(issued.token)
        if qr:
            print(f"QR code saved to {qr}", file=sys.stderr)
    return 0


def _command_args(args: argparse.Namespace) -> dict[str, Any]:
    """The command's arguments from the flags (checked again, strictly, when the command is built)."""
    from sync.protocol.commands import CONFIG_KEYS

    action = args.action
    if action == "maintenance":
        if args.on is None:
            raise ValueError("maintenance needs --on or --off")
        return {"on": args.on, **({"message": args.message} if args.message and args.on else {})}
    if action == "config":
        if not args.settings:
            raise ValueError("config needs --set KEY=VALUE")
        values: dict[str, Any] = {}
        for item in args.settings:
            key, sep, text = item.partition("=")
            if not sep or key not in CONFIG_KEYS:
                raise ValueError(f"--set takes KEY=VALUE with KEY one of {', '.join(sorted(CONFIG_KEYS))}")
            try:
                values[key] = CONFIG_KEYS[key].parse(text)
            except ValueError as exc:
                raise ValueError(f"--set {key}: {exc}") from exc
        return {"set": values}
    return {}


def _cmd_command(args: argparse.Namespace) -> int:
    from sync.central.commands import PublishError, fleet_device_ids, send_command, send_to_devices
    from sync.protocol.commands import CommandRefused

    fleet = args.all or args.site is not None
    expected = 1 if fleet else 2
    if len(args.words) != expected or (args.all and args.site is not None):
        print("kiosk-central command: give DEVICE ACTION, or --site S ACTION, or --all ACTION", file=sys.stderr)
        return 2
    args.action = args.words[-1]
    home = central_home(args.home)
    try:
        command_args = _command_args(args)
        keys = CentralKeys.load(home)
    except (ValueError, KeysError) as exc:
        print(f"kiosk-central command: {exc}", file=sys.stderr)
        return 2
    try:
        if fleet:
            store = CentralStore(args.db or default_db(home))
            try:
                devices = fleet_device_ids(store, None if args.all else args.site)
            finally:
                store.close()
            if not devices:
                print("kiosk-central command: the registry knows no such kiosk", file=sys.stderr)
                return 1
            sent = send_to_devices(keys, args.broker, devices, args.action, command_args,
                                   site=None if args.all else args.site, ttl_s=args.ttl)
        else:
            sent = send_command(keys, args.broker, args.words[0], args.action, command_args, ttl_s=args.ttl)
    except CommandRefused as exc:
        print(f"kiosk-central command: {exc.message}", file=sys.stderr)
        return 2
    except PublishError as exc:
        print(f"kiosk-central command: not sent: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"kiosk-central command: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(sent.to_json())
    else:
        print(sent.id)
        print(f"{sent.command.action} sent to {len(sent.published)} kiosk(s)", file=sys.stderr)
    return 0 if sent.published else 1


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", help="central data folder (default $KIOSK_CENTRAL_HOME or "
                                       "~/.local/share/kiosk-central)")
    common.add_argument("-v", "--verbose", action="store_true")
    parser = argparse.ArgumentParser(prog="kiosk-central", description="The central platform.")
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("init", parents=[common], help="create the central's key pairs")
    p.add_argument("--force", action="store_true", help="replace existing keys (kiosks must be re-provisioned)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("keys", parents=[common], help="print the public keys kiosks are provisioned with (JSON)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_keys)

    p = sub.add_parser("serve", parents=[common], help="ingest submissions from the broker")
    p.add_argument("--broker", required=True, help="mqtt://host:port")
    p.add_argument("--db", help="SQLAlchemy URL (default sqlite in --home)")
    p.add_argument("--http", help="HOST:PORT for the operators' dashboard")
    p.add_argument("--workers", type=int, default=1, help="ingest workers on the shared subscription")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("submissions", parents=[common], help="list stored submissions, personal data masked")
    p.add_argument("--db")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=1000)
    p.set_defaults(func=_cmd_submissions)

    from sync.central.fleet import add_fleet_commands
    from sync.central.web.auth import add_operator_commands

    add_fleet_commands(sub, common)
    add_operator_commands(sub, common)

    p = sub.add_parser("enroll", parents=[common], help="issue a one-time enrolment token (and its QR) for a kiosk")
    p.add_argument("--site", help="the street office the kiosk belongs to")
    p.add_argument("--broker", help="the broker URL the kiosk will use (mqtt://host:port)")
    p.add_argument("--ttl", type=float, default=24 * 3600, help="seconds the token stays valid (default 24 h)")
    p.add_argument("--device-id", help="choose the device id (default: generated)")
    p.add_argument("--qr", help="also save the token as a QR PNG here")
    p.add_argument("--list", action="store_true", help="list issued tokens instead")
    p.add_argument("--db")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_enroll)

    p = sub.add_parser("command", parents=[common], help="sign and send a command to a kiosk, a site or all",
                       usage="kiosk-central command DEVICE|--site S|--all ACTION [--on|--off] [--message M] "
                             "[--set KEY=VALUE ...] [--ttl SECONDS] --broker URL [--home DIR] [--db URL] [--json]")
    p.add_argument("words", nargs="+", metavar="DEVICE ACTION",
                   help="the device and the action (maintenance, config, diagnostics); only ACTION with --site/--all")
    p.add_argument("--site", help="every kiosk of this site in the central's registry")
    p.add_argument("--all", action="store_true", help="every kiosk in the central's registry")
    onoff = p.add_mutually_exclusive_group()
    onoff.add_argument("--on", dest="on", action="store_const", const=True, help="maintenance: turn on")
    onoff.add_argument("--off", dest="on", action="store_const", const=False, help="maintenance: turn off")
    p.add_argument("--message", help="maintenance: what the kiosk's screen says (at most 200 characters)")
    p.add_argument("--set", dest="settings", action="extend", nargs="+", metavar="KEY=VALUE", default=[],
                   help="config: settings to change")
    p.add_argument("--ttl", type=float, default=300.0, help="seconds the command stays valid (default 300)")
    p.add_argument("--broker", required=True, help="mqtt://host:port")
    p.add_argument("--db", help="SQLAlchemy URL of the registry for --site/--all (default sqlite in --home)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_command)

    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    setup_logging(args.verbose)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
