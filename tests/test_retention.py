"""Telemetry retention at the central: old heartbeat samples go at startup and then periodically;
recent ones and everything else stay."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from central.keys import CentralKeys
from central.models import Device, TelemetrySample
from central.retention import RetentionTask, purge_telemetry, telemetry_days
from central.store import CentralStore
from devtools.broker import MosquittoBroker
from tests.helpers import wait_until

CENTRAL_CLI = str(Path(sys.executable).with_name("kiosk-central"))
DAY = 86400.0


def _add(store: CentralStore, ages_days: list[float], now: float, device_id: str = "k-1") -> None:
    with store.session() as s, s.begin():
        for i, age in enumerate(ages_days):
            s.add(TelemetrySample(device_id=device_id, at=now - age * DAY, data_json=json.dumps({"i": i})))


def _ages(store: CentralStore, now: float) -> list[float]:
    with store.session() as s:
        return sorted(round((now - at) / DAY, 2) for at in s.scalars(select(TelemetrySample.at)))


@pytest.fixture
def store(tmp_path: Path) -> CentralStore:
    return CentralStore(f"sqlite:///{tmp_path / 'central.db'}")


def test_purge_deletes_only_samples_past_the_age_in_batches(store: CentralStore) -> None:
    now = time.time()
    _add(store, [0.0, 1.0, 29.9, 30.1, 31.0, 400.0, 45.0], now)
    with store.session() as s, s.begin():
        s.add(Device(device_id="k-1", site="东四街道", telemetry_json='{"queue": {}}'))
    assert purge_telemetry(store, 30 * DAY, now, batch=2) == 4
    assert _ages(store, now) == [0.0, 1.0, 29.9]
    assert purge_telemetry(store, 30 * DAY, now) == 0
    assert purge_telemetry(store, 0, now) == 0  # 0 keeps everything
    with store.session() as s:  # the fleet's latest telemetry is not a sample: untouched
        assert s.get(Device, "k-1") is not None


def test_task_purges_at_start_and_periodically(store: CentralStore) -> None:
    now = time.time()
    _add(store, [40.0, 1.0], now)
    task = RetentionTask(store, days=30, every_s=0.05).start()
    try:
        wait_until(lambda: _ages(store, now) == [1.0], 10, "the startup purge")
        _add(store, [60.0], now)  # an old sample arriving later (e.g. a kiosk's queued backlog)
        wait_until(lambda: _ages(store, now) == [1.0], 10, "a periodic purge")
        assert task.deleted == 2 and task.rounds >= 2
    finally:
        task.stop()


def test_retention_age_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIOSK_CENTRAL_TELEMETRY_DAYS", raising=False)
    assert telemetry_days() == 30.0
    monkeypatch.setenv("KIOSK_CENTRAL_TELEMETRY_DAYS", "7")
    assert telemetry_days() == 7.0 and telemetry_days(2) == 2.0
    monkeypatch.setenv("KIOSK_CENTRAL_TELEMETRY_DAYS", "soon")
    assert telemetry_days() == 30.0  # unreadable: the default, with a warning
    with pytest.raises(ValueError):
        telemetry_days(-1)


@pytest.mark.slow
def test_serve_purges_old_telemetry_on_startup(tmp_path: Path, broker: MosquittoBroker) -> None:
    home = tmp_path / "central"
    CentralKeys.generate().save(home)
    db = f"sqlite:///{tmp_path / 'central.db'}"
    store = CentralStore(db)
    now = time.time()
    _add(store, [3.0, 0.5], now)
    bad = subprocess.run([CENTRAL_CLI, "serve", "--home", str(home), "--db", db, "--broker", broker.url,
                          "--telemetry-days", "-2"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "--telemetry-days" in bad.stderr
    assert _ages(store, now) == [0.5, 3.0]  # nothing deleted by the refused start
    proc = subprocess.Popen([CENTRAL_CLI, "serve", "--home", str(home), "--db", db, "--broker", broker.url,
                             "--telemetry-days", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: _ages(store, now) == [0.5], 20, "serve's startup purge")
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(TelemetrySample)) == 1
    finally:
        proc.terminate()
        proc.wait(15)
        store.close()
