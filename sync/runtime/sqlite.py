"""SQLAlchemy engines with the SQLite settings the product relies on.

WAL so the UI and the daemon read while the other writes; ``synchronous=FULL`` so a committed
submission survives a power cut; a busy timeout so two processes wait rather than fail; and
``BEGIN IMMEDIATE`` so a writer takes the lock up front instead of deadlocking on upgrade.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, make_url

from sync.runtime.files import private_database
from sync.runtime.upgrade import guarded_upgrade

BUSY_TIMEOUT_MS = 10_000


def sqlite_engine(path: Path | str, synchronous: str = "FULL") -> Engine:
    """``synchronous="NORMAL"`` only for writers whose last commits may roll back on a power cut without
    harm (the daemon's delivery marks: a rolled-back mark means a resend, which the central dedupes)."""
    private_database(Path(path))  # 0600 with its -wal and -shm, whatever the umask: it holds personal data
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    _configure_sqlite(engine, synchronous)
    return engine


def make_engine(url: str) -> Engine:
    """An engine for any database URL; SQLite URLs get the settings above."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            private_database(Path(database))
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine, "FULL")
        return engine
    return create_engine(url, pool_pre_ping=True)


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError("synchronous must be FULL or NORMAL")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade(engine: Engine, migrations: Path) -> None:
    """Bring the schema to head with Alembic, holding one transaction so concurrent starters serialise.

    ``sync.runtime.upgrade`` guards it: a SQLite file is backed up first and restored if the migration fails, and a
    schema newer than these scripts is refused (``sync.runtime.upgrade.SchemaError``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))

    def migrate(conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            # Several central processes starting on a new database: one migrates, the others wait.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7406001)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

    guarded_upgrade(engine, migrations, migrate)
