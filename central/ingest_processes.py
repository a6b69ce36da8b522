"""Child ingest processes beside ``kiosk-central serve`` (``serve --processes N``): start, watch, restart, stop.

The central's ingest is CPU-bound Python, so threads in one process share one core; N processes on the
broker's shared subscription use N. Each child runs ``kiosk-central ingest`` (``sys.executable -m
central.cli ingest ...``, which also works in the PyInstaller bundle, packaging/entry.py).

One thread per child waits on its exit (``Popen.wait``, no polling). A child that exits while the central is
not stopping is started again after a back-off: 1 s, doubling to 30 s, back to 1 s once a child has run
60 s. ``stop()`` sends SIGTERM to every child, waits up to 10 s, then SIGKILLs what is left.

Children die with their parent: they are started in the parent's session and process group and are told
the parent's pid (``--parent-pid``); ``ingest`` stops when ``os.getppid()`` no longer is that pid (checked
every second), so a SIGKILLed or crashed ``serve`` leaves no ingest process behind.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

log = logging.getLogger("kiosk.central.processes")

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
HEALTHY_AFTER_S = 60.0  # a child that ran this long resets the back-off
STOP_TIMEOUT_S = 10.0
MAX_PROCESSES = 64


def ingest_argv(broker: str, *, db: str, home: str, workers: int = 1, gap_timeout: float | None = None,
                verbose: bool = False, parent_pid: int | None = None) -> list[str]:
    """The command line of one child ingest process of this (parent) process."""
    argv = [sys.executable, "-m", "central.cli", "ingest", "--broker", broker, "--db", db, "--home", home,
            "--workers", str(workers), "--parent-pid", str(os.getpid() if parent_pid is None else parent_pid)]
    if gap_timeout is not None:
        argv += ["--gap-timeout", repr(gap_timeout)]
    if verbose:
        argv.append("-v")
    return argv


class _Slot:
    """One child position: the process running in it now (None between runs) and its watcher thread."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: subprocess.Popen[bytes] | None = None
        self.thread: threading.Thread | None = None


class IngestProcesses:
    """``count`` child processes running ``argv``, kept running until :meth:`stop`."""

    def __init__(self, argv: Sequence[str], count: int, *, backoff_first_s: float = BACKOFF_FIRST_S,
                 backoff_max_s: float = BACKOFF_MAX_S, healthy_after_s: float = HEALTHY_AFTER_S,
                 stop_timeout_s: float = STOP_TIMEOUT_S) -> None:
        if not 0 <= count <= MAX_PROCESSES:
            raise ValueError(f"between 0 and {MAX_PROCESSES} child processes")
        self.argv = list(argv)
        self.backoff_first_s = backoff_first_s
        self.backoff_max_s = backoff_max_s
        self.healthy_after_s = healthy_after_s
        self.stop_timeout_s = stop_timeout_s
        self.restarts = 0  # children started again after an unexpected exit
        self._slots = [_Slot(i) for i in range(count)]
        self._lock = threading.Lock()  # no child is started once _stopping is set under it
        self._stopping = threading.Event()

    def start(self) -> IngestProcesses:
        for slot in self._slots:
            slot.thread = threading.Thread(target=self._watch, args=(slot,), name=f"ingest-process-{slot.index}",
                                           daemon=True)
            slot.thread.start()
        return self

    def pids(self) -> list[int]:
        """The pids of the children running now (a slot between a child's exit and its restart has none)."""
        with self._lock:
            procs = [s.proc for s in self._slots if s.proc is not None]
        return [p.pid for p in procs if p.poll() is None]

    def _spawn(self, slot: _Slot) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            try:
                # Same session and process group as the central: a terminal's Ctrl-C or systemd's stop reach
                # the children too; --parent-pid makes them stop if the central dies without stopping them.
                slot.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, start_new_session=False)
            except OSError as exc:
                log.error("could not start ingest process %d: %s", slot.index, exc.strerror or exc)
                slot.proc = None
                return None
        log.info("ingest process %d started (pid %d)", slot.index, slot.proc.pid)
        return slot.proc

    def _watch(self, slot: _Slot) -> None:
        delay = self.backoff_first_s
        while not self._stopping.is_set():
            started = time.monotonic()
            proc = self._spawn(slot)
            if proc is not None:
                code = proc.wait()  # stop() signals the child, which ends this wait
                if self._stopping.is_set():
                    return
                ran = time.monotonic() - started
                if ran >= self.healthy_after_s:
                    delay = self.backoff_first_s
                log.warning("ingest process %d (pid %d) exited unexpectedly (%s) after %.1f s; restarting in %.1f s",
                            slot.index, proc.pid, _describe(code), ran, delay)
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, self.backoff_max_s)
            self.restarts += 1

    def stop(self) -> None:
        """SIGTERM every child, wait up to ``stop_timeout_s`` for all of them, SIGKILL what is left."""
        with self._lock:
            self._stopping.set()
            procs = [s.proc for s in self._slots if s.proc is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("ingest process (pid %d) did not stop within %.0f s: killed", proc.pid,
                            self.stop_timeout_s)
                proc.kill()
                proc.wait()
        for slot in self._slots:
            if slot.thread is not None:
                slot.thread.join(self.stop_timeout_s)


def _describe(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"
