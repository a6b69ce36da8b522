"""``python -m sync.ota guard|status [--root DIR]``: the OTA guard and a look at the releases;
``python -m sync.ota selfcheck [--release DIR]``: the release's own health check (the bundle's ``health``
script runs it): the app's QML, the outbox's migration scripts and the release's VERSION are all there;
``python -m sync.ota schema upgrade|downgrade --db FILE [--to REV] [--migrations DIR] [--json]``: this
release's outbox schema tool;
``python -m sync.ota adopt --version V [--root DIR] [--home DIR]``: the .deb's postinst switches ``current`` to the
release it unpacked through the update's health gate (:mod:`sync.ota.adopt`).

``guard`` rolls back a release that was switched to but missed its health deadline (it may not even
start, so the check cannot live in it): run it from a systemd timer with the *previous* release's
interpreter or bundle. ``status`` prints the releases, ``current`` and the update state as JSON.

``schema`` is what a rollback runs with the *newer* release's code (``sync.ota.schema``): ``downgrade``
takes the outbox back to ``--to`` keeping every row; ``upgrade`` brings it to this code's head (what the
release does when it starts). Both go through ``sync.runtime.upgrade`` (copy first, one transaction). ``--migrations``
defaults to this code's outbox scripts. Exit 0 done, 2 bad input, 3 the schema could not be changed;
``--json`` prints ``{"ok", "revision", "error"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from sync.ota.manager import guard_check
from sync.ota.switch import HELD, Releases, ota_root

EXIT_BAD_INPUT = 2
EXIT_SCHEMA = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sync.ota", description="Software releases on this kiosk.")
    sub = parser.add_subparsers(dest="action", required=True)
    for name in ("guard", "status"):
        p = sub.add_parser(name)
        p.add_argument("--root", help="OTA root (default $KIOSK_OTA_ROOT or /opt/street-kiosk)")
    check = sub.add_parser("selfcheck", help="does this release carry what the kiosk needs to start")
    check.add_argument("--release", help="the release folder (default $KIOSK_RELEASE_DIR)")
    schema = sub.add_parser("schema", help="change the outbox schema with this release's migration scripts")
    schema.add_argument("direction", choices=("upgrade", "downgrade"))
    schema.add_argument("--db", required=True, help="the outbox database file")
    schema.add_argument("--to", help="the revision to go down to (downgrade)")
    schema.add_argument("--migrations", help="migration scripts folder (default: this code's outbox scripts)")
    schema.add_argument("--json", action="store_true")
    adopt = sub.add_parser("adopt", help="switch to a release the package manager installed, health-gated")
    adopt.add_argument("--version", required=True, help="the release folder to switch to")
    adopt.add_argument("--root", help="OTA root (default $KIOSK_OTA_ROOT or /opt/street-kiosk)")
    adopt.add_argument("--home", help="the kiosk's data folder (default $KIOSK_HOME or /var/lib/kiosk)")
    adopt.add_argument("--timeout-s", type=float, help="seconds the release has to prove healthy")
    args = parser.parse_args(argv)
    if args.action == "adopt":
        return _adopt(args)
    if args.action == "schema":
        return _schema(args)
    if args.action == "selfcheck":
        return _selfcheck(args.release or os.environ.get("KIOSK_RELEASE_DIR"))
    releases = Releases(ota_root(args.root))
    if args.action == "guard":
        back_to = guard_check(releases)
        state = releases.load_state()
        if back_to:
            print(f"rolled back to {back_to}")
        elif state is not None and state.phase == HELD and not state.reported:
            print(f"rollback held: {state.detail}")
        else:
            print("nothing to roll back")
        return 0
    state = releases.load_state()
    print(json.dumps({"root": str(releases.root), "current": releases.current_version(),
                      "installed": releases.installed(), "update": asdict(state) if state else None},
                     ensure_ascii=False, indent=1))
    return 0


def _adopt(args: argparse.Namespace) -> int:
    from sync.ota.adopt import DPKG_HEALTH_TIMEOUT_S, adopt

    releases = Releases(ota_root(args.root))
    if not releases.path(args.version).is_dir():
        print(f"python -m sync.ota adopt: release {args.version} is not installed", file=sys.stderr)
        return EXIT_BAD_INPUT
    home = Path(args.home or os.environ.get("KIOSK_HOME") or "/var/lib/kiosk")
    state = adopt(releases, args.version, home, timeout_s=args.timeout_s or DPKG_HEALTH_TIMEOUT_S)
    gate = None if state is None else {"previous": state.previous, "deadline": state.deadline,
                                       "ui": bool(state.extra["baseline"]["ui"]), "schema": "schema" in state.extra}
    print(json.dumps({"current": releases.current_version(), "gate": gate}, ensure_ascii=False))
    return 0


def _selfcheck(release: str | None) -> int:
    """Exit 0 when the code that runs can start the kiosk: its QML and migrations are there and the release's
    VERSION names its folder. Each problem is printed; exit 1 when there is one."""
    import importlib.util

    from sync.outbox.store import MIGRATIONS

    problems = []
    # The application's files, found without importing it (the edge never imports kiosk).
    spec = importlib.util.find_spec("kiosk")
    kiosk_dir = Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations \
        else Path("kiosk-not-installed")
    qml = kiosk_dir / "qml"
    for needed in (qml / "Main.qml", qml / "screens", MIGRATIONS / "env.py"):
        if not needed.exists():
            problems.append(f"{needed.name} is missing ({needed.parent.name})")
    if release:
        folder = Path(release)
        try:
            named = (folder / "VERSION").read_text(encoding="utf-8").strip()
        except OSError:
            named = None
        if named != folder.name:
            problems.append(f"VERSION names {named!r}, the release folder is {folder.name!r}")
    for problem in problems:
        print(f"selfcheck: {problem}")
    if not problems:
        print("selfcheck: ok")
    return 1 if problems else 0


def _schema(args: argparse.Namespace) -> int:
    from sync.ota.schema import database_revision
    from sync.outbox.store import MIGRATIONS
    from sync.runtime.sqlite import sqlite_engine, upgrade
    from sync.runtime.upgrade import SchemaError, guarded_downgrade

    db = Path(args.db)
    migrations = Path(args.migrations) if args.migrations else MIGRATIONS

    def done(code: int, error: str | None) -> int:
        if args.json:
            print(json.dumps({"ok": code == 0, "revision": database_revision(db), "error": error},
                             ensure_ascii=False))
        elif error:
            print(f"python -m sync.ota schema: {error}")
        return code

    if not db.is_file():
        return done(EXIT_BAD_INPUT, f"{db} is not a database file")
    if not (migrations / "env.py").is_file():
        return done(EXIT_BAD_INPUT, f"{migrations} is not a migration scripts folder")
    if args.direction == "downgrade" and not args.to:
        return done(EXIT_BAD_INPUT, "downgrade needs --to REVISION")
    engine = sqlite_engine(db)
    try:
        if args.direction == "upgrade":
            upgrade(engine, migrations)
        else:
            guarded_downgrade(engine, migrations, args.to)
    except SchemaError as exc:
        return done(EXIT_SCHEMA, str(exc))
    finally:
        engine.dispose()
    return done(0, None)


if __name__ == "__main__":
    raise SystemExit(main())
