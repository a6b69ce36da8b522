"""Benchmark: the central's ingest rate into SQLite and into PostgreSQL (a private cluster, default settings).

Pre-builds N sealed ~1 KB submissions with a real Outbox (read back with ``pending_batch``), then for each
database:
- ``pure``: ``central.messages.parse`` + ``CentralStore.apply`` in batches of --batch, no broker
  (parse and apply also timed apart);
- ``broker``: the same envelopes published with raw paho (QoS 1, in-flight 100) to a private Mosquitto
  and ingested by one IngestWorker (batch_max = --batch), until every id has come back in a ``down/ack``.
  Publisher, ack listener and worker share this process (and its GIL).

Prints one JSON object. Run: ``.venv/bin/python -m bench.ingest [--n 5000] [--batch 500] [--quick]
[--no-postgres]``. Never used as a timed assert in tests.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

from central.field_encryption import KeySource, new_master_key
from central.ingest import IngestWorker
from central.keys import CentralKeys
from central.messages import parse
from central.store import CentralStore
from central.trust import Keyring, register_key
from devtools.broker import MosquittoBroker
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol import topics
from sync.protocol.envelope import Ack
from sync.protocol.signing import DeviceSigner
from sync.runtime.backoff import Backoff
from sync.runtime.mqtt import new_client

FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "孙九"},
          {"id": "id_number", "kind": "id_number", "label": "身份证号", "value": "110101199003074514"},
          {"id": "phone", "kind": "phone", "label": "联系电话", "value": "13800138000"},
          {"id": "address", "kind": "text", "label": "住址", "value": "幸福街道1号" + "x" * 95}]


KEYS_BY_DEVICE: dict[str, bytes] = {}
# The master key of the personal data at rest (central.field_encryption): the fields are encrypted as in
# production, so the figures include it.
MASTER_KEYS = KeySource(inline=base64.b64encode(new_master_key()).decode("ascii"))


def _enrolled(store: CentralStore) -> CentralStore:
    for device_id, public_raw in KEYS_BY_DEVICE.items():
        register_key(store, device_id, public_raw, how="bench")
    return store


def build_envelopes(n: int, keys: CentralKeys, folder: Path) -> tuple[str, list[bytes]]:
    home = folder / "kiosk"
    home.mkdir(parents=True)
    device = DeviceConfig(f"bench-{uuid.uuid4().hex[:8]}", "基准测试", "mqtt://127.0.0.1:1883",
                          base64.b64encode(keys.seal.public_raw).decode(),
                          base64.b64encode(keys.command_public_raw).decode())
    signer = DeviceSigner.generate()  # the kiosk's device key: the outbox signs every envelope with it
    signer.save(home)
    KEYS_BY_DEVICE[device.device_id] = signer.public_raw
    outbox = Outbox(home / OUTBOX_FILE)

    # Setup only (not measured): the envelopes are built without the outbox's per-commit fsync.
    @event.listens_for(outbox.engine, "connect")
    def _fast(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous=OFF")

    outbox.engine.dispose()
    for _ in range(n):
        outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    bodies = [m.body for m in outbox.pending_batch(n)]
    outbox.close()
    return device.device_id, bodies


def pure(url: str, keys: CentralKeys, device_id: str, bodies: list[bytes], batch: int) -> dict[str, Any]:
    store = _enrolled(CentralStore(url, master_keys=MASTER_KEYS))
    keyring = Keyring(store)
    topic = topics.Topic(device_id, "up", "submission")
    parse_s = apply_s = 0.0
    for i in range(0, len(bodies), batch):
        t0 = time.perf_counter()
        items = [parse(keys, topic, b, keyring) for b in bodies[i:i + batch]]  # includes signature checks
        t1 = time.perf_counter()
        store.apply(items)
        apply_s += time.perf_counter() - t1
        parse_s += t1 - t0
    stored = store.count()
    store.close()
    n = len(bodies)
    return {"msgs_per_s": round(n / (parse_s + apply_s), 1), "parse_msgs_per_s": round(n / parse_s, 1),
            "apply_msgs_per_s": round(n / apply_s, 1), "stored": stored}


def through_broker(url: str, broker: MosquittoBroker, keys: CentralKeys, device_id: str, bodies: list[bytes],
                   batch: int) -> dict[str, Any]:
    store = _enrolled(CentralStore(url, master_keys=MASTER_KEYS))
    worker = IngestWorker(broker.url, store, keys, worker_id=uuid.uuid4().hex[:6], batch_max=batch,
                          backoff=Backoff(0.05, 0.5)).start()
    worker.connected.wait(30)
    acked: set[str] = set()
    all_acked = threading.Event()
    n = len(bodies)

    def on_message(_c: Any, _u: Any, m: Any) -> None:
        acked.update(Ack.from_bytes(bytes(m.payload)).ids)
        if len(acked) >= n:
            all_acked.set()

    subscribed = threading.Event()
    client = new_client(f"bench-{device_id}")
    client.max_inflight_messages_set(100)
    client.on_message = on_message
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect("127.0.0.1", broker.port, clean_start=True)
    client.subscribe(topics.down(device_id, "ack"), qos=1)
    client.loop_start()
    subscribed.wait(10)
    up = topics.up(device_id, "submission")
    t0 = time.monotonic()
    for body in bodies:
        client.publish(up, body, qos=1)
    all_acked.wait(max(600.0, n / 10))
    seconds = time.monotonic() - t0
    client.loop_stop()
    client.disconnect()
    worker.stop()
    stored = store.count()
    store.close()
    return {"msgs_per_s": round(n / seconds, 1), "seconds": round(seconds, 3), "acked": len(acked),
            "stored": stored}


@contextmanager
def postgres_db() -> Iterator[Callable[[], str]]:
    import psycopg

    from devtools.postgres import PrivatePostgres

    with PrivatePostgres() as pg:
        def fresh() -> str:
            name = f"bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(pg.dsn, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {name}")
            return pg.url.rsplit("/", 1)[0] + f"/{name}"

        yield fresh


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="n = 1,000")
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args(argv)
    n = 1000 if args.quick else args.n
    keys = CentralKeys.generate()
    result: dict[str, Any] = {"n": n, "batch": args.batch}
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-ingest-") as tmp:
        folder = Path(tmp)
        device_id, bodies = build_envelopes(n, keys, folder)
        result["envelope_bytes"] = round(sum(map(len, bodies)) / len(bodies))
        with MosquittoBroker() as broker:
            result["sqlite"] = {
                "pure": pure(f"sqlite:///{folder / 'pure.db'}", keys, device_id, bodies, args.batch),
                "broker": through_broker(f"sqlite:///{folder / 'broker.db'}", broker, keys, device_id, bodies,
                                         args.batch),
            }
            if not args.no_postgres:
                with postgres_db() as fresh:
                    result["postgres"] = {
                        "pure": pure(fresh(), keys, device_id, bodies, args.batch),
                        "broker": through_broker(fresh(), broker, keys, device_id, bodies, args.batch),
                    }
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
