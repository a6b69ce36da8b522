"""Helpers the tests share: waiting on conditions, starting the central and kiosks."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sync.central.ingest import IngestWorker
from sync.central.keys import CentralKeys
from sync.central.store import CentralStore
from sync.daemon.backoff import Backoff
from sync.daemon.service import SyncDaemon
from sync.device import DeviceConfig
from sync.outbox.store import Outbox


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


def start_central(broker_url: str, db_path: Path, keys: CentralKeys, worker_id: str = "0") -> Central:
    store = CentralStore(f"sqlite:///{db_path}")
    worker = IngestWorker(broker_url, store, keys, worker_id=worker_id, backoff=Backoff(0.05, 0.5)).start()
    wait_until(worker.connected.is_set, what="central connected")
    return Central(store, worker)


def make_device(home: Path, broker_url: str, keys: CentralKeys) -> DeviceConfig:
    home.mkdir(parents=True, exist_ok=True)
    device = DeviceConfig(f"t-{uuid.uuid4().hex[:10]}", "测试街道", broker_url,
                          base64.b64encode(keys.seal.public_raw).decode(),
                          base64.b64encode(keys.command_public_raw).decode())
    device.save(home)
    return device


def start_daemon(outbox: Outbox, device: DeviceConfig, **kwargs: object) -> SyncDaemon:
    return SyncDaemon(outbox, device, backoff=Backoff(0.05, 0.5), **kwargs).start()  # type: ignore[arg-type]
