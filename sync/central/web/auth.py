"""Operators (argon2id-hashed passwords, roles) and the audit log, plus ``kiosk-central operator ...``.

Roles are ordered: a ``viewer`` sees the fleet, alarms, events, masked submissions and ratings; an
``operator`` also sends commands and clears alarms; an ``admin`` also opens a submission's full personal
data (audited) and reads the audit log.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sync.central.fleet_models import AuditEntry, Operator
from sync.central.store import CentralStore

ROLES = ("viewer", "operator", "admin")
MIN_PASSWORD = 8
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): ~0.15 s per check on a small server,
# so a burst of logins cannot exhaust the central's memory or CPU. Older hashes are upgraded on login.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-password-of-anyone")


class OperatorError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    username: str
    role: str

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def _sessions(store: CentralStore) -> sessionmaker[Session]:
    return sessionmaker(store.engine, expire_on_commit=False)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_username(username: str) -> str:
    if not _USERNAME.match(username):
        raise OperatorError("user names are 1-64 characters of A-Z a-z 0-9 _ . @ -")
    return username


def add_operator(store: CentralStore, username: str, password: str, role: str, *, replace: bool = False) -> None:
    check_username(username)
    if role not in ROLES:
        raise OperatorError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise OperatorError(f"passwords have at least {MIN_PASSWORD} characters")
    with _sessions(store).begin() as s:
        existing = s.get(Operator, username)
        if existing is not None and not replace:
            raise OperatorError(f"operator {username} exists (use --replace to change password and role)")
        if existing is None:
            s.add(Operator(username=username, password_hash=hash_password(password), role=role, disabled=False,
                           created_at=time.time()))
        else:
            existing.password_hash = hash_password(password)
            existing.role = role
            existing.disabled = False


def set_disabled(store: CentralStore, username: str, disabled: bool) -> bool:
    with _sessions(store).begin() as s:
        op = s.get(Operator, username)
        if op is None:
            return False
        op.disabled = disabled
        return True


def list_operators(store: CentralStore) -> list[dict[str, Any]]:
    with _sessions(store)() as s:
        return [{"username": o.username, "role": o.role, "disabled": o.disabled, "created_at": o.created_at}
                for o in s.scalars(select(Operator).order_by(Operator.username))]


def authenticate(store: CentralStore, username: str, password: str) -> Principal | None:
    """The operator if the password matches (and the account is enabled), else None."""
    with _sessions(store)() as s:
        op = s.get(Operator, username) if _USERNAME.match(username) else None
        stored = op.password_hash if op is not None else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if op is None or op.disabled:
            return None
        if _hasher.check_needs_rehash(stored):
            with _sessions(store).begin() as w:
                row = w.get(Operator, username)
                if row is not None:
                    row.password_hash = hash_password(password)
        return Principal(op.username, op.role)


def principal(store: CentralStore, username: str) -> Principal | None:
    """The operator behind a session, re-read on every request (a disabled account loses access at once)."""
    with _sessions(store)() as s:
        op = s.get(Operator, username)
        if op is None or op.disabled or op.role not in ROLES:
            return None
        return Principal(op.username, op.role)


def audit(store: CentralStore, actor: str, action: str, target: str = "",
          detail: dict[str, Any] | None = None) -> None:
    """Record who did what to which target. ``detail`` holds ids and parameters, never personal data."""
    with _sessions(store).begin() as s:
        s.add(AuditEntry(at=time.time(), actor=actor[:64], action=action[:64], target=target[:128],
                         detail=json.dumps(detail or {}, ensure_ascii=False, default=str)))


def audit_entries(store: CentralStore, limit: int = 500, action: str | None = None,
                  target: str | None = None) -> list[dict[str, Any]]:
    stmt = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if target is not None:
        stmt = stmt.where(AuditEntry.target == target)
    with _sessions(store)() as s:
        return [{"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "target": e.target,
                 "detail": json.loads(e.detail or "{}")} for e in s.scalars(stmt)]


# -- kiosk-central operator ... ----------------------------------------------------------------------------


def _read_password(args: argparse.Namespace) -> str:
    if args.password_file:
        lines = Path(args.password_file).read_text(encoding="utf-8").splitlines()
        text = lines[0] if lines else ""
    elif sys.stdin.isatty():
        text = getpass.getpass("password: ")
        if getpass.getpass("again: ") != text:
            raise OperatorError("the passwords differ")
    else:
        text = sys.stdin.readline()
    return text.rstrip("\r\n")


def _open_store(args: argparse.Namespace) -> CentralStore:
    from sync.central.cli import central_home, default_db  # here: cli imports this module

    if getattr(args, "db", None):
        return CentralStore(args.db)
    home = central_home(args.home)
    home.mkdir(parents=True, exist_ok=True)
    return CentralStore(default_db(home))


def _cmd_add(args: argparse.Namespace) -> int:
    try:
        password = _read_password(args)
        store = _open_store(args)
        try:
            add_operator(store, args.user, password, args.role, replace=args.replace)
            audit(store, "cli", "operator_add", args.user, {"role": args.role, "replace": args.replace})
        finally:
            store.close()
    except (OperatorError, OSError) as exc:
        print(f"kiosk-central operator add: {exc}", file=sys.stderr)
        return 2
    print(f"operator {args.user} ({args.role}) saved")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from sync.cli_common import print_json

    store = _open_store(args)
    try:
        rows = list_operators(store)
    finally:
        store.close()
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(f"{r['username']:<24} {r['role']:<9} {'disabled' if r['disabled'] else ''}")
    return 0


def _cmd_disable(args: argparse.Namespace, disabled: bool) -> int:
    store = _open_store(args)
    try:
        found = set_disabled(store, args.user, disabled)
        if found:
            audit(store, "cli", "operator_disable" if disabled else "operator_enable", args.user)
    finally:
        store.close()
    if not found:
        print(f"kiosk-central operator: no operator {args.user}", file=sys.stderr)
        return 2
    return 0


def add_operator_commands(subparsers: Any, common_parent: argparse.ArgumentParser) -> None:
    """Register ``operator add USER --role R [--password-file F]``, ``operator list``, ``operator disable|enable``."""
    p = subparsers.add_parser("operator", help="dashboard operators: add, list, disable, enable")
    ops = p.add_subparsers(dest="operator_cmd", required=True)

    a = ops.add_parser("add", parents=[common_parent], help="add an operator (password from stdin or a file)")
    a.add_argument("user")
    a.add_argument("--role", choices=ROLES, default="viewer")
    a.add_argument("--password-file", help="read the password from this file's first line (default: stdin)")
    a.add_argument("--replace", action="store_true", help="change an existing operator's password and role")
    a.add_argument("--db", help="SQLAlchemy URL (default sqlite in --home)")
    a.set_defaults(func=_cmd_add)

    ls = ops.add_parser("list", parents=[common_parent], help="list operators")
    ls.add_argument("--db")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_cmd_list)

    for name, disabled in (("disable", True), ("enable", False)):
        d = ops.add_parser(name, parents=[common_parent], help=f"{name} an operator's login")
        d.add_argument("user")
        d.add_argument("--db")
        d.set_defaults(func=lambda args, flag=disabled: _cmd_disable(args, flag))
