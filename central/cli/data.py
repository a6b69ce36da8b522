"""The stored data: ``submissions`` (listed, personal data masked) and ``import-export`` (a kiosk's export of
undelivered messages)."""

from __future__ import annotations

import argparse
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


def _cmd_submissions(args: argparse.Namespace) -> int:
    home = central_home(args.home)
    store = _open_store(args, home)
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


def _cmd_import_export(args: argparse.Namespace) -> int:
    """Feed a kiosk's export of undelivered messages (a USB stick) through the normal ingest path."""
    from central.importer import ExportError, export_folders, import_export

    home = central_home(args.home)
    try:
        keys = CentralKeys.load(home)
        folders = export_folders(Path(args.folder))
    except (KeysError, ExportError) as exc:
        print(f"kiosk-central import-export: {exc}", file=sys.stderr)
        return 2
    store = _open_store(args, home)
    if not _master_key_ready(store, "import-export"):
        store.close()
        return 2
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


def _add_submissions(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("submissions", parents=[common], help="list stored submissions, personal data masked")
    p.add_argument("--db")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=1000)
    p.set_defaults(func=_cmd_submissions)


def _add_import_export(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("import-export", parents=[common],
                       help="import a kiosk's export of undelivered messages (service mode, USB stick)")
    p.add_argument("folder", help="the export (kiosk-undelivered-...), or a folder holding exports")
    p.add_argument("--actor", default="cli", help="who imports it, for the audit log (default: cli)")
    p.add_argument("--db", help="SQLAlchemy URL (default sqlite in --home)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_import_export)


COMMANDS = {"submissions": _add_submissions, "import-export": _add_import_export}  # name -> what adds it
