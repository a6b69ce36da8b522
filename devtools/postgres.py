"""A private PostgreSQL for the tests and the benchmarks: its own cluster, port, socket folder and log.

Like :mod:`devtools.broker`, nothing here touches the system's own instance: ``initdb`` makes a throw-away
cluster in a temporary folder, ``postgres`` serves it on 127.0.0.1 and a free port (trust
authentication, superuser ``postgres``), and the process is stopped by its PID. Server settings are
PostgreSQL's defaults (``fsync`` and ``synchronous_commit`` on): it is measured as the real store.

``initdb`` and ``postgres`` refuse to run as root, so as root both run as the ``postgres`` OS user
(the folder is handed to that user); as any other user they run as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from devtools.broker import free_port
from devtools.processes import stop_process

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"  # Debian / Ubuntu (package `postgresql`)
SERVICE_USER = "postgres"


class PostgresError(RuntimeError):
    pass


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", Path(path).parent.name)) or (0,)


def find_pg_bin() -> Path:
    """The folder holding ``initdb``, ``postgres`` and ``pg_isready``: ``$PG_BIN``, else the highest
    Debian version under /usr/lib/postgresql, else wherever ``initdb`` is on PATH."""
    wanted = ("initdb", "postgres", "pg_isready")
    candidates = []
    if os.environ.get("PG_BIN"):
        candidates.append(os.environ["PG_BIN"])
    candidates += sorted(glob.glob(PG_BIN_GLOB), key=_version_key, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for folder in candidates:
        if all(os.access(Path(folder) / name, os.X_OK) for name in wanted):
            return Path(folder)
    raise PostgresError("PostgreSQL is not installed: no initdb/postgres/pg_isready in $PG_BIN, "
                        f"{PG_BIN_GLOB} or PATH (Debian package `postgresql`)")


class PrivatePostgres:
    """``with PrivatePostgres() as pg: CentralStore(pg.url)``"""

    def __init__(self, port: int | None = None, folder: Path | None = None,
                 settings: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.settings = dict(settings or {})
        self._own_folder = folder is None
        self.folder = folder or Path(tempfile.mkdtemp(prefix="kiosk-postgres-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None  # initdb + server start, measured by start()

    # -- where ---------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def dsn(self) -> str:
        """libpq connection string (psql, psycopg.connect)."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def socket_dir(self) -> Path:
        return self.folder / "sock"

    @property
    def log_path(self) -> Path:
        return self.folder / "postgres.log"

    # -- running as the right user -------------------------------------------------------------------

    def _run_as(self) -> dict[str, Any]:
        """Popen arguments that drop root to the ``postgres`` user (no intermediate runuser/su process,
        so the PID we hold is the postmaster's and signals reach it directly)."""
        if os.geteuid() != 0:
            return {}
        try:
            pw = pwd.getpwnam(SERVICE_USER)
        except KeyError as exc:
            raise PostgresError("initdb/postgres refuse to run as root and there is no `postgres` OS user "
                                "(install the Debian package `postgresql`, or run as another user)") from exc
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def _prepare_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(SERVICE_USER)
            for p in (self.folder, self.socket_dir):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            # The postgres user must be able to reach the folder: every parent needs o+x.
            for parent in self.folder.resolve().parents:
                if not os.stat(parent).st_mode & 0o001:
                    raise PostgresError(f"{parent} is not traversable by the `postgres` user; "
                                        "choose a folder under /tmp or make its parents o+x")

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({"LC_ALL": "C", "LANG": "C", "HOME": str(self.folder)})
        return env

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> PrivatePostgres:
        if self.proc is not None and self.proc.poll() is None:
            return self
        pg_bin = find_pg_bin()
        as_user = self._run_as()
        t0 = time.monotonic()
        self._prepare_folder()
        if not (self.data_dir / "PG_VERSION").exists():
            init = subprocess.run([str(pg_bin / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                                   "-A", "trust", "-E", "UTF8", "--locale=C", "--no-instructions"],
                                  cwd=self.folder, env=self._env(), capture_output=True, timeout=timeout,
                                  check=False, **as_user)
            if init.returncode != 0:
                raise PostgresError(f"initdb failed ({init.returncode}): "
                                    f"{init.stderr.decode(errors='replace').strip()[-2000:]}")
        args = [str(pg_bin / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.socket_dir}"]
        for key, value in self.settings.items():
            args += ["-c", f"{key}={value}"]
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=self.folder,
                                     env=self._env(), start_new_session=True, **as_user)
        log.close()
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PostgresError(f"postgres exited with {self.proc.returncode}: {self._log_tail()}")
            ready = subprocess.run([str(pg_bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port),
                                    "-U", "postgres", "-d", "postgres", "-t", "1"],
                                   env=self._env(), capture_output=True, check=False)
            if ready.returncode == 0:
                self.startup_s = time.monotonic() - t0
                return self
            time.sleep(0.05)  # not accepting connections yet: ask again shortly
        self.stop()
        raise PostgresError(f"postgres did not accept connections on port {self.port} within {timeout} s: "
                            f"{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace").strip()[-2000:] or "(empty log)"
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 20.0) -> None:
        """Fast shutdown (SIGINT: roll back open sessions, checkpoint, exit); SIGKILL if it hangs."""
        if self.proc is None:
            return
        stop_process(self.proc, signal.SIGINT, timeout)  # SIGINT: PostgreSQL's fast shutdown
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.cleanup()


__all__ = ["PostgresError", "PrivatePostgres", "find_pg_bin"]
