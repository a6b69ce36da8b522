"""Faults on real parts, proving exactly-once in effect: kill -9 of the sync daemon and of the central,
a broker restart, two central workers on one shared subscription, and a Will that arrives late.

The random kill intervals are the experiment's schedule (seeded); every other wait is on a condition.
"""

from __future__ import annotations

import base64
import json
import random
import socket
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from central.ingest import IngestWorker
from central.keys import CentralKeys
from central.messages import Incoming
from central.store import CentralStore
from devtools.broker import MosquittoBroker
from devtools.sim import SimFleet, fictional_fields, relax_fsync
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol import topics
from sync.runtime.backoff import Backoff
from sync.runtime.mqtt import new_client
from tests.helpers import Central, make_device, sim_enroll, start_central, start_daemon, track, wait_until

BIN = Path(sys.executable).parent
N = 1000


def _enqueue(outbox: Outbox, device: DeviceConfig, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    for i in range(n):
        code, fields = fictional_fields(i + 1, rng)
        outbox.enqueue_submission(device, code, fields)


def _kiosk(tmp_path: Path, broker_url: str, keys: CentralKeys, n: int = N) -> tuple[Path, DeviceConfig, Outbox]:
    home = tmp_path / "kiosk"
    device = make_device(home, broker_url, keys)
    outbox = Outbox(home / OUTBOX_FILE)
    relax_fsync(outbox)  # only this test process's connections: queueing 1,000 is set-up, not the experiment
    _enqueue(outbox, device, n)
    return home, device, outbox


def _acked(outbox: Outbox) -> int:
    return outbox.counts_by_kind().get("submission", {}).get("acked", 0)


def _sends(outbox: Outbox) -> int:
    with sqlite3.connect(outbox.path) as db:
        return int(db.execute("select coalesce(sum(attempts), 0) from outbox where kind = 'submission'")
                   .fetchone()[0])


def _attempts(outbox: Outbox, ids: Sequence[str]) -> dict[str, int]:
    with sqlite3.connect(outbox.path) as db:
        marks = ",".join("?" * len(ids))
        return dict(db.execute(f"select id, attempts from outbox where id in ({marks})", list(ids)).fetchall())  # noqa: S608


def _syncd(home: Path, *args: str) -> subprocess.Popen[bytes]:
    log = open(home / "syncd.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen([str(BIN / "kiosk-syncd"), "--home", str(home), *args], stdout=log, stderr=log)
    finally:
        log.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _exactly_once(store: CentralStore, outbox: Outbox, n: int = N) -> None:
    assert store.count() == n
    assert store.duplicates() == 0
    kinds = outbox.counts_by_kind()["submission"]
    assert kinds["acked"] == n and kinds["pending"] == 0 and kinds["sent"] == 0 and kinds["rejected"] == 0


@pytest.mark.slow
def test_kill_9_of_kiosk_syncd_while_draining(tmp_path: Path, broker: MosquittoBroker, central: Central,
                                              central_keys: CentralKeys) -> None:
    home, _device, outbox = _kiosk(tmp_path, broker.url, central_keys)
    # The kill points are seeded random points of the drain (counts of acked submissions): kiosk-syncd drains
    # thousands a second here, so kills at random intervals would mostly land after the queue is empty; a
    # window of 1 keeps each kill in the middle of the drain.
    kill_points = sorted(random.Random(20261127).sample(range(50, 700), 5))  # room left to land mid-drain
    at_kill = []
    try:
        for point in kill_points:
            proc = _syncd(home, "--window", "1")
            try:
                wait_until(lambda p=point: _acked(outbox) >= p, 60, f"{point} acked")
            finally:
                proc.kill()  # SIGKILL: no offline status, no cleanup
                proc.wait(10)
            at_kill.append(_acked(outbox))
        proc = _syncd(home)
        try:
            wait_until(lambda: _acked(outbox) == N, 120, "every submission acked")
        finally:
            _stop(proc)
        _exactly_once(central.store, outbox)
        assert all(n < N for n in at_kill), at_kill
        print(f"kill -9 x5 at acked {at_kill}: {_sends(outbox) - N} resends absorbed")
    finally:
        outbox.close()


@pytest.mark.slow
def test_broker_restart_mid_drain(tmp_path: Path, own_broker: MosquittoBroker, central_keys: CentralKeys) -> None:
    central = start_central(own_broker.url, tmp_path / "central.db", central_keys, worker_id=uuid.uuid4().hex[:6])
    _home, device, outbox = _kiosk(tmp_path, own_broker.url, central_keys)
    daemon = start_daemon(outbox, device, window=2)
    try:
        for threshold in (200, 550):
            wait_until(lambda t=threshold: _acked(outbox) >= t, 60, f"{threshold} acked")
            own_broker.stop()
            assert _acked(outbox) < N
            wait_until(lambda: not daemon.connected.is_set() and not central.worker.connected.is_set(), 30,
                       "both ends noticed the broker is gone")
            own_broker.start()
        wait_until(lambda: _acked(outbox) == N, 120, "every submission acked")
        _exactly_once(central.store, outbox)
        print(f"broker restarted twice: {_sends(outbox) - N} resends absorbed")
    finally:
        daemon.stop()
        central.worker.stop()
        central.store.close()
        outbox.close()


@pytest.mark.slow
def test_kill_9_of_the_central_mid_drain(tmp_path: Path, own_broker: MosquittoBroker,
                                         central_keys: CentralKeys) -> None:
    central_home = tmp_path / "central"
    central_keys.save(central_home)
    db_url = f"sqlite:///{tmp_path / 'central.db'}"
    store = track(CentralStore(db_url))  # migrates before any server starts; the test reads through it

    def serve() -> subprocess.Popen[bytes]:
        log = open(tmp_path / "central.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            return subprocess.Popen([str(BIN / "kiosk-central"), "serve", "--home", str(central_home),
                                     "--broker", own_broker.url, "--db", db_url], stdout=log, stderr=log)
        finally:
            log.close()

    _home, device, outbox = _kiosk(tmp_path, own_broker.url, central_keys)
    daemon = start_daemon(outbox, device, window=2)
    proc = serve()
    gaps = []
    try:
        for threshold in (150, 400, 650):
            wait_until(lambda t=threshold: store.count() >= t, 60, f"{threshold} stored")
            proc.kill()
            proc.wait(10)
            stored, acked = store.count(), _acked(outbox)
            assert acked < N
            gaps.append(stored - acked)  # stored by the dead central, not (yet) acked to the kiosk
            proc = serve()
        wait_until(lambda: _acked(outbox) == N, 120, "every submission acked")
        _exactly_once(store, outbox)
        print(f"central kill -9 x3: stored-not-acked at the kills {gaps}; {_sends(outbox) - N} resends absorbed")
    finally:
        _stop(proc)
        daemon.stop()
        store.close()
        outbox.close()


class _CapturingWorker(IngestWorker):
    """An ingest worker whose paho client a test can cut (the connection keeps it to itself)."""

    client: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        make = self.connection.client_factory

        def capture(client_id: str, tls: Any) -> Any:
            self.client = make(client_id, tls)
            return self.client

        self.connection.client_factory = capture


class _DiesAfterCommit(CentralStore):
    """Once armed, the next batch with submissions commits and then the worker's connection dies before
    a single ack leaves: the window between "stored" and "acked" that kill -9 only hits by chance."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.armed = threading.Event()
        self.lost_acks: list[str] = []
        self.worker: _CapturingWorker | None = None

    def apply(self, items: Sequence[Incoming]) -> dict[str, list[str]]:
        acks = super().apply(items)
        subs = [i.envelope.id for i in items if i.envelope is not None and i.topic.kind == "submission"]
        if subs and self.armed.is_set() and self.worker is not None and self.worker.client is not None:
            self.armed.clear()
            self.lost_acks = subs
            self.worker.client.socket().shutdown(socket.SHUT_RDWR)
        return acks


@pytest.mark.slow
def test_central_dying_between_commit_and_ack(tmp_path: Path, own_broker: MosquittoBroker,
                                              central_keys: CentralKeys) -> None:
    store = _DiesAfterCommit(f"sqlite:///{tmp_path / 'central.db'}")
    worker = _CapturingWorker(own_broker.url, store, central_keys, worker_id="dies", backoff=Backoff(0.05, 0.5))
    store.worker = worker
    track(store)  # the kiosk made below is enrolled in it
    worker.start()
    _home, device, outbox = _kiosk(tmp_path, own_broker.url, central_keys, n=300)
    daemon = start_daemon(outbox, device, window=5)
    try:
        wait_until(lambda: store.count() >= 50, 60, "50 stored")
        store.armed.set()
        wait_until(lambda: bool(store.lost_acks), 60, "a batch stored whose acks are lost")
        wait_until(lambda: _acked(outbox) == 300, 120, "every submission acked")
        _exactly_once(store, outbox, 300)
        # Every message of the lost batch was sent again after the central's new epoch, and stored once.
        attempts = _attempts(outbox, store.lost_acks)
        assert attempts and all(a >= 2 for a in attempts.values()), attempts
    finally:
        daemon.stop()
        worker.stop()
        store.close()
        outbox.close()


@pytest.mark.slow
def test_two_central_workers_on_one_shared_subscription(tmp_path: Path, own_broker: MosquittoBroker,
                                                        central_keys: CentralKeys) -> None:
    db_url = f"sqlite:///{tmp_path / 'central.db'}"
    stores = [track(CentralStore(db_url)), CentralStore(db_url)]  # two engines on one database, as two processes
    workers = [IngestWorker(own_broker.url, s, central_keys, worker_id=f"w{i}", backoff=Backoff(0.05, 0.5))
               for i, s in enumerate(stores)]
    workers[0].start()
    wait_until(workers[0].connected.is_set, what="worker 0 connected")
    fleet = SimFleet(own_broker.url, 6, seal_key=base64.b64encode(central_keys.seal.public_raw).decode(),
                     command_key=base64.b64encode(central_keys.command_public_raw).decode(),  # checks signed acks
                     enroll=sim_enroll, id_prefix="two", backoff=(0.05, 0.5), seed=4)
    try:
        fleet.start()
        fleet.submit(60)
        wait_until(lambda: stores[0].count() >= 60, 60, "the first worker storing")
        # The second worker comes online mid-drain: its new epoch makes every kiosk send all unacked
        # messages again, so copies of one message can reach both workers.
        workers[1].start()
        assert fleet.wait_all_acked(120), fleet.summary()
        assert stores[0].count() == 360 and stores[0].duplicates() == 0
        assert all(w.stored_total > 0 for w in workers), [w.stored_total for w in workers]
        print(f"two workers: stored_total {[w.stored_total for w in workers]}, "
              f"{sum(w.stored_total for w in workers) - 360} duplicates absorbed, summary {fleet.summary()}")
    finally:
        fleet.close()
        for w in workers:
            w.stop()
        for s in stores:
            s.close()


@pytest.mark.slow
def test_a_stale_will_after_a_new_online_does_not_mark_the_device_offline(
        broker: MosquittoBroker, central: Central, central_keys: CentralKeys, monkeypatch: pytest.MonkeyPatch) -> None:
    applied: list[dict[str, Any]] = []
    apply = central.store.apply

    def recording_apply(items: Sequence[Incoming]) -> dict[str, list[str]]:
        acks = apply(items)
        applied.extend(dict(i.status) for i in items if i.topic.kind == "status")
        return acks

    monkeypatch.setattr(central.store, "apply", recording_apply)
    fleet = SimFleet(broker.url, 1, seal_key=base64.b64encode(central_keys.seal.public_raw).decode(), enroll=sim_enroll,
                     id_prefix=f"w{uuid.uuid4().hex[:6]}", backoff=(0.05, 0.5), heartbeat_s=3600)
    with fleet:
        dev = fleet.kiosks[0].device_id

        def status() -> dict[str, Any]:
            return central.store.device(dev) or {}

        wait_until(lambda: status().get("status") == "online", what="online")
        conn = fleet.daemon(0).conn
        fleet.kill(0)  # abrupt: the broker publishes the Will (offline, conn N) now
        wait_until(lambda: status().get("status") == "offline" and status().get("conn") == conn, what="the Will")
        fleet.restart(0)
        wait_until(lambda: status().get("status") == "online" and status().get("conn", 0) > conn,
                   what="online again with the next connection counter")
        new_conn = status()["conn"]

        # A late Will of connection N, delivered by the broker after N+1's online: a connection carrying
        # that Will (as a broker in a cluster may still hold one) is cut without a DISCONNECT.
        stale = {"state": "offline", "conn": conn, "since": 0.0, "version": "0.1.0", "site": "测试街道"}
        ghost = new_client(f"ghost-{dev}")
        ghost.will_set(topics.up(dev, "status"), json.dumps(stale).encode(), qos=1, retain=True)
        connected = threading.Event()
        ghost.on_connect = lambda *_a: connected.set()
        host, port = fleet.kiosks[0].device.broker_host_port
        ghost.connect(host, port, keepalive=60, clean_start=True)
        ghost.loop_start()
        try:
            assert connected.wait(10)
            ghost.socket().shutdown(socket.SHUT_RDWR)
            wait_until(lambda: any(s.get("state") == "offline" and s.get("conn") == conn and s.get("since") == 0.0
                                   for s in applied), what="the stale Will reached the central's store")
        finally:
            ghost.loop_stop()
        assert status()["status"] == "online" and status()["conn"] == new_conn

        fleet.stop_one(0)  # a genuine offline of the current connection
        wait_until(lambda: status().get("status") == "offline" and status().get("conn") == new_conn,
                   what="graceful offline")


@pytest.mark.slow
def test_status_after_the_outbox_is_quarantined(tmp_path: Path, broker: MosquittoBroker, central: Central,
                                                central_keys: CentralKeys) -> None:
    home = tmp_path / "kiosk"
    device = make_device(home, broker.url, central_keys)

    def status() -> dict[str, Any]:
        return central.store.device(device.device_id) or {}

    outbox = Outbox(home / OUTBOX_FILE)
    last = 0
    for n in (1, 2, 3):
        daemon = start_daemon(outbox, device)
        wait_until(lambda last=last: status().get("status") == "online" and status().get("conn", 0) > last,
                   what=f"online (connection {n})")
        last = status()["conn"]
        daemon.stop()
        wait_until(lambda: status().get("status") == "offline", what="offline")
    outbox.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(home / OUTBOX_FILE) + suffix).unlink(missing_ok=True)
    (home / OUTBOX_FILE).write_bytes(b"this is not a database" * 100)
    outbox = Outbox(home / OUTBOX_FILE)
    assert outbox.quarantined is not None
    daemon = start_daemon(outbox, device)
    try:
        wait_until(daemon.connected.is_set, what="connected")
        wait_until(lambda: status().get("status") == "online", 5, "online after the quarantine")
    finally:
        daemon.stop()
        outbox.close()
