"""What every group of ``kiosk-central`` subcommands shares: opening the store with its master key, the
broker's TLS identity, the broker reload command, parsing a gap timeout."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from central.field_encryption import FieldKeyError, KeySource, data_key_counts
from central.paths import default_db
from central.store import CentralStore

log = logging.getLogger("kiosk.central")


def _key_source(args: argparse.Namespace, home: Path) -> KeySource:
    """Where the master key of the personal data at rest comes from (central.field_encryption)."""
    return KeySource.resolve(home, getattr(args, "master_key", None))


def _open_store(args: argparse.Namespace, home: Path) -> CentralStore:
    return CentralStore(args.db or default_db(home), master_keys=_key_source(args, home))


def _master_key_ready(store: CentralStore, what: str, *, create: bool = False) -> bool:
    """Storing needs the master key: load it (``create``: make it in the home on first use, when the database
    holds no data key yet, so a key file that went missing is never silently replaced). False, with a clear
    message, when it cannot be had."""
    source = store.fields.source
    if create and not source.exists() and source.path is not None and not data_key_counts(store.engine):
        source.create()
        log.warning("created the master key of the personal data at rest in %s: back it up apart from the "
                    "database (without it the stored applications cannot be opened)", source.path)
    try:
        store.fields.master_keys(reload=True)
    except FieldKeyError as exc:
        print(f"kiosk-central {what}: {exc}", file=sys.stderr)
        return False
    return True


def _broker_tls(broker: str, home: Path, what: str) -> tuple[bool, Any]:
    """(ok, the central's TLS identity or None) for ``broker``; prints why on failure."""
    from central.ca import CAError
    from central.commands import central_tls

    try:
        return True, central_tls(broker, home)
    except (CAError, OSError) as exc:
        print(f"kiosk-central {what}: the central's TLS identity in {home / 'ca'}: {exc}", file=sys.stderr)
        return False, None


def _broker_reload(args: argparse.Namespace) -> Any:
    """What makes the broker re-read its CRL: ``--broker-reload CMD`` (run, no shell), else ``--reload-pid``
    (SIGHUP), else None (a systemd path unit or the operator reloads it)."""
    import signal

    from central.web.revoke import reload_command

    if getattr(args, "broker_reload", None):
        try:
            return reload_command(args.broker_reload)
        except ValueError as exc:  # an empty command, unbalanced quotes
            print(f"kiosk-central: --broker-reload: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    pid = getattr(args, "reload_pid", None)
    if pid:
        return lambda: os.kill(pid, signal.SIGHUP)  # Mosquitto re-reads the CRL on SIGHUP
    return None


def _encrypt_existing(store: CentralStore) -> None:
    """At start: rows stored in clear before revision c0011 are encrypted (once; nothing to do afterwards)."""
    from central.field_encryption import clear_rows, encrypt_existing

    if any(clear_rows(store.engine).values()):
        done = encrypt_existing(store.engine, store.fields)
        log.warning("encrypted the personal data of %d submission(s) and %d event(s) stored in clear before; "
                    "older backups of the database still hold it in clear", done["submissions"], done["events"])


def _gap_timeout(text: str) -> float:
    """``--gap-timeout``: seconds (0.1 to 7 days) a sequence gap may last before the kiosk is asked to resend."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.1 <= value <= 7 * 86400:
        raise argparse.ArgumentTypeError("give between 0.1 and 604800 seconds")
    return value
