"""What the central sends kiosks: ``command`` (signed commands, catalogues, updates) and ``status``
(application statuses)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from central.cli.common import (  # noqa: F401
    _broker_reload,
    _broker_tls,
    _encrypt_existing,
    _gap_timeout,
    _key_source,
    _master_key_ready,
    _open_store,
    log,
)
from central.keys import CentralKeys, KeysError
from central.paths import central_home
from sync.runtime.cli_common import print_json


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
    if action == "release_floor":  # anti-rollback: the kiosks refuse any release below this version
        if not args.version:
            raise ValueError("release_floor needs --version V")
        return {"version": args.version}
    return {}


def _release_args(args: argparse.Namespace, keys: CentralKeys, home: Path) -> dict[str, Any]:
    """``catalog --file F`` and ``update --version V --artifact F``: signed, staged for download where needed."""
    from central.commands import catalog_args, update_args

    base_url = args.base_url or os.environ.get("KIOSK_CENTRAL_URL")
    if args.action in ("catalog", "catalog_update"):
        if not args.file:
            raise ValueError("catalog needs --file CATALOG.json (a catalogue or a signed catalogue document)")
        return catalog_args(keys, home, Path(args.file), base_url=base_url)
    if args.action == "update":
        if not args.version or not args.artifact or not base_url:
            raise ValueError("update needs --version V --artifact FILE and --base-url URL (or $KIOSK_CENTRAL_URL)")
        manifest_file = Path(args.manifest or f"{args.artifact}.release.json")
        manifest: dict[str, Any] = {}
        try:
            if Path(args.artifact).is_file():
                manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ValueError(f"update needs the release manifest packaging/release wrote ({manifest_file}); "
                             "the central does not sign releases") from None
        return update_args(home, args.version, Path(args.artifact), base_url=base_url, manifest=manifest,
                           health_timeout_s=args.health_timeout)
    return {}


def _cmd_command(args: argparse.Namespace) -> int:
    from central.commands import PublishError, fleet_device_ids, send_command, send_to_devices
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
            store = _open_store(args, home)
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
            store = _open_store(args, home)  # a revoked kiosk is sent nothing
            try:
                sent = send_command(keys, args.broker, args.words[0], args.action, command_args, ttl_s=args.ttl,
                                    tls=tls, store=store)
            finally:
                store.close()
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


def _move(store: Any, keys: CentralKeys, home: Path, args: argparse.Namespace, tls: Any) -> dict[str, Any]:
    """RECEIPT_NO STATUS through the console's state machine (``workflow.TransitionError`` when it refuses)."""
    from central import catalogue
    from central.applications import listing, workflow
    from sync.protocol.commands import app_status_code

    receipt, word = args.words
    status = app_status_code(word)  # ValueError for a word that is no status
    submission_id = listing.submission_id_of(store, receipt)
    if submission_id is None:
        raise ValueError("no application with that receipt number")
    decision = workflow.Decision(status=status, reason=args.reason or "", missing=tuple(args.missing),
                                 deadline=args.deadline or "", result=args.result or "", collect=args.collect or "",
                                 note=args.note or "")
    out = workflow.transition(store, keys, catalogue.load(home), submission_id, decision, actor=args.actor,
                              broker_url=args.broker, tls=tls)
    return {"receipt_no": out.receipt_no, "status": out.status, "site": out.site, "devices": out.devices,
            "pushed": bool(out.devices), "push_error": out.push_error, "forced": False,
            "detail": out.detail.get("text", {})}


def _cmd_status(args: argparse.Namespace) -> int:
    """Move an application through the console's state machine (or, with --force, set any status, audited) and
    push it to its site's kiosks; or send a site's statuses again."""
    from central.applications.workflow import TransitionError
    from central.status_push import StatusError, resend_site, set_status

    if (args.resend is None) == (len(args.words) != 2):
        print("kiosk-central status: give RECEIPT_NO STATUS, or --resend SITE", file=sys.stderr)
        return 2
    if args.force and not (args.note or "").strip():
        print("kiosk-central status: --force sets a status outside the state machine; say why with --note",
              file=sys.stderr)
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
    store = _open_store(args, home)
    try:
        if args.resend is not None:
            report = resend_site(store, keys, args.broker, args.resend, tls=tls)
            if args.json:
                print_json(report)
            else:
                print(f"{report['entries']} status(es) sent to {len(report['devices'])} kiosk(s)")
            return 0 if not report["errors"] else 1
        if args.force:
            result = {**set_status(store, keys, args.words[0], args.words[1], actor=args.actor, broker_url=args.broker,
                                   tls=tls, forced=" ".join(args.note.split())).to_json(), "forced": True}
        else:
            result = _move(store, keys, home, args, tls)
    except (StatusError, TransitionError, ValueError) as exc:
        print(f"kiosk-central status: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    if args.json:
        print_json(result)
    else:
        print(f"{result['receipt_no']} {result['status']}: sent to {len(result['devices'])} kiosk(s) of "
              f"{result['site']}" + (f" (not pushed: {result['push_error']})" if result["push_error"] else ""))
    return 0 if not result["push_error"] else 1


def _add_command(sub: Any, common: argparse.ArgumentParser) -> None:
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
    p.add_argument("--manifest", help="update: the artefact's signed manifest (default ARTIFACT.release.json, "
                                      "written by packaging/release with the offline release key)")
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


def _texts() -> Any:
    from central.applications import texts

    return texts


def _add_status(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("status", parents=[common],
                       help="move an application through the state machine (受理/不予受理/补正/办结; --force "
                            "for any status, audited) and push it to the kiosks of its site",
                       usage="kiosk-central status RECEIPT_NO STATUS [--reason R | --missing M... --deadline D | "
                             "--result R --collect C] [--note N] [--force --note WHY] | --resend SITE --broker URL "
                             "[--json]")
    p.add_argument("words", nargs="*", metavar="RECEIPT_NO STATUS",
                   help="status: received, accepted, processing, supplement, completed, returned, ready "
                        "(or 受理, 办理中, 待补正, 已办结, 退回, 待领取)")
    p.add_argument("--resend", metavar="SITE", help="send every status of this site again (kiosks that were offline)")
    p.add_argument("--reason", help="不予受理 rejected: why (" + ", ".join(_texts().REASONS) + "; other needs --note)")
    p.add_argument("--missing", action="extend", nargs="+", default=[], metavar="MATERIAL",
                   help="补正 supplement: the catalogue ids of the missing materials")
    p.add_argument("--deadline", metavar="YYYY-MM-DD", help="补正 supplement: bring them by this date")
    p.add_argument("--result", help="办结 completed: the result (" + ", ".join(_texts().RESULTS) + ")")
    p.add_argument("--collect", help="办结 completed: how it is collected (" + ", ".join(_texts().COLLECT) + ")")
    p.add_argument("--note", help="a note shown with the status (no personal data: it reaches the kiosks); with "
                                  "--force, why, for the audit log")
    p.add_argument("--force", action="store_true",
                   help="set the status outside the state machine (the back office's override: 办理中, 待领取, 退回, "
                        "or a correction); needs --note, audited as forced")
    p.add_argument("--actor", default="cli", help="who sets it, for the audit log (default: cli)")
    p.add_argument("--broker", required=True, help="mqtt://host:port, or mqtts://host:port with the central's "
                                                   "TLS identity from --home")
    p.add_argument("--db", help="SQLAlchemy URL (default sqlite in --home)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_status)


COMMANDS = {"command": _add_command, "status": _add_status}  # name -> what adds it
