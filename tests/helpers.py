"""Helpers the tests share: waiting on conditions, starting the central and kiosks."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from central.ingest import IngestWorker
from central.keys import CentralKeys
from central.models import DeviceKey
from central.store import CentralStore
from devtools.broker import MosquittoBroker
from sync.daemon.service import SyncDaemon
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol import topics
from sync.protocol.envelope import Ack, Envelope
from sync.protocol.signing import DEVICE_KEY_FILE, DeviceSigner, VerifyKey, public_key
from sync.runtime.backoff import Backoff
from sync.runtime.mqtt import new_client

# Every device make_device creates is enrolled: its key is saved in its home (as provisioning does) and
# its public half recorded here, then registered in every central the tests start (start_central, or
# enroll(store) for a store a test opens itself). Centrals refuse messages of kiosks they do not know.
_DEVICE_KEYS: dict[str, bytes] = {}
_LIVE_STORES: set[CentralStore] = set()


class TrackedStore(CentralStore):
    """A central store that learns the key of every test device made while it is open."""

    def close(self) -> None:
        _LIVE_STORES.discard(self)
        super().close()


class TestKeyring:
    """The keys of the test devices, for calling ``central.messages.parse`` without a central."""

    def get(self, device_id: str, *, fresh: bool = False) -> VerifyKey | None:
        raw = _DEVICE_KEYS.get(device_id)
        return public_key(raw) if raw is not None else None


TEST_KEYRING = TestKeyring()


def enroll(store: CentralStore, *devices: DeviceConfig | str) -> None:
    """Register test devices' keys (all made so far if none is named) in ``store``; idempotent."""
    ids = [d if isinstance(d, str) else d.device_id for d in devices] or list(_DEVICE_KEYS)
    rows = [{"device_id": i, "public_key": base64.b64encode(_DEVICE_KEYS[i]).decode(), "enrolled_at": time.time(),
             "token_id": "test"} for i in ids if i in _DEVICE_KEYS]
    if not rows:
        return
    dialect = postgresql if store.engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(DeviceKey).values(rows)
    with store.engine.begin() as conn:
        conn.execute(stmt.on_conflict_do_update(index_elements=["device_id"],
                                                set_={"public_key": stmt.excluded.public_key}))


def track(store: CentralStore) -> CentralStore:
    """Enrol every test device in ``store`` now and every one made while it stays open."""
    enroll(store)
    _LIVE_STORES.add(store)
    return store


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Wait on a condition another thread or process will make true; fail with a clear message."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        tick.wait(0.02)


@dataclass
class Central:
    store: CentralStore
    worker: IngestWorker


def start_central(broker_url: str, db_path: Path, keys: CentralKeys, worker_id: str = "0",
                  **worker_options: Any) -> Central:
    store = track(TrackedStore(f"sqlite:///{db_path}"))
    worker = IngestWorker(broker_url, store, keys, worker_id=worker_id, backoff=Backoff(0.05, 0.5),
                          **worker_options).start()
    wait_until(worker.connected.is_set, what="central connected")
    return Central(store, worker)


def make_device(home: Path, broker_url: str, keys: CentralKeys) -> DeviceConfig:
    home.mkdir(parents=True, exist_ok=True)
    device = DeviceConfig(f"t-{uuid.uuid4().hex[:10]}", "测试街道", broker_url,
                          base64.b64encode(keys.seal.public_raw).decode(),
                          base64.b64encode(keys.command_public_raw).decode())
    device.save(home)
    signer = DeviceSigner.generate()
    signer.save(home)
    _DEVICE_KEYS[device.device_id] = signer.public_raw
    for store in list(_LIVE_STORES):
        try:
            enroll(store, device)
        except SQLAlchemyError:  # a store the test closed (its database may be gone)
            _LIVE_STORES.discard(store)
    return device


def serve_home(tmp_path: Path, broker_url: str, keys: CentralKeys) -> tuple[Path, str, DeviceConfig]:
    """A central home with its keys and an SQLite database that already knows one kiosk (for tests that run
    ``kiosk-central serve`` as a process): the home, the database URL and the kiosk."""
    home, db = tmp_path / "central", f"sqlite:///{tmp_path / 'central.db'}"
    keys.save(home)
    device = make_device(tmp_path / "kiosk", broker_url, keys)
    store = CentralStore(db)
    enroll(store, device)
    store.close()
    return home, db, device


def upgrade_to(engine: Any, script_location: Path, revision: str) -> None:
    """Run Alembic's ``upgrade`` to ``revision`` on ``engine`` (migration tests start from old schemas)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def start_daemon(outbox: Outbox, device: DeviceConfig, **kwargs: object) -> SyncDaemon:
    return SyncDaemon(outbox, device, backoff=Backoff(0.05, 0.5), **kwargs).start()  # type: ignore[arg-type]


def device_signer(home: Path) -> DeviceSigner:
    """The device key make_device saved in ``home`` (to sign envelopes a test builds or edits)."""
    return DeviceSigner.from_pem((home / DEVICE_KEY_FILE).read_bytes())


def resign(home: Path, envelope: Envelope | bytes) -> bytes:
    """An envelope a test edited, signed again with its device's key (so only the edit is under test)."""
    env = Envelope.from_bytes(envelope) if isinstance(envelope, bytes) else envelope
    return device_signer(home).sign(env).to_bytes()


class Wire:
    """A raw MQTT client: publishes what a test forges and records the acks a kiosk's topic receives."""

    def __init__(self, broker: MosquittoBroker, listen: str) -> None:
        self.acks: list[Ack] = []
        self.client = new_client(f"wire-{uuid.uuid4().hex[:8]}")
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.on_message = lambda _c, _u, m: self.acks.append(Ack.from_bytes(bytes(m.payload)))
        self.client.connect("127.0.0.1", broker.port, clean_start=True)
        self.client.subscribe(topics.down(listen, "ack"), qos=1)
        self.client.loop_start()
        assert subscribed.wait(5)

    def publish(self, device_id: str, kind: str, payload: bytes) -> None:
        info = self.client.publish(topics.up(device_id, kind), payload, qos=1)
        info.wait_for_publish(5)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def sim_enroll(device_id: str, public_raw: bytes) -> None:
    """``SimFleet(enroll=...)``: a simulated kiosk is enrolled like make_device's (every live test central)."""
    _DEVICE_KEYS[device_id] = public_raw
    for store in list(_LIVE_STORES):
        try:
            enroll(store, device_id)
        except SQLAlchemyError:
            _LIVE_STORES.discard(store)
