"""kiosk-syncd speaks systemd's notify protocol: READY once its loop runs, WATCHDOG only while the loop turns.

A test NOTIFY_SOCKET (a unix datagram socket in tmp) stands in for systemd and records what arrives.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.commands import publish
from devtools.broker import MosquittoBroker
from devtools.processes import stop_process
from sync.daemon.service import SyncDaemon
from sync.daemon.watchdog import LoopWatchdog, Notifier, watchdog_interval_s
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from sync.runtime.backoff import Backoff


class FakeSystemd:
    """The receiving end of $NOTIFY_SOCKET: every datagram, as a list of KEY=VALUE lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))

    def next(self, timeout: float) -> list[str] | None:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096).decode().split("\n")
        except TimeoutError:
            return None

    def wait_for(self, field: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.next(left)
            if message is not None and field in message:
                return
        raise AssertionError(f"{field} did not arrive within {timeout} s")

    def drain(self) -> None:
        while self.next(0.001) is not None:
            pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def systemd() -> Iterator[FakeSystemd]:
    # A short path: unix socket paths are limited to 108 bytes, pytest's tmp_path can be longer.
    folder = Path(f"/tmp/kiosk-notify-{os.getpid()}-{time.monotonic_ns()}")
    folder.mkdir()
    fake = FakeSystemd(folder / "notify")
    yield fake
    fake.close()
    (folder / "notify").unlink(missing_ok=True)
    folder.rmdir()


def test_notifier_sends_fields_in_one_datagram(systemd: FakeSystemd) -> None:
    notifier = Notifier(str(systemd.path))
    assert notifier.ready("starting")
    assert systemd.next(5) == ["READY=1", "STATUS=starting"]
    assert notifier.watchdog()
    assert systemd.next(5) == ["WATCHDOG=1"]
    notifier.close()


def test_abstract_socket_names_work() -> None:
    name = f"kiosk-notify-test-{os.getpid()}"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind("\0" + name)
    try:
        assert Notifier("@" + name).stopping()
        receiver.settimeout(5)
        assert receiver.recv(100) == b"STOPPING=1"
    finally:
        receiver.close()


def test_without_systemd_nothing_is_sent_and_nothing_fails() -> None:
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert not notifier.ready()
    LoopWatchdog(notifier, 1.0).tick()  # a no-op outside systemd


def test_a_vanished_socket_is_reported_not_raised(tmp_path: Path) -> None:
    assert Notifier(str(tmp_path / "gone")).watchdog() is False


def test_watchdog_interval_comes_from_the_environment() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "soon"}) is None
    # Meant for another process (a child that inherited the environment): not ours to ping.
    assert watchdog_interval_s({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}, pid=4242) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "4242"}, pid=4242) == 1.0


def test_pings_are_paced_at_half_the_interval(systemd: FakeSystemd) -> None:
    now = [100.0]
    watchdog = LoopWatchdog(Notifier(str(systemd.path)), 10.0, clock=lambda: now[0])
    watchdog.tick()
    assert systemd.next(5) == ["READY=1", "STATUS=delivering the outbox"]
    assert systemd.next(5) == ["WATCHDOG=1"]
    for _ in range(50):  # many turns of the loop within half an interval: no more pings
        now[0] += 0.09
        watchdog.tick()
    assert watchdog.pings == 1
    now[0] += 0.6
    watchdog.tick()
    assert watchdog.pings == 2
    assert systemd.next(5) == ["WATCHDOG=1"]


def test_pings_stop_while_the_daemon_loop_is_stuck_and_resume_after(
        systemd: FakeSystemd, outbox: Outbox, device: DeviceConfig, broker: MosquittoBroker) -> None:
    stuck = threading.Event()
    release = threading.Event()

    def hanging_handler(_payload: bytes) -> None:  # a command handler that hangs the daemon's loop
        stuck.set()
        release.wait(30)

    daemon = SyncDaemon(outbox, device, backoff=Backoff(0.05, 0.5), command_handler=hanging_handler)
    watchdog = LoopWatchdog(Notifier(str(systemd.path)), interval_s=0.4)
    daemon.loop_hook = watchdog.tick
    daemon.start()
    try:
        systemd.wait_for("READY=1")
        systemd.wait_for("WATCHDOG=1")
        assert daemon.connected.wait(15)
        assert publish(broker.url, [device.device_id], b"{}") == [device.device_id]
        assert stuck.wait(15)
        systemd.drain()  # a ping sent just before the handler was entered
        pings = watchdog.pings
        # Two and a half watchdog intervals with the loop stuck: systemd would have killed it by now.
        assert systemd.next(1.0) is None
        assert watchdog.pings == pings
        assert daemon._thread is not None and daemon._thread.is_alive()  # hung, not dead: only the watchdog sees it
        release.set()
        systemd.wait_for("WATCHDOG=1", timeout=10)
    finally:
        release.set()
        daemon.stop()


def test_kiosk_syncd_process_notifies_ready_watchdog_and_stopping(
        systemd: FakeSystemd, kiosk_home: Path, device: DeviceConfig, tmp_path: Path) -> None:
    env = dict(os.environ, NOTIFY_SOCKET=str(systemd.path), WATCHDOG_USEC="1000000")
    env.pop("WATCHDOG_PID", None)
    log = open(tmp_path / "syncd.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "sync.daemon.cli", "--home", str(kiosk_home)],
                            env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        systemd.wait_for("READY=1", timeout=30)
        systemd.wait_for("WATCHDOG=1", timeout=5)
        systemd.wait_for("WATCHDOG=1", timeout=5)  # and again: it keeps pinging
        proc.send_signal(signal.SIGTERM)
        systemd.wait_for("STOPPING=1", timeout=15)
        assert proc.wait(15) == 0
    finally:
        stop_process(proc)
        log.close()
