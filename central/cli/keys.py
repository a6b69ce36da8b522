"""The central's keys: ``init`` and ``keys`` (its key pairs), ``datakey`` (the master key of the personal data
at rest)."""

from __future__ import annotations

import argparse
import json
import sys
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
from central.field_encryption import KeySource
from central.keys import CentralKeys, KeysError
from central.paths import central_home
from central.store import CentralStore
from sync.runtime.cli_common import print_json


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


def _cmd_datakey(args: argparse.Namespace) -> int:
    """``kiosk-central datakey init|status|rotate|rewrap|encrypt-existing``: the master key of the personal data
    at rest (central.field_encryption)."""
    from central import field_encryption as fe

    home = central_home(args.home)
    source = _key_source(args, home)
    what = f"datakey {args.action}"
    try:
        if args.action == "init":
            keys = source.create()
            report: dict[str, Any] = {"active": keys.active_id, "file": str(source.path)}
            text = f"master key {keys.active_id} created in {source.path} (0600): back it up apart from the database"
        else:
            store = _open_store(args, home)
            try:
                report, text = _datakey_action(args, store, source)
            finally:
                store.close()
    except fe.FieldKeyError as exc:
        print(f"kiosk-central {what}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(report)
    else:
        print(text)
    return 0


def _datakey_action(args: argparse.Namespace, store: CentralStore, source: KeySource) -> tuple[dict[str, Any], str]:
    from central import field_encryption as fe
    from central.web.auth import audit

    report: dict[str, Any]
    if args.action == "status":
        keys = store.fields.master_keys() if source.exists() else None
        report = {"source": source.describe(), "active": keys.active_id if keys else None,
                  "keys": keys.ids if keys else [], "data_keys": fe.data_key_counts(store.engine),
                  "clear_rows": fe.clear_rows(store.engine)}
        return report, json.dumps(report, ensure_ascii=False, indent=2)
    if args.action == "rotate":
        report = fe.rotate(store.engine, source)
        audit(store, args.actor, "master_key_rotated", report["active"], report)
        return report, (f"master key {report['active']} active; {report['rewrapped']} data key(s) re-wrapped; "
                        f"retired: {', '.join(report['retired']) or 'none'}")
    if args.action == "rewrap":
        keys = store.fields.master_keys()
        count = fe.rewrap(store.engine, keys)
        retired = fe.retire(store.engine, source) if args.retire else []
        report = {"active": keys.active_id, "rewrapped": count, "retired": retired}
        audit(store, args.actor, "data_keys_rewrapped", keys.active_id, report)
        return report, f"{count} data key(s) re-wrapped with {keys.active_id}; retired: {', '.join(retired) or 'none'}"
    # encrypt-existing
    store.fields.master_keys()
    done = fe.encrypt_existing(store.engine, store.fields, vacuum=not args.no_vacuum)
    backups = _backups(args, store)
    report = {"encrypted": done, "clear_rows": fe.clear_rows(store.engine), "backups_in_clear": backups}
    audit(store, args.actor, "fields_encrypted", "", {"encrypted": done})
    text = f"encrypted {done['submissions']} submission(s) and {done['events']} event(s)"
    if backups:
        text += "; these backups still hold personal data in clear: " + ", ".join(backups)
    return report, text


def _backups(args: argparse.Namespace, store: CentralStore) -> list[str]:
    """SQLite copies ``sync.runtime.upgrade`` took before migrating (they predate the encryption)."""
    from sync.runtime.upgrade import BACKUP_SUFFIX, sqlite_file

    db = sqlite_file(store.engine)
    return sorted(str(p) for p in db.parent.glob(db.name + BACKUP_SUFFIX + "*")) if db is not None else []


def _add_init(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("init", parents=[common], help="create the central's key pairs")
    p.add_argument("--force", action="store_true", help="replace existing keys (kiosks must be re-provisioned)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_init)


def _add_keys(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("keys", parents=[common], help="print the public keys kiosks are provisioned with (JSON)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_keys)


def _add_datakey(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("datakey", parents=[common],
                       help="the master key of the personal data at rest: init, status, rotate (new master key, "
                            "data keys re-wrapped, old key retired), rewrap [--retire], encrypt-existing")
    p.add_argument("action", choices=["init", "status", "rotate", "rewrap", "encrypt-existing"])
    p.add_argument("--db", help="SQLAlchemy URL (default sqlite in --home)")
    p.add_argument("--retire", action="store_true", help="rewrap: then remove the other keys from the key file")
    p.add_argument("--no-vacuum", action="store_true",
                   help="encrypt-existing: do not rewrite the SQLite file afterwards (freed pages keep the clear text)")
    p.add_argument("--actor", default="cli", help="who, for the audit log")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_datakey)


COMMANDS = {"init": _add_init, "keys": _add_keys, "datakey": _add_datakey}  # name -> what adds it
