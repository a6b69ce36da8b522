"""``kiosk-central serve --processes N`` and ``kiosk-central ingest``: ingest in several processes on the
broker's shared subscription, child processes restarted when they die and gone when the central goes.

Real parts throughout: a private Mosquitto per test (a shared subscription must not be shared with other
tests' centrals), real ``serve``/``ingest`` processes on one SQLite file, a real sync daemon draining a real
outbox. Whether Mosquitto spreads the load over the processes is its business and not asserted.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.ca import FleetCA
from central.cli import main as central_main
from central.ingest_processes import IngestProcesses, ingest_argv
from central.keys import CentralKeys
from central.store import CentralStore
from devtools.broker import MosquittoBroker
from devtools.sim import fictional_fields, relax_fsync
from sync.device import OUTBOX_FILE
from sync.outbox.store import Outbox
from sync.protocol import topics
from sync.runtime.mqtt import TlsFiles, new_client
from tests.helpers import make_device, start_daemon, track, wait_until

CLI = [sys.executable, "-m", "central.cli"]


# -- helpers -------------------------------------------------------------------------------------------------


def _proc_state(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of ``pid`` from /proc, or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    state = _proc_state(pid)
    return state is not None and state[0] not in ("Z", "X")  # a zombie has exited


def _children(parent: int) -> list[int]:
    """The live child processes of ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            state = _proc_state(int(entry.name))
            if state is not None and state[1] == parent and state[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


class _CentralOnline:
    """Counts the ingest workers that announced themselves online (one per worker per process start)."""

    def __init__(self, broker: MosquittoBroker, tls: TlsFiles | None = None) -> None:
        self.epochs: list[str] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = new_client(f"watch-{uuid.uuid4().hex[:8]}", tls)
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port, clean_start=True)
        self.client.subscribe(topics.CENTRAL_STATUS, qos=1)
        self.client.loop_start()
        assert subscribed.wait(5)

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        status = json.loads(message.payload)
        if status.get("state") == "online":
            with self._lock:
                self.epochs.append(str(status.get("epoch")))

    def count(self) -> int:
        with self._lock:
            return len(set(self.epochs))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def online(own_broker: MosquittoBroker) -> Iterator[_CentralOnline]:
    watcher = _CentralOnline(own_broker)
    yield watcher
    watcher.close()


def _central(tmp_path: Path, keys: CentralKeys) -> tuple[Path, str, CentralStore]:
    """The central's home (its keys) and database, migrated and knowing every test kiosk before any server."""
    home = tmp_path / "central"
    keys.save(home)
    db_url = f"sqlite:///{tmp_path / 'central.db'}"
    return home, db_url, track(CentralStore(db_url))


def _kiosk(tmp_path: Path, broker_url: str, keys: CentralKeys, n: int) -> tuple[Any, Outbox]:
    home = tmp_path / "kiosk"
    device = make_device(home, broker_url, keys)
    outbox = Outbox(home / OUTBOX_FILE)
    relax_fsync(outbox)  # queueing is set-up, not the experiment
    rng = random.Random(7)
    for i in range(n):
        code, fields = fictional_fields(i + 1, rng)
        outbox.enqueue_submission(device, code, fields)
    return device, outbox


def _acked(outbox: Outbox) -> int:
    return outbox.counts_by_kind().get("submission", {}).get("acked", 0)


def _exactly_once(store: CentralStore, outbox: Outbox, n: int) -> None:
    assert store.count() == n
    assert store.duplicates() == 0
    kinds = outbox.counts_by_kind()["submission"]
    assert kinds["acked"] == n and kinds["pending"] == 0 and kinds["sent"] == 0 and kinds["rejected"] == 0


def _run(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    log = open(tmp_path / "central.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen([*CLI, *args], stdout=log, stderr=log)
    finally:
        log.close()


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return int(proc.returncode)


def _log(tmp_path: Path) -> str:
    path = tmp_path / "central.log"
    return path.read_text(errors="replace") if path.exists() else ""


# -- serve --processes ---------------------------------------------------------------------------------------


def test_serve_with_two_processes_stores_every_submission_exactly_once(
        tmp_path: Path, own_broker: MosquittoBroker, central_keys: CentralKeys, online: _CentralOnline) -> None:
    n = 300
    home, db_url, store = _central(tmp_path, central_keys)
    serve = _run(tmp_path, "serve", "--home", str(home), "--broker", own_broker.url, "--db", db_url,
                 "--processes", "2", "--gap-timeout", "300")
    device, outbox = _kiosk(tmp_path, own_broker.url, central_keys, n)
    daemon = None
    try:
        wait_until(lambda: online.count() >= 2, 30, "serve's worker and its child's online")
        children = _children(serve.pid)
        assert len(children) == 1, _log(tmp_path)
        cmdline = Path(f"/proc/{children[0]}/cmdline").read_bytes().decode().split("\0")
        assert cmdline[1:4] == ["-m", "central.cli", "ingest"]
        for flag, value in (("--broker", own_broker.url), ("--db", db_url), ("--home", str(home)),
                            ("--workers", "1"), ("--gap-timeout", "300.0"), ("--parent-pid", str(serve.pid))):
            assert cmdline[cmdline.index(flag) + 1] == value
        daemon = start_daemon(outbox, device)
        wait_until(lambda: _acked(outbox) == n, 120, "every submission acked")
        _exactly_once(store, outbox, n)
        assert _children(serve.pid) == children  # the child never had to be restarted
    finally:
        if daemon is not None:
            daemon.stop()
        _stop(serve)
        store.close()
        outbox.close()
    assert serve.returncode == 0, _log(tmp_path)


def test_sigterm_of_serve_exits_0_and_stops_its_children(
        tmp_path: Path, own_broker: MosquittoBroker, central_keys: CentralKeys, online: _CentralOnline) -> None:
    home, db_url, store = _central(tmp_path, central_keys)
    serve = _run(tmp_path, "serve", "--home", str(home), "--broker", own_broker.url, "--db", db_url,
                 "--processes", "3")
    try:
        wait_until(lambda: online.count() >= 3, 30, "serve's worker and its two children online")
        children = _children(serve.pid)
        assert len(children) == 2, _log(tmp_path)
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(30) == 0, _log(tmp_path)
        assert not any(_alive(pid) for pid in children)
        assert "exited unexpectedly" not in _log(tmp_path)
    finally:
        _stop(serve)
        store.close()


def test_children_stop_when_serve_is_killed(
        tmp_path: Path, own_broker: MosquittoBroker, central_keys: CentralKeys, online: _CentralOnline) -> None:
    home, db_url, store = _central(tmp_path, central_keys)
    serve = _run(tmp_path, "serve", "--home", str(home), "--broker", own_broker.url, "--db", db_url,
                 "--processes", "2")
    children: list[int] = []
    try:
        wait_until(lambda: online.count() >= 2, 30, "serve's worker and its child online")
        children = _children(serve.pid)
        assert len(children) == 1, _log(tmp_path)
        serve.kill()  # no finally, no stop(): the child must notice its parent is gone by itself
        serve.wait(10)
        wait_until(lambda: not _alive(children[0]), 15, "the orphaned ingest process to exit")
        assert "parent process" in _log(tmp_path)
    finally:
        _stop(serve)
        for pid in children:  # only if the test failed: leave nothing running
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        store.close()


# -- the supervisor ------------------------------------------------------------------------------------------


def test_a_child_killed_mid_drain_is_restarted_and_nothing_is_lost_or_doubled(
        tmp_path: Path, own_broker: MosquittoBroker, central_keys: CentralKeys, online: _CentralOnline) -> None:
    n = 600
    home, db_url, store = _central(tmp_path, central_keys)
    # Two children and no in-process worker: all ingest happens in the processes under test.
    children = IngestProcesses(ingest_argv(own_broker.url, db=db_url, home=str(home)), 2).start()
    device, outbox = _kiosk(tmp_path, own_broker.url, central_keys, n)
    daemon = None
    try:
        wait_until(lambda: online.count() >= 2 and len(children.pids()) == 2, 30, "both children online")
        first = children.pids()
        daemon = start_daemon(outbox, device, window=2)  # a small window keeps the drain going long enough
        wait_until(lambda: store.count() >= 150, 60, "150 stored")
        victim = first[0]
        os.kill(victim, signal.SIGKILL)
        assert _acked(outbox) < n, "the drain ended before the kill"
        wait_until(lambda: len(children.pids()) == 2 and victim not in children.pids(), 30,
                   "the killed child restarted with a new pid")
        assert children.restarts == 1
        assert first[1] in children.pids()
        wait_until(lambda: _acked(outbox) == n, 120, "every submission acked")
        _exactly_once(store, outbox, n)
        alive = children.pids()
    finally:
        if daemon is not None:
            daemon.stop()
        children.stop()
        store.close()
        outbox.close()
    assert children.pids() == []
    assert not any(_alive(pid) for pid in alive)


def test_restart_back_off_doubles_up_to_its_cap(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="kiosk.central.processes")
    failing = IngestProcesses([sys.executable, "-c", "raise SystemExit(3)"], 1, backoff_first_s=0.1,
                              backoff_max_s=0.4).start()
    try:
        wait_until(lambda: failing.restarts >= 5, 30, "five restarts")
    finally:
        failing.stop()
    delays = [r.getMessage().rsplit("restarting in ", 1)[1] for r in caplog.records
              if "exited unexpectedly (exit code 3)" in r.getMessage()]
    assert delays[:5] == ["0.1 s", "0.2 s", "0.4 s", "0.4 s", "0.4 s"]
    assert failing.pids() == []


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    stubborn = ("import pathlib, signal, sys\n"
                "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "pathlib.Path(sys.argv[1]).touch()\n"
                "while True:\n"
                "    signal.pause()\n")
    children = IngestProcesses([sys.executable, "-c", stubborn, str(ready)], 1, stop_timeout_s=1.0).start()
    wait_until(ready.exists, 30, "the child ignoring SIGTERM")
    [pid] = children.pids()
    children.stop()
    assert children.pids() == [] and not _alive(pid)
    assert children.restarts == 0


# -- kiosk-central ingest ------------------------------------------------------------------------------------


def test_ingest_alone_stores_and_acks(tmp_path: Path, own_broker: MosquittoBroker, central_keys: CentralKeys,
                                      online: _CentralOnline) -> None:
    n = 100
    home, db_url, store = _central(tmp_path, central_keys)
    ingest = _run(tmp_path, "ingest", "--home", str(home), "--broker", own_broker.url, "--db", db_url,
                  "--workers", "2")
    device, outbox = _kiosk(tmp_path, own_broker.url, central_keys, n)
    daemon = None
    try:
        wait_until(lambda: online.count() >= 2, 30, "both ingest workers online")
        daemon = start_daemon(outbox, device)
        wait_until(lambda: _acked(outbox) == n, 60, "every submission acked")
        _exactly_once(store, outbox, n)
        ingest.send_signal(signal.SIGTERM)
        assert ingest.wait(20) == 0, _log(tmp_path)
    finally:
        if daemon is not None:
            daemon.stop()
        _stop(ingest)
        store.close()
        outbox.close()


def test_ingest_over_mtls_uses_the_central_identity(tmp_path: Path, central_keys: CentralKeys) -> None:
    home, db_url, store = _central(tmp_path, central_keys)
    ca = FleetCA.open(home)  # the CA in --home, which signed the broker; the broker requires client certificates
    with MosquittoBroker(tls_dir=ca.server_files(tmp_path / "broker-files", ["127.0.0.1"])) as broker:
        watcher = _CentralOnline(broker, ca.central_tls())
        ingest = _run(tmp_path, "ingest", "--home", str(home), "--broker", broker.url, "--db", db_url)
        try:
            wait_until(lambda: watcher.count() >= 1, 30, "the ingest worker online over mTLS")
            ingest.send_signal(signal.SIGTERM)
            assert ingest.wait(20) == 0, _log(tmp_path)
        finally:
            watcher.close()
            _stop(ingest)
            store.close()


def test_ingest_without_keys_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert central_main(["ingest", "--home", str(tmp_path / "empty"), "--broker", "mqtt://127.0.0.1:1"]) == 2
    assert "kiosk-central ingest" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_processes_out_of_range_is_refused(value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        central_main(["serve", "--home", str(tmp_path), "--broker", "mqtt://127.0.0.1:1", "--processes", value])
    assert exited.value.code == 2
    assert "--processes" in capsys.readouterr().err
