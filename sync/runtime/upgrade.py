"""Schema migrations that cannot lose a kiosk's queue: back up, migrate, restore on failure, refuse the future.

Called by ``sync.runtime.sqlite.upgrade``, the one place where the outbox and the central store bring their schema
to the head revision. Around Alembic's upgrade:

* a schema **newer** than this software's migration scripts (a database written by a later release, e.g.
  after a rollback to an older one) is refused with ``SchemaTooNew`` before anything is touched: old code
  must not guess at a table layout it has never seen;
* when a SQLite file is about to change, a consistent copy is taken first with SQLite's online backup
  (``{db}.bak-{from revision}``, same permissions as the database: its personal data is sealed anyway);
* if the migration fails, the copy is written back over the database and ``MigrationFailed`` says where
  the copy is; nothing of the queue is lost, and the copy stays for a technician;
* an up-to-date database is not touched (the outbox is opened by every ``kiosk status``).

SQLite runs DDL inside the transaction, so most failures roll back by themselves; the copy covers the rest
(a migration that commits part way, a process killed between steps, a file left in a state Alembic did not
write). PostgreSQL gets the refusal of a newer schema; its backups are the operator's (pg_dump).

:func:`guarded_downgrade` is the way back, for an OTA rollback (``sync.ota.schema``): the *newer* release's
scripts take its database back to the older release's head, in one transaction, after the same kind of copy,
and refuse (rolling everything back) if the outbox would end with fewer rows than it had: a rollback must not
lose what residents submitted under the release being left.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from sync.runtime.files import private_database

log = logging.getLogger("kiosk.upgrade")

BACKUP_SUFFIX = ".bak-"
KEEP_BACKUPS = 2  # per database: the newest copies stay for a technician, older ones are removed


class SchemaError(RuntimeError):
    """The database's schema cannot be brought to this software's head; the message says what to do."""


class SchemaTooNew(SchemaError):
    pass


class MigrationFailed(SchemaError):
    pass


class DowngradeFailed(SchemaError):
    """The database could not be taken back to the older revision; it is as it was before the attempt."""


def script_directory(migrations: Path) -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    return ScriptDirectory.from_config(cfg)


def database_revisions(conn: Connection) -> set[str]:
    """The revisions stamped in the database (empty for a new database)."""
    return set(MigrationContext.configure(conn).get_current_heads())


def sqlite_file(engine: Engine) -> Path | None:
    """The SQLite database file behind the engine, or None (PostgreSQL, in-memory)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def guarded_upgrade(engine: Engine, migrations: Path, migrate: Callable[[Connection], None]) -> Path | None:
    """Run ``migrate(conn)`` (Alembic to head) inside one transaction, guarded as described above.

    Returns the backup taken (None when nothing needed migrating or there was nothing to keep).
    """
    scripts = script_directory(migrations)
    heads = set(scripts.get_heads())
    known = {rev.revision for rev in scripts.walk_revisions()}
    db_file = sqlite_file(engine)
    backup: Path | None = None
    try:
        with engine.begin() as conn:  # BEGIN IMMEDIATE on SQLite: concurrent starters wait here
            current = database_revisions(conn)
            unknown = sorted(current - known)
            if unknown:
                where = db_file or engine.url.render_as_string(hide_password=True)
                raise SchemaTooNew(
                    f"the database {where} has schema revision {', '.join(unknown)}, newer than this software "
                    f"knows (its newest is {', '.join(sorted(heads))}): it was written by a later release. "
                    "Start that release again (or a later one); this one will not touch the database.")
            if current == heads:
                return None
            if db_file is not None and _has_tables(conn):
                backup = _backup(db_file, "-".join(sorted(current)) or "none")
                log.info("database %s backed up as %s before migrating to %s", db_file.name, backup.name,
                         ", ".join(sorted(heads)))
            migrate(conn)
    except SchemaError:
        raise
    except Exception as exc:
        if backup is None or db_file is None:
            raise
        engine.dispose()  # no pooled connection may hold the file while it is restored
        _restore(backup, db_file)
        raise MigrationFailed(
            f"migrating {db_file} failed ({type(exc).__name__}: {exc}); the database was restored from "
            f"{backup} and is as it was before. Report this with the kiosk's logs; the copy stays.") from exc
    if backup is not None and db_file is not None:
        _prune(db_file, keep=KEEP_BACKUPS)
    return backup


def guarded_downgrade(engine: Engine, migrations: Path, target: str, keep_table: str = "outbox") -> Path | None:
    """Take the database down to revision ``target`` with the scripts in ``migrations`` (Alembic downgrade).

    One transaction; a SQLite copy is taken first (``{db}.bak-{from revision}``). ``keep_table`` must hold as
    many rows afterwards as before (a downgrade may drop columns or tables, never queued submissions), else
    nothing is changed. Returns the copy (None when the database already was at or below ``target``).
    Raises :class:`DowngradeFailed` with what happened; the database is then as it was.
    """
    from alembic import command  # here: sync.runtime.upgrade is imported by every process, downgrades are rare

    scripts = script_directory(migrations)
    try:
        scripts.get_revision(target)
    except Exception as exc:  # alembic raises several kinds for a name it does not know
        raise DowngradeFailed(f"revision {target!r} is not among these migration scripts "
                              f"({type(exc).__name__})") from None
    known = {rev.revision for rev in scripts.walk_revisions()}
    db_file = sqlite_file(engine)
    backup: Path | None = None
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    try:
        with engine.begin() as conn:
            current = database_revisions(conn)
            if current == {target} or not current:
                return None
            unknown = sorted(current - known)
            if unknown:
                raise DowngradeFailed(f"the database has revision {', '.join(unknown)}, which these scripts do not "
                                      "know: they cannot take it back")
            below = {r.revision for r in scripts.iterate_revisions(tuple(sorted(current)), "base")}
            if target != "base" and target not in below:
                return None  # already older than the target: nothing to take back
            before = _row_count(conn, keep_table)
            if db_file is not None:
                backup = _backup(db_file, "-".join(sorted(current)))
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, target)
            after = _row_count(conn, keep_table)
            if after != before:
                raise DowngradeFailed(f"the downgrade to {target} would leave {after} rows in {keep_table} of "
                                      f"{before}; nothing was changed")
            log.info("database downgraded from %s to %s with %d %s rows kept", ", ".join(sorted(current)), target,
                     after or 0, keep_table)
    except DowngradeFailed:
        _restore_after(engine, backup, db_file)
        raise
    except Exception as exc:
        _restore_after(engine, backup, db_file)
        raise DowngradeFailed(f"the downgrade to {target} failed ({type(exc).__name__}: {exc}); the database is "
                              "as it was") from exc
    return backup


def _row_count(conn: Connection, table: str) -> int | None:
    """Rows in ``table``, None when it does not exist."""
    exists = conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                                  (table,)).scalar() if conn.dialect.name == "sqlite" else 1
    if not exists:
        return None
    if not table.isidentifier():
        raise ValueError("not a table name")
    return int(conn.exec_driver_sql(f'SELECT count(*) FROM "{table}"').scalar() or 0)  # noqa: S608 (checked name)


def _restore_after(engine: Engine, backup: Path | None, db_file: Path | None) -> None:
    """The transaction rolled back already; the copy covers a script that committed part way."""
    if backup is None or db_file is None:
        return
    engine.dispose()
    _restore(backup, db_file)


def _has_tables(conn: Connection) -> bool:
    rows = conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE type = 'table'").scalar()
    return bool(rows)


def _backup(db_file: Path, revision: str) -> Path:
    """A consistent copy through SQLite's backup API (it sees committed WAL pages a file copy could miss),
    written beside the database under a temporary name, synced, then renamed into place."""
    target = db_file.with_name(f"{db_file.name}{BACKUP_SUFFIX}{revision}")
    tmp = target.with_name(target.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    private_database(tmp)  # the copy holds what the database holds: 0600 from its first byte
    src = sqlite3.connect(db_file, timeout=30)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
    finally:
        src.close()
    with contextlib.suppress(OSError):
        os.chmod(tmp, db_file.stat().st_mode & 0o777)
    _fsync(tmp)
    os.replace(tmp, target)
    _fsync_dir(target.parent)
    return target


def _restore(backup: Path, db_file: Path) -> None:
    """Write the copy back page by page into the live database (its WAL and locks stay coherent)."""
    src = sqlite3.connect(backup)
    try:
        dst = sqlite3.connect(db_file, timeout=30)
        try:
            src.backup(dst)
            dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            dst.close()
    finally:
        src.close()
    log.warning("database %s restored from %s after a failed migration", db_file.name, backup.name)


def _prune(db_file: Path, keep: int) -> None:
    copies = sorted(db_file.parent.glob(f"{db_file.name}{BACKUP_SUFFIX}*"), key=lambda p: p.stat().st_mtime)
    for old in [c for c in copies if not c.name.endswith(".tmp")][:-keep]:
        with contextlib.suppress(OSError):
            old.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        _fsync(path)
