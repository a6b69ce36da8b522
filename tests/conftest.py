"""Shared fixtures: a private Mosquitto, central keys, a central ingest worker, a provisioned kiosk.

Qt must run offscreen on a headless machine (pytest aborts without a platform), so this is set before
anything imports Qt.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The central's master key of the personal data at rest (central.field_encryption), for every central the
# tests start in this process or as a child; tests of the key's own sources remove it.
os.environ.setdefault("KIOSK_CENTRAL_MASTER_KEY", base64.b64encode(os.urandom(32)).decode("ascii"))

import pytest

from central.keys import CentralKeys
from devtools.broker import MosquittoBroker
from sync.daemon.service import SyncDaemon
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Outbox
from tests.helpers import Central, make_device, start_central, start_daemon


@pytest.fixture(scope="session")
def broker() -> Iterator[MosquittoBroker]:
    with MosquittoBroker() as b:
        yield b


@pytest.fixture
def own_broker() -> Iterator[MosquittoBroker]:
    """A broker this test may stop and start."""
    with MosquittoBroker() as b:
        yield b


@pytest.fixture(scope="session")
def central_keys() -> CentralKeys:
    return CentralKeys.generate()


@pytest.fixture
def central(tmp_path: Path, broker: MosquittoBroker, central_keys: CentralKeys) -> Iterator[Central]:
    c = start_central(broker.url, tmp_path / "central.db", central_keys, worker_id=uuid.uuid4().hex[:6])
    yield c
    c.worker.stop()
    c.store.close()


@pytest.fixture
def kiosk_home(tmp_path: Path) -> Path:
    return tmp_path / "kiosk"


@pytest.fixture
def device(kiosk_home: Path, broker: MosquittoBroker, central_keys: CentralKeys) -> DeviceConfig:
    return make_device(kiosk_home, broker.url, central_keys)


@pytest.fixture
def outbox(kiosk_home: Path, device: DeviceConfig) -> Iterator[Outbox]:
    ob = Outbox(kiosk_home / OUTBOX_FILE)
    yield ob
    ob.close()


@pytest.fixture
def syncd(outbox: Outbox, device: DeviceConfig) -> Iterator[SyncDaemon]:
    d = start_daemon(outbox, device)
    yield d
    d.stop()
