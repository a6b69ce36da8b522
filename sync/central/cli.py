"""``kiosk-central``: the central platform's command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

from sync.central.ingest import IngestWorker
from sync.central.ingest_processes import MAX_PROCESSES
from sync.central.keys import CentralKeys, KeysError
from sync.central.store import CentralStore
from sync.cli_common import print_json, stop_on_signals, whole_number
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
        dashboard = serve(store, host, port, keys_home=home, broker_url=args.broker,
                          crl_copy=Path(args.crl_copy) if args.crl_copy else None)
        log.info("operators' dashboard on %s", dashboard.url)
    tls, cert_service = _fleet_tls(args.broker, home, store, keys)
    workers = _ingest_workers(args, store, keys, tls)
    stop = _Stop(workers)
    stop_on_signals(stop)
    from sync.central.ingest_processes import IngestProcesses, ingest_argv
    from sync.central.retention import start_retention  # telemetry older than --telemetry-days goes

    retention = start_retention(store, args.telemetry_days)
    # The store is open (migrated) before any child opens it.
    children = IngestProcesses(ingest_argv(args.broker, db=args.db or default_db(home), home=str(home),
                                           workers=args.workers, gap_timeout=args.gap_timeout,
                                           verbose=args.verbose),
                               args.processes - 1)
    for w in workers[1:]:
        w.start()
    log.info("central serving %d ingest worker(s) in %d process(es)", len(workers) * args.processes,
             args.processes)
    try:
        children.start()
        workers[0].run()
    finally:
        children.stop()
        for w in workers[1:]:
            w.stop()
        if dashboard is not None:
            dashboard.stop()
        if cert_service is not None:
            cert_service.stop()
        retention.stop()
        store.close()
    return 0


def _ingest_workers(args: argparse.Namespace, store: CentralStore, keys: CentralKeys, tls: Any) -> list[IngestWorker]:
    """``--workers`` ingest workers of this process (``serve`` and ``ingest``), with ``--gap-timeout``."""
    from sync.central.sequences import DEFAULT_GAP_TIMEOUT_S

    gap_timeout = DEFAULT_GAP_TIMEOUT_S if args.gap_timeout is None else args.gap_timeout
    return [IngestWorker(args.broker, store, keys, worker_id=f"{os.getpid()}-{i}", tls=tls,
                         gap_timeout_s=gap_timeout, gap_check_s=min(30.0, gap_timeout))  # checked as often as due
            for i in range(args.workers)]


PARENT_CHECK_S = 1.0  # how often ``ingest --parent-pid`` looks whether its parent is still there


def _cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest workers only (no dashboard, certificate service or retention): ``serve --processes`` runs these,
    and more can run on this or other hosts against the same broker and database."""
    home = central_home(args.home)
    try:
        keys = CentralKeys.load(home)
    except KeysError as exc:
        print(f"kiosk-central ingest: {exc}", file=sys.stderr)
        return 2
    ok, tls = _broker_tls(args.broker, home, "ingest")  # the central's identity; certificates are serve's job
    if not ok:
        return 2
    store = CentralStore(args.db or default_db(home))
    workers = _ingest_workers(args, store, keys, tls)
    stop = _Stop(workers)
    stop_on_signals(stop)  # the handler only sets the workers' events: nothing here waits on them
    threads = [threading.Thread(target=w.run, name=w.client_id, daemon=True) for w in workers]
    for t in threads:
        t.start()
    log.info("central ingest process serving %d worker(s)", len(workers))
    code = 0
    try:
        while not stop.requested:
            # Returns at once when a worker ends (a signal asks them all to), else every PARENT_CHECK_S.
            threads[0].join(PARENT_CHECK_S)
            if stop.requested:
                break
            if args.parent_pid is not None and os.getppid() != args.parent_pid:
                log.warning("parent process %d is gone: ingest process stopping", args.parent_pid)
                break
            if not all(t.is_alive() for t in threads):
                log.error("an ingest worker ended unexpectedly: ingest process stopping")
                code = 1
                break
    finally:
        for w in workers:
            w.request_stop()
        for t in threads:
            t.join(10.0)
        store.close()
    return code


def _fleet_tls(broker: str, home: Path, store: CentralStore, keys: CentralKeys) -> tuple[Any, Any]:
    """For an ``mqtts://`` broker: the central's fleet identity and the certificate service beside the workers."""
    from sync.protocol.broker_url import uses_tls

    if not uses_tls(broker):
        return None, None
    from sync.central.ca import FleetCA
    from sync.central.cert_service import CertService

    ca = FleetCA.open(home)
    return ca.central_tls(), CertService(broker, store, keys, ca, worker_id=str(os.getpid())).start()


def _gap_timeout(text: str) -> float:
    """``--gap-timeout``: seconds (0.1 to 7 days) a sequence gap may last before the kiosk is asked to resend."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.1 <= value <= 7 * 86400:
        raise argparse.ArgumentTypeError("give between 0.1 and 604800 seconds")
    return value


def _broker_tls(broker: str, home: Path, what: str) -> tuple[bool, Any]:
    """(ok, the central's TLS identity or None) for ``broker``; prints why on failure."""
    from sync.central.ca import CAError
    from sync.central.commands import central_tls

    try:
        return True, central_tls(broker, home)
    except (CAError, OSError) as exc:
        print(f"kiosk-central {what}: the central's TLS identity in {home / 'ca'}: {exc}", file=sys.stderr)
        return False, None


def _cmd_ca(args: argparse.Namespace) -> int:
    from sync.central.ca import CAError, FleetCA
    from sync.central.cert_service import revoked_certificates

    home = central_home(args.home)
    try:
        ca = FleetCA.open(home)
        out: dict[str, Any] = {"ca": str(ca.ca_path), "crl": str(ca.crl_path)}
        if args.action == "broker-files":
            if not args.out or not args.name:
                print("kiosk-central ca broker-files: --out DIR and --name HOST are required", file=sys.stderr)
                return 2
            store = CentralStore(args.db or default_db(home))
            try:
                revoked = revoked_certificates(store)
            finally:
                store.close()
            out["broker_files"] = str(ca.server_files(Path(args.out), args.name, revoked=revoked))
    except (CAError, OSError) as exc:
        print(f"kiosk-central ca: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(out)
    else:
        print("\n".join(f"{k}: {v}" for k, v in out.items()))
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    import signal

    from sync.central.ca import FleetCA
    from sync.central.cert_service import drop_connection, revoke
    from sync.protocol.broker_url import BrokerUrlError, uses_tls
    from sync.protocol.topics import TopicError

    home = central_home(args.home)
    store = CentralStore(args.db or default_db(home))
    try:
        ca = FleetCA.open(home)
        done = revoke(store, ca, args.device, reason=args.reason or "",
                      crl_copy=Path(args.crl_copy) if args.crl_copy else None)
        if args.reload_pid:
            os.kill(args.reload_pid, signal.SIGHUP)  # Mosquitto re-reads the CRL on SIGHUP
        dropped = bool(args.broker and uses_tls(args.broker)
                       and drop_connection(args.broker, ca.central_tls(), args.device))
    except (TopicError, BrokerUrlError, OSError) as exc:
        print(f"kiosk-central revoke: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    if args.json:
        print_json({"device_id": done.device_id, "serials": list(done.serials), "crl": str(done.crl),
                    "dropped": dropped})
    else:
        print(f"{done.device_id} revoked ({len(done.serials)} certificate(s)); CRL {done.crl}")
    return 0


class _Stop:
    def __init__(self, workers: list[IngestWorker]) -> None:
        self.workers = workers
        self.requested = False

    def request_stop(self) -> None:
        self.requested = True
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
                             device_id=args.device_id, enrol_url=args.enrol_url)
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


def _release_args(args: argparse.Namespace, keys: CentralKeys, home: Path) -> dict[str, Any]:
    """``catalog --file F`` and ``update --version V --artifact F``: signed, staged for download where needed."""
    from sync.central.commands import catalog_args, update_args

    base_url = args.base_url or os.environ.get("KIOSK_CENTRAL_URL")
    if args.action in ("catalog", "catalog_update"):
        if not args.file:
            raise ValueError("catalog needs --file CATALOG.json (a catalogue or a signed catalogue document)")
        return catalog_args(keys, home, Path(args.file), base_url=base_url)
    if args.action == "update":
        if not args.version or not args.artifact or not base_url:
            raise ValueError("update needs --version V --artifact FILE and --base-url URL (or $KIOSK_CENTRAL_URL)")
        return update_args(keys, home, args.version, Path(args.artifact), base_url=base_url,
                           health_timeout_s=args.health_timeout)
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
        command_args.update(_release_args(args, keys, home))
    except (ValueError, KeysError) as exc:
        print(f"kiosk-central command: {exc}", file=sys.stderr)
        return 2
    ok, tls = _broker_tls(args.broker, home, "command")
    if not ok:
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
                                   site=None if args.all else args.site, ttl_s=args.ttl, tls=tls)
        else:
            sent = send_command(keys, args.broker, args.words[0], args.action, command_args, ttl_s=args.ttl,
                                tls=tls)
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


def _cmd_status(args: argparse.Namespace) -> int:
    """Set an application's status and push it to its site's kiosks, or send a site's statuses again."""
    from sync.central.status_push import StatusError, resend_site, set_status

    if (args.resend is None) == (len(args.words) != 2):
        print("kiosk-central status: give RECEIPT_NO STATUS, or --resend SITE", file=sys.stderr)
        return 2
    home = central_home(args.home)
    try:
        keys = CentralKeys.load(home)
    except KeysError as exc:
        print(f"kiosk-central status: {exc}", file=sys.stderr)
        return 2
    ok, tls = _broker_tls(args.broker, home, "status")
    if not ok:
        return 2
    store = CentralStore(args.db or default_db(home))
    try:
        if args.resend is not None:
            report = resend_site(store, keys, args.broker, args.resend, tls=tls)
            if args.json:
                print_json(report)
            else:
                print(f"{report['entries']} status(es) sent to {len(report['devices'])} kiosk(s)")
            return 0 if not report["errors"] else 1
        result = set_status(store, keys, args.words[0], args.words[1], actor=args.actor,
                            broker_url=args.broker, tls=tls)
    except (StatusError, ValueError) as exc:
        print(f"kiosk-central status: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    if args.json:
        print_json(result.to_json())
    else:
        print(f"{result.receipt_no} {result.status}: sent to {len(result.devices or [])} kiosk(s) of {result.site}"
              + (f" (not pushed: {result.push_error})" if result.push_error else ""))
    return 0 if not result.push_error else 1


def _cmd_import_export(args: argparse.Namespace) -> int:
    """Feed a kiosk's export of undelivered messages (a USB stick) through the normal ingest path."""
    from sync.central.importer import ExportError, export_folders, import_export

    home = central_home(args.home)
    try:
        keys = CentralKeys.load(home)
        folders = export_folders(Path(args.folder))
    except (KeysError, ExportError) as exc:
        print(f"kiosk-central import-export: {exc}", file=sys.stderr)
        return 2
    store = CentralStore(args.db or default_db(home))
    reports, failed = [], False
    try:
        for folder in folders:
            try:
                reports.append(import_export(store, keys, folder, actor=args.actor).to_json())
            except ExportError as exc:
                failed = True
                print(f"kiosk-central import-export: {folder.name}: {exc}", file=sys.stderr)
                reports.append({"folder": str(folder), "error": str(exc)})
    finally:
        store.close()
    if args.json:
        print_json(reports[0] if len(folders) == 1 and "error" not in reports[0] else reports)
    else:
        for r in reports:
            if "error" not in r:
                print(f"{Path(r['folder']).name}: {r['stored']} stored, {r['duplicate']} duplicate, "
                      f"{r['refused']} refused, {r['incomplete']} incomplete ({r['messages']} messages)")
                for bad in r["refusals"]:
                    print(f"  refused {bad['kind']} seq {bad['seq']} ({bad['id']}): {bad['reason']}", file=sys.stderr)
    if failed:
        return 2
    return 1 if any(r["refused"] or r["incomplete"] for r in reports) else 0


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
    from sync.central.retention import days_arg

    p.add_argument("--telemetry-days", type=days_arg, default=None,
                   help="delete telemetry older than this many days (default $KIOSK_CENTRAL_TELEMETRY_DAYS "
                        "or 30; 0 keeps all)")
    p.add_argument("--crl-copy", help="the dashboard's revoke button also writes the CRL here (the broker's crlfile)")
    p.add_argument("--gap-timeout", type=_gap_timeout, metavar="SECONDS",
                   help="how long a gap in a kiosk's sequence numbers may last before the central asks it to "
                        "send the missing messages again (default 600)")
    p.add_argument("--processes", type=whole_number(1, MAX_PROCESSES, "processes"), default=1, metavar="N",
                   help="ingest processes (1 to 64, default 1): this one and N-1 `kiosk-central ingest` "
                        "children, each with --workers workers, restarted if they exit")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("ingest", parents=[common], help="ingest workers only, to scale out (no dashboard, "
                                                       "certificate service or retention)")
    p.add_argument("--broker", required=True, help="mqtt://host:port, or mqtts://host:port with the central's "
                                                   "TLS identity from --home")
    p.add_argument("--db", help="SQLAlchemy URL (default sqlite in --home)")
    p.add_argument("--workers", type=whole_number(1, None, "worker(s)"), default=1,
                   help="ingest workers on the shared subscription")
    p.add_argument("--gap-timeout", type=_gap_timeout, metavar="SECONDS",
                   help="as for serve (default 600)")
    p.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # serve's children: stop when it is gone
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("submissions", parents=[common], help="list stored submissions, personal data masked")
    p.add_argument("--db")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=1000)
    p.set_defaults(func=_cmd_submissions)

    from sync.central.fleet import add_fleet_commands
    from sync.central.web.auth import add_operator_commands

    add_fleet_commands(sub, common)
    add_operator_commands(sub, common)

    p = sub.add_parser("ca", parents=[common], help="the fleet CA: create it, write the broker's TLS files")
    p.add_argument("action", choices=["init", "broker-files"])
    p.add_argument("--out", help="broker-files: folder for ca.pem, server.pem, server.key, crl.pem")
    p.add_argument("--name", action="append", help="broker-files: a host name or IP kiosks dial (repeatable)")
    p.add_argument("--db")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_ca)

    p = sub.add_parser("revoke", parents=[common], help="cut a kiosk off: CRL, device table, live connection")
    p.add_argument("device")
    p.add_argument("--reason", help="kept in the central's table (no personal data)")
    p.add_argument("--crl-copy", help="also write the CRL here (the file the broker's crlfile names)")
    p.add_argument("--reload-pid", type=int, help="SIGHUP this broker process so it re-reads the CRL")
    p.add_argument("--broker", help="mqtts://host:port: drop the kiosk's live connection now")
    p.add_argument("--db")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_revoke)

    p = sub.add_parser("enroll", parents=[common], help="issue a one-time enrolment token (and its QR) for a kiosk")
    p.add_argument("--site", help="the street office the kiosk belongs to")
    p.add_argument("--broker", help="the broker URL the kiosk will use (mqtt://host:port)")
    p.add_argument("--ttl", type=float, default=24 * 3600, help="seconds the token stays valid (default 24 h)")
    p.add_argument("--device-id", help="choose the device id (default: generated)")
    p.add_argument("--qr", help="also save the token as a QR PNG here")
    p.add_argument("--enrol-url", default="", help="TLS fleets: the broker's enrolment listener (mqtts://host:8884)")
    p.add_argument("--list", action="store_true", help="list issued tokens instead")
    p.add_argument("--db")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_enroll)

    p = sub.add_parser("command", parents=[common], help="sign and send a command to a kiosk, a site or all",
                       usage="kiosk-central command DEVICE|--site S|--all ACTION [--on|--off] [--message M] "
                             "[--set KEY=VALUE ...] [--file CATALOG.json] [--version V --artifact FILE "
                             "--base-url URL] [--ttl SECONDS] --broker URL [--home DIR] [--db URL] [--json]")
    p.add_argument("words", nargs="+", metavar="DEVICE ACTION",
                   help="the device and the action (maintenance, config, diagnostics, catalog, update); "
                        "only ACTION with --site/--all")
    p.add_argument("--site", help="every kiosk of this site in the central's registry")
    p.add_argument("--all", action="store_true", help="every kiosk in the central's registry")
    onoff = p.add_mutually_exclusive_group()
    onoff.add_argument("--on", dest="on", action="store_const", const=True, help="maintenance: turn on")
    onoff.add_argument("--off", dest="on", action="store_const", const=False, help="maintenance: turn off")
    p.add_argument("--message", help="maintenance: what the kiosk's screen says (at most 200 characters)")
    p.add_argument("--set", dest="settings", action="extend", nargs="+", metavar="KEY=VALUE", default=[],
                   help="config: settings to change")
    p.add_argument("--file", help="catalog: a catalogue (signed here) or a signed catalogue document")
    p.add_argument("--version", help="update: the release's version (its folder name on the kiosk)")
    p.add_argument("--artifact", help="update: the release archive (.tar.gz)")
    p.add_argument("--health-timeout", type=int, help="update: seconds the new version has to report healthy "
                                                      "(default 180)")
    p.add_argument("--base-url", help="update, large catalogues: the central's HTTP address as kiosks reach it "
                                      "(default $KIOSK_CENTRAL_URL); the artefact is served there from --home")
    p.add_argument("--ttl", type=float, default=300.0, help="seconds the command stays valid (default 300)")
    p.add_argument("--broker", required=True, help="mqtt://host:port, or mqtts://host:port with the central's "
                                                   "TLS identity from --home")
    p.add_argument("--db", help="SQLAlchemy URL of the registry for --site/--all (default sqlite in --home)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_command)

    p = sub.add_parser("status", parents=[common], help="set an application's status (受理/办理中/已办结/退回...) "
                       "and push it to the kiosks of its site",
                       usage="kiosk-central status RECEIPT_NO STATUS | --resend SITE --broker URL [--json]")
    p.add_argument("words", nargs="*", metavar="RECEIPT_NO STATUS",
                   help="status: received, accepted, processing, supplement, completed, returned, ready "
                        "(or 受理, 办理中, 待补正, 已办结, 退回, 待领取)")
    p.add_argument("--resend", metavar="SITE", help="send every status of this site again (kiosks that were offline)")
    p.add_argument("--actor", default="cli", help="who sets it, for the audit log (default: cli)")
    p.add_argument("--broker", required=True, help="mqtt://host:port, or mqtts://host:port with the central's "
                                                   "TLS identity from --home")
    p.add_argument("--db", help="SQLAlchemy URL (default sqlite in --home)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("import-export", parents=[common],
                       help="import a kiosk's export of undelivered messages (service mode, USB stick)")
    p.add_argument("folder", help="the export (kiosk-undelivered-...), or a folder holding exports")
    p.add_argument("--actor", default="cli", help="who imports it, for the audit log (default: cli)")
    p.add_argument("--db", help="SQLAlchemy URL (default sqlite in --home)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_import_export)

    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    setup_logging(args.verbose)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
