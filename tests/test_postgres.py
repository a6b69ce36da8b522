"""The central on PostgreSQL: a private cluster (devtools.postgres), the Alembic migrations, ingest end to end
with the real broker and kiosks, duplicates, attachments, and two workers on one shared subscription.

The last group pins what breaks on PostgreSQL but not on SQLite (deadlocks between workers, column
ranges, NUL characters, concurrent first start); each test names the fix it waits for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, inspect, text

from central.ingest import IngestWorker
from central.keys import CentralKeys
from central.messages import Incoming, Refused, parse
from central.store import CentralStore
from devtools.broker import MosquittoBroker
from devtools.postgres import PrivatePostgres
from sync.daemon.service import SyncDaemon
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import CHUNK_BYTES, Attachment, Outbox
from sync.protocol import topics
from sync.protocol.envelope import Envelope
from sync.protocol.sealing import open_sealed
from sync.runtime.backoff import Backoff
from sync.runtime.mqtt import new_client
from tests.helpers import TEST_KEYRING, make_device, resign, start_daemon, track, wait_until

FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "钱七"},
          {"id": "id_number", "kind": "id_number", "label": "身份证号", "value": "110101199003074514"}]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as server:  # about 1 s on a 2-core machine: not marked slow
        yield server


@pytest.fixture
def pg_url(pg: PrivatePostgres) -> Iterator[str]:
    """A fresh database per test on the module's cluster."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield pg.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def store(pg_url: str) -> Iterator[CentralStore]:
    s = CentralStore(pg_url)
    yield s
    s.close()


def _worker(broker: MosquittoBroker, store: CentralStore, keys: CentralKeys) -> IngestWorker:
    w = IngestWorker(broker.url, track(store), keys, worker_id=f"pg-{uuid.uuid4().hex[:6]}",
                     backoff=Backoff(0.05, 0.5)).start()
    wait_until(w.connected.is_set, what="ingest worker connected")
    return w


def _kiosk(tmp_path: Path, broker: MosquittoBroker, keys: CentralKeys, name: str = "kiosk") -> tuple[DeviceConfig,
                                                                                                   Outbox]:
    device = make_device(tmp_path / name, broker.url, keys)
    return device, Outbox(tmp_path / name / OUTBOX_FILE)


def _photo(size: int, seed: int = 1) -> bytes:
    return hashlib.shake_256(str(seed).encode()).digest(size)


def _items(keys: CentralKeys, device: DeviceConfig, outbox: Outbox) -> list[Incoming]:
    return [parse(keys, topics.Topic(device.device_id, "up", m.kind), m.body, TEST_KEYRING)
            for m in outbox.pending_batch(1000)]


# -- the private cluster and the schema ---------------------------------------------------------------


def test_private_postgres_serves_on_its_own_port_and_cleans_up(tmp_path: Path) -> None:
    server = PrivatePostgres()
    try:
        server.start()
        assert server.port != 5432 and str(server.port) in server.url
        with psycopg.connect(server.dsn) as conn:
            row = conn.execute("select current_setting('fsync'), current_setting('synchronous_commit')").fetchone()
        assert row == ("on", "on")  # measured as the real store: PostgreSQL's durable defaults
        folder = server.folder
    finally:
        server.cleanup()
    assert server.proc is None and not folder.exists()


def test_alembic_migrations_make_the_schema_on_postgres(store: CentralStore) -> None:
    insp = inspect(store.engine)
    assert {"submissions", "attachment_chunks", "attachments", "events", "devices", "telemetry",
            "alembic_version"} <= set(insp.get_table_names())
    cols = {c["name"]: c for c in insp.get_columns("submissions")}
    assert str(cols["complete"]["type"]) == "BOOLEAN" and cols["complete"]["default"] == "true"
    assert str({c["name"]: c for c in insp.get_columns("attachments")}["sealed"]["type"]) == "BYTEA"
    with store.engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() is not None
    CentralStore(str(store.engine.url.render_as_string(hide_password=False))).close()  # at head: a no-op


# -- ingest end to end --------------------------------------------------------------------------------


def test_ingest_end_to_end_with_attachments(tmp_path: Path, broker: MosquittoBroker, central_keys: CentralKeys,
                                            store: CentralStore) -> None:
    device, outbox = _kiosk(tmp_path, broker, central_keys)
    photo = _photo(600 * 1024)  # sealed, it spans 4 chunks of 180 KiB
    receipts = [outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS) for _ in range(20)]
    with_file = outbox.enqueue_submission(device, "GA-HJ-002", FIELDS,
                                          [Attachment("户口本.jpg", "image/jpeg", photo),
                                           Attachment("照片.jpg", "image/jpeg", _photo(3000, 2))])
    assert outbox.counts_by_kind()["attachment"]["pending"] == -(-(600 * 1024 + 80) // CHUNK_BYTES) + 1
    worker = _worker(broker, store, central_keys)
    daemon = start_daemon(outbox, device)
    try:
        wait_until(lambda: outbox.counts()["acked"] == 21, timeout=30, what="every submission acked")
    finally:
        daemon.stop()
        worker.stop()
        outbox.close()
    assert store.count(complete_only=True) == 21 and store.duplicates() == 0
    stored = store.attachment(with_file.message_id, 0)
    assert stored is not None and isinstance(stored.sealed, bytes)
    assert open_sealed(central_keys.seal.private_raw, stored.sealed, f"{with_file.message_id}/0".encode()) == photo
    listed = {r["id"]: r for r in store.list_masked()}
    assert set(listed) == {r.message_id for r in receipts} | {with_file.message_id}
    assert listed[with_file.message_id]["attachments"] == 2
    assert listed[receipts[0].message_id]["fields"][1]["value"] != FIELDS[1]["value"]  # masked


def test_duplicates_are_stored_once_and_acked_again(tmp_path: Path, broker: MosquittoBroker,
                                                    central_keys: CentralKeys, store: CentralStore) -> None:
    device, outbox = _kiosk(tmp_path, broker, central_keys)
    outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    [msg] = outbox.pending_batch(10)
    worker = _worker(broker, store, central_keys)
    acks: list[bytes] = []
    subscribed = threading.Event()
    client = new_client(f"dup-{device.device_id}")
    client.on_subscribe = lambda *_a: subscribed.set()

    def on_message(_c: Any, _u: Any, m: Any) -> None:
        acks.append(bytes(m.payload))

    client.on_message = on_message
    client.connect(*device.broker_host_port, clean_start=True)
    client.loop_start()
    try:
        client.subscribe(topics.down(device.device_id, "ack"), qos=1)
        assert subscribed.wait(5)
        for n in (1, 2, 3):
            client.publish(topics.up(device.device_id, "submission"), msg.body, qos=1).wait_for_publish(5)
            wait_until(lambda want=n: len(acks) >= want, what=f"ack {n}")  # type: ignore[misc]
    finally:
        client.loop_stop()
        client.disconnect()
        worker.stop()
        outbox.close()
    assert store.count() == 1 and all(msg.id.encode() in a for a in acks)
    item = parse(central_keys, topics.Topic(device.device_id, "up", "submission"), msg.body, TEST_KEYRING)
    assert store.apply([item, item]) == {device.device_id: [msg.id, msg.id]}
    assert store.count() == 1


def test_two_workers_on_one_store_store_each_submission_once(
        tmp_path: Path, broker: MosquittoBroker, central_keys: CentralKeys, pg_url: str) -> None:
    """One kiosk, two ingest workers sharing the subscription, each with its own engine (as two processes)."""
    stores = [CentralStore(pg_url), CentralStore(pg_url)]
    workers = [_worker(broker, s, central_keys) for s in stores]
    device, outbox = _kiosk(tmp_path, broker, central_keys)
    ids = {outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS).message_id for _ in range(150)}
    daemon = start_daemon(outbox, device)
    try:
        wait_until(lambda: outbox.counts()["acked"] == 150, timeout=60, what="every submission acked")
    finally:
        daemon.stop()
        for w in workers:
            w.stop()
        outbox.close()
    assert all(w.stored_total > 0 for w in workers), [w.stored_total for w in workers]  # both took a share
    assert {r["id"] for r in stores[0].list_masked(limit=1000)} == ids
    assert stores[0].count() == 150 and stores[0].duplicates() == 0
    for s in stores:
        s.close()


# -- what breaks on PostgreSQL and not on SQLite (each test names its fix) ----------------------------


def _two_kiosks(tmp_path: Path, keys: CentralKeys) -> list[list[Incoming]]:
    out = []
    for name in ("a", "b"):
        device = make_device(tmp_path / name, "mqtt://127.0.0.1:1", keys)
        outbox = Outbox(tmp_path / name / OUTBOX_FILE)
        for _ in range(2):
            outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        out.append(_items(keys, device, outbox))
        outbox.close()
    return out


def test_two_workers_touching_two_kiosks_in_opposite_order_both_commit(
        tmp_path: Path, central_keys: CentralKeys, pg_url: str) -> None:
    """Worker A's batch holds kiosk a then b, worker B's b then a. Each locks its first kiosk's ``devices``
    row (``last_seen``) and then waits for the other's: PostgreSQL aborts one with DeadlockDetected
    (an OperationalError, not the IntegrityError ``apply`` retries), and in a live IngestWorker that
    exception ends the worker's thread.

    Fix (central/store.py): update ``devices`` once per batch, in sorted device-id order, at the end
    of ``_apply`` (collect the ids instead of calling ``_seen`` per item); and in ``apply`` retry the whole
    batch (bounded, e.g. 5 times with a short jittered sleep) on ``sqlalchemy.exc.OperationalError`` /
    ``DBAPIError`` whose ``orig.sqlstate`` is ``40P01`` (deadlock) or ``40001`` (serialization failure).
    """
    a, b = _two_kiosks(tmp_path, central_keys)
    CentralStore(pg_url).apply([a[0], b[0]])  # both kiosks known: their rows exist
    stores = [CentralStore(pg_url), CentralStore(pg_url)]
    barrier = threading.Barrier(2, timeout=5)
    for s in stores:
        first = [True]

        @event.listens_for(s.engine, "after_cursor_execute")
        def _hold(_conn: Any, _cur: Any, statement: str, *_args: Any, first: list[bool] = first) -> None:
            if first[0] and statement.startswith("UPDATE devices"):
                first[0] = False  # both transactions now hold their first kiosk's row
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait()

    results: dict[str, Any] = {}

    def run(name: str, store: CentralStore, batch: list[Incoming]) -> None:
        try:
            results[name] = store.apply(batch)
        except Exception as exc:
            results[name] = exc

    threads = [threading.Thread(target=run, args=("A", stores[0], [a[1], b[1]])),
               threading.Thread(target=run, args=("B", stores[1], [b[1], a[1]]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for s in stores:
        s.close()
    assert not any(isinstance(r, Exception) for r in results.values()), results


def test_everything_the_parser_accepts_the_postgres_store_stores(
        tmp_path: Path, central_keys: CentralKeys, store: CentralStore) -> None:
    """What the parser accepts, PostgreSQL can store: ``seq`` up to 2**53 needs 64-bit columns, and a NUL
    character (which PostgreSQL text cannot hold) is refused by the parser already."""
    device = make_device(tmp_path / "k", "mqtt://127.0.0.1:1", central_keys)
    outbox = Outbox(tmp_path / "k" / OUTBOX_FILE)
    for _ in range(2):
        outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    first, second = [Envelope.from_bytes(m.body) for m in outbox.pending_batch(10)]
    outbox.close()
    topic = topics.Topic(device.device_id, "up", "submission")
    big = parse(central_keys, topic, resign(tmp_path / "k", dataclasses.replace(first, seq=2**53 - 1)), TEST_KEYRING)
    assert store.apply([big]) == {device.device_id: [first.id]}
    nul = dataclasses.replace(second, meta={**second.meta, "receipt_no": "R\x00"})
    with pytest.raises(Refused, match="receipt_no"):
        parse(central_keys, topic, resign(tmp_path / "k", nul), TEST_KEYRING)


def test_a_poison_message_does_not_stop_the_ingest_worker(tmp_path: Path, broker: MosquittoBroker,
                                                          central_keys: CentralKeys, store: CentralStore) -> None:
    """After one message the store cannot take, later good messages must still be stored and acked.

    Fix (central/ingest.py ``_flush``): wrap ``self.store.apply(batch)`` in ``try/except Exception``;
    on failure apply item by item, ack what commits, put each item that still fails in ``Ack.rejected``
    with reason "cannot be stored" (logged without personal data), and keep the thread running.
    """
    device, outbox = _kiosk(tmp_path, broker, central_keys)
    outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    [msg] = outbox.pending_batch(10)
    outbox.mark_acked([msg.id])
    # Same id (the seal binds it), a seq PostgreSQL's INTEGER cannot hold: it parses, it cannot be stored.
    poison = dataclasses.replace(Envelope.from_bytes(msg.body), seq=2**31).to_bytes()
    worker = _worker(broker, store, central_keys)
    client = new_client(f"poison-{device.device_id}")
    client.connect(*device.broker_host_port, clean_start=True)
    client.loop_start()
    daemon: SyncDaemon | None = None
    try:
        client.publish(topics.up(device.device_id, "submission"), poison, qos=1).wait_for_publish(5)
        outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        daemon = start_daemon(outbox, device)
        wait_until(lambda: outbox.counts()["acked"] == 2, timeout=15, what="the good submission acked")
    finally:
        if daemon is not None:
            daemon.stop()
        client.loop_stop()
        client.disconnect()
        worker.stop()
        outbox.close()


def test_first_start_of_several_central_processes_at_once(pg_url: str) -> None:
    """``kiosk-central serve`` started on two hosts against a new database: both run the Alembic upgrade.
    On SQLite ``BEGIN IMMEDIATE`` serialises them; on PostgreSQL both try to create ``alembic_version``
    and all but one fail with DuplicateTable.

    Fix (sync/runtime/sqlite.py ``upgrade``): on PostgreSQL take a transaction-scoped advisory lock first:
    ``if conn.dialect.name == "postgresql": conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7406001)")``
    (any fixed key) inside ``with engine.begin() as conn:`` before ``command.upgrade``.
    """
    # Imports first, then all three upgrade at the same wall-clock instant.
    code = ("import sys, time; from central.store import CentralStore; "
            "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); CentralStore(sys.argv[1]).close()")
    start_at = str(time.time() + 4.0)
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url, start_at], cwd=ROOT, stderr=subprocess.PIPE)
             for _ in range(3)]
    errors = []
    for p in procs:
        _out, err = p.communicate(timeout=60)
        if p.returncode != 0:
            lines = err.decode(errors="replace").splitlines()
            errors.append(next((ln for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "?")[:200])
    assert errors == []
