"""Operators (argon2id-hashed passwords, roles), their dashboard sessions and the audit log, plus
``kiosk-central operator ...``.

Roles are ordered: a ``viewer`` sees the fleet, alarms, events, masked submissions and ratings; an
``operator`` also sends commands and clears alarms; an ``admin`` also opens a submission's full personal
data (audited) and reads the audit log.

Sessions live on the server (table ``dashboard_sessions``): the browser's cookie carries a random session id,
the table only its SHA-256. A session ends on logout, when the user's password or role changes or the account
is disabled (each of these ends *all* the user's sessions), after ``idle_s`` without a request and ``max_s``
after login, whatever happens in between.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import os
import re
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from central.fleet_models import AuditEntry, DashboardSession, Operator
from central.store import CentralStore

ROLES = ("viewer", "operator", "admin")
MIN_PASSWORD = 8
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): ~0.15 s per check on a small server,
# so a burst of logins cannot exhaust the central's memory or CPU. Older hashes are upgraded on login.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-password-of-anyone")
# What the audit log records as the actor of a failed login whose user name is no operator's: the text typed
# there may be a password typed into the wrong field, so it is never stored, not even hashed.
UNKNOWN_USER = "<unknown>"

SESSION_IDLE_S = 30 * 60.0
SESSION_MAX_S = 12 * 3600.0
_TOUCH_S = 10.0  # last_seen is written at most this often per session (not on every request)
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)

# Logins per client address: this many failures are free, then each further one doubles the wait (1 s, 2 s,
# 4 s ... up to LOGIN_MAX_WAIT_S); an hour without failures forgets the address.
LOGIN_FREE_FAILURES = 5
LOGIN_MAX_WAIT_S = 15 * 60.0
LOGIN_FORGET_S = 3600.0


class OperatorError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    username: str
    role: str

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class SessionPolicy:
    """How long a dashboard session lives: ``idle_s`` after its last request, ``max_s`` after login."""

    idle_s: float = SESSION_IDLE_S
    max_s: float = SESSION_MAX_S

    def __post_init__(self) -> None:
        if not self.idle_s > 0:
            raise ValueError("the idle timeout must be positive")
        if not self.max_s >= self.idle_s:
            raise ValueError("the absolute timeout must be at least the idle timeout")


def _sessions(store: CentralStore) -> sessionmaker[Session]:
    return sessionmaker(store.engine, expire_on_commit=False)


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode("ascii")).hexdigest()


def start_session(store: CentralStore, username: str, now: float, policy: SessionPolicy) -> str:
    """A new session for ``username``; returns its id (for the cookie; the table keeps only its hash).
    Rows of sessions that ended or expired over a day ago are dropped on the way."""
    sid = secrets.token_urlsafe(32)
    with _sessions(store).begin() as s:
        s.execute(delete(DashboardSession).where(or_(
            DashboardSession.created_at < now - policy.max_s - 86400,
            DashboardSession.ended_at < now - 86400)))
        s.add(DashboardSession(id_hash=_sid_hash(sid), username=username, created_at=now, last_seen=now))
    return sid


def session_principal(store: CentralStore, sid: object, now: float, policy: SessionPolicy, *,
                      touch: bool = True) -> Principal | None:
    """The operator behind session ``sid``, or None if it is unknown, ended or timed out (then it is ended
    for good) or its account is disabled. ``touch`` counts this as activity for the idle timeout."""
    if not isinstance(sid, str) or not _SESSION_ID.match(sid):
        return None
    with _sessions(store).begin() as s:
        row = s.get(DashboardSession, _sid_hash(sid))
        if row is None or row.ended_at is not None:
            return None
        reason = ("expired" if now - row.created_at >= policy.max_s
                  else "idle" if now - row.last_seen >= policy.idle_s else None)
        op = s.get(Operator, row.username)
        if reason is None and (op is None or op.disabled or op.role not in ROLES):
            reason = "account"
        if reason is not None or op is None:
            row.ended_at, row.end_reason = now, reason
            return None
        if touch and now - row.last_seen >= _TOUCH_S:
            row.last_seen = now
        return Principal(op.username, op.role)


def _end_sessions(s: Session, username: str, reason: str, now: float | None = None) -> int:
    result = s.execute(update(DashboardSession)
                       .where(DashboardSession.username == username, DashboardSession.ended_at.is_(None))
                       .values(ended_at=time.time() if now is None else now, end_reason=reason))
    return int(getattr(result, "rowcount", 0) or 0)


def end_sessions(store: CentralStore, username: str, reason: str, now: float | None = None) -> int:
    """End every open session of ``username`` (logout, or an administrator's ``operator logout``); how many."""
    with _sessions(store).begin() as s:
        return _end_sessions(s, username, reason[:16], now)


def session_user(store: CentralStore, sid: object) -> str | None:
    """Whose session ``sid`` is (open or not), for logging out."""
    if not isinstance(sid, str) or not _SESSION_ID.match(sid):
        return None
    with _sessions(store)() as s:
        row = s.get(DashboardSession, _sid_hash(sid))
        return row.username if row is not None else None


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
            _end_sessions(s, username, "replaced")


def set_disabled(store: CentralStore, username: str, disabled: bool) -> bool:
    with _sessions(store).begin() as s:
        op = s.get(Operator, username)
        if op is None:
            return False
        op.disabled = disabled
        if disabled:
            _end_sessions(s, username, "disabled")
        return True


def set_role(store: CentralStore, username: str, role: str) -> bool:
    """Change an operator's role (ending their sessions); False if there is no such operator."""
    if role not in ROLES:
        raise OperatorError(f"role must be one of {', '.join(ROLES)}")
    with _sessions(store).begin() as s:
        op = s.get(Operator, username)
        if op is None:
            return False
        if op.role != role:
            op.role = role
            _end_sessions(s, username, "role")
        return True


def set_password(store: CentralStore, username: str, password: str) -> bool:
    """Set an operator's password (ending their sessions); False if there is no such operator."""
    if len(password) < MIN_PASSWORD:
        raise OperatorError(f"passwords have at least {MIN_PASSWORD} characters")
    with _sessions(store).begin() as s:
        op = s.get(Operator, username)
        if op is None:
            return False
        op.password_hash = hash_password(password)
        _end_sessions(s, username, "password")
        return True


def change_password(store: CentralStore, username: str, current: str, new: str) -> bool:
    """An operator changes their own password: False if ``current`` is wrong; ends all their sessions."""
    if authenticate(store, username, current) is None:
        return False
    return set_password(store, username, new)


def is_operator(store: CentralStore, username: str) -> bool:
    """Whether ``username`` names an operator (to audit a failed login under that name, never another)."""
    if not _USERNAME.match(username):
        return False
    with _sessions(store)() as s:
        return s.get(Operator, username) is not None


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
    from central.paths import central_home, default_db

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
    from sync.runtime.cli_common import print_json

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


def _cmd_password(args: argparse.Namespace) -> int:
    try:
        password = _read_password(args)
        store = _open_store(args)
        try:
            found = set_password(store, args.user, password)
            if found:
                audit(store, "cli", "operator_password", args.user)
        finally:
            store.close()
    except (OperatorError, OSError) as exc:
        print(f"kiosk-central operator password: {exc}", file=sys.stderr)
        return 2
    if not found:
        print(f"kiosk-central operator: no operator {args.user}", file=sys.stderr)
        return 2
    print(f"password of {args.user} changed; their sessions are ended")
    return 0


def _cmd_role(args: argparse.Namespace) -> int:
    store = _open_store(args)
    try:
        found = set_role(store, args.user, args.role)
        if found:
            audit(store, "cli", "operator_role", args.user, {"role": args.role})
    finally:
        store.close()
    if not found:
        print(f"kiosk-central operator: no operator {args.user}", file=sys.stderr)
        return 2
    print(f"{args.user} is now {args.role}; their sessions are ended")
    return 0


def _cmd_logout(args: argparse.Namespace) -> int:
    store = _open_store(args)
    try:
        if not is_operator(store, args.user):
            print(f"kiosk-central operator: no operator {args.user}", file=sys.stderr)
            return 2
        ended = end_sessions(store, args.user, "admin")
        audit(store, "cli", "operator_logout", args.user, {"sessions": ended})
    finally:
        store.close()
    print(f"{ended} session(s) of {args.user} ended")
    return 0


def add_operator_commands(subparsers: Any, common_parent: argparse.ArgumentParser) -> None:
    """Register ``operator add USER --role R [--password-file F]``, ``operator list``, ``operator disable|enable``,
    ``operator password USER``, ``operator role USER ROLE`` and ``operator logout USER``."""
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

    pw = ops.add_parser("password", parents=[common_parent],
                        help="set an operator's password (stdin or a file); ends their sessions")
    pw.add_argument("user")
    pw.add_argument("--password-file", help="read the password from this file's first line (default: stdin)")
    pw.add_argument("--db")
    pw.set_defaults(func=_cmd_password)

    r = ops.add_parser("role", parents=[common_parent], help="change an operator's role; ends their sessions")
    r.add_argument("user")
    r.add_argument("role", choices=ROLES)
    r.add_argument("--db")
    r.set_defaults(func=_cmd_role)

    lo = ops.add_parser("logout", parents=[common_parent], help="end all of an operator's dashboard sessions")
    lo.add_argument("user")
    lo.add_argument("--db")
    lo.set_defaults(func=_cmd_logout)


# -- kiosk-central serve: the dashboard's session options ------------------------------------------------------


def _positive(unit: str) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {unit}") from None
        if not 0 < value < 1e6:
            raise argparse.ArgumentTypeError(f"give a positive number of {unit}, not {text}")
        return value

    return parse


def add_dashboard_arguments(p: argparse.ArgumentParser) -> None:
    """``--secure-cookies``, ``--session-idle MINUTES``, ``--session-max HOURS`` (defaults from the environment)."""
    p.add_argument("--secure-cookies", action="store_true", default=None,
                   help="the dashboard is reached over HTTPS (a TLS proxy): Secure __Host- cookie and HSTS "
                        "(default $KIOSK_CENTRAL_SECURE_COOKIES=1, else off)")
    p.add_argument("--session-idle", type=_positive("minutes"), metavar="MINUTES",
                   help="end a dashboard session after this long without a request "
                        f"(default $KIOSK_CENTRAL_SESSION_IDLE or {SESSION_IDLE_S / 60:.0f})")
    p.add_argument("--session-max", type=_positive("hours"), metavar="HOURS",
                   help="end a dashboard session this long after login, however busy "
                        f"(default $KIOSK_CENTRAL_SESSION_MAX or {SESSION_MAX_S / 3600:.0f})")


def dashboard_options(args: argparse.Namespace) -> dict[str, Any]:
    """``create_app`` keyword arguments from :func:`add_dashboard_arguments`' flags and the environment."""
    secure = args.secure_cookies
    if secure is None:
        secure = os.environ.get("KIOSK_CENTRAL_SECURE_COOKIES", "").strip().lower() in ("1", "true", "yes", "on")
    idle, most = args.session_idle, args.session_max
    try:
        if idle is None and os.environ.get("KIOSK_CENTRAL_SESSION_IDLE"):
            idle = _positive("minutes")(os.environ["KIOSK_CENTRAL_SESSION_IDLE"])
        if most is None and os.environ.get("KIOSK_CENTRAL_SESSION_MAX"):
            most = _positive("hours")(os.environ["KIOSK_CENTRAL_SESSION_MAX"])
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"the environment: {exc}") from None
    policy = SessionPolicy(idle_s=SESSION_IDLE_S if idle is None else idle * 60,
                           max_s=SESSION_MAX_S if most is None else most * 3600)
    return {"https_only": bool(secure), "session_idle_s": policy.idle_s, "session_max_s": policy.max_s}
