"""A kiosk on a thin link (issue 21): delivery order, the byte window, resuming a photo after a cut.

Real SQLite outboxes, a real Mosquitto and a real central ingest worker; the link is devtools.link_proxy (a
rate-capped TCP proxy the test can cut), so no root is needed.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest

from central.keys import CentralKeys
from devtools.broker import MosquittoBroker, free_port
from devtools.link_proxy import LinkProxy
from drivers.camera.photo import LONGEST_SIDE, encode_document_photo, photo_type
from sync.daemon.data_budget import DataBudget, month_of
from sync.daemon.service import SyncDaemon
from sync.daemon.window import FLOOR_BYTES, ByteWindow
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import CHUNK_BYTES, Attachment, Outbox
from sync.runtime.backoff import Backoff
from tests.helpers import Central, make_device, start_central, start_daemon, wait_until

FIELDS = [{"id": "name", "kind": "name", "label": "姓名", "value": "测试"}]


def _app(outbox: Outbox, device: DeviceConfig, photo_bytes: int = 1000) -> str:
    photo = Attachment("a.webp", "image/webp", os.urandom(photo_bytes))
    return outbox.enqueue_submission(device, "S1", FIELDS, [photo, photo]).message_id


def test_new_applications_and_events_go_before_the_backlogs_photos(tmp_path: Path, central_keys: CentralKeys) -> None:
    home = tmp_path / "kiosk"
    device = make_device(home, "mqtt://127.0.0.1:1", central_keys)
    outbox = Outbox(home / OUTBOX_FILE)
    old = [_app(outbox, device) for _ in range(3)]
    top = outbox.last_seq()  # the daemon's mark when it connects: this is the backlog
    alarm = outbox.enqueue_alarm(device, "test_alarm")
    new = _app(outbox, device)
    rows = outbox.pending_batch(100, backlog_top=top)
    kinds = [r.kind for r in rows]
    parents = {r[0]: r[1] for r in sqlite3.connect(home / OUTBOX_FILE).execute("select id, parent_id from outbox")}
    # every application's envelope first (old ones, then the new one), then the event ...
    assert [r.id for r in rows[:4]] == [*old, new]
    assert rows[4].id == alarm and kinds[4] == "event"
    # ... then the new application's photos, then the backlog's, each in order
    assert [parents[r.id] for r in rows[5:]] == [new] * 2 + [p for p in old for _ in range(2)]
    # with no backlog (0) the photos go in order; a byte cap stops the read-ahead
    assert [parents[r.id] for r in outbox.pending_batch(100)[5:]] == [p for p in [*old, new] for _ in range(2)]
    capped = outbox.pending_batch(100, max_bytes=1)
    assert len(capped) == 1
    outbox.close()


def _chunk_rows(path: Path, submission_id: str) -> list[tuple[str, str, int]]:
    with sqlite3.connect(path) as db:
        return db.execute("select id, state, attempts from outbox where parent_id = ? order by seq",
                          (submission_id,)).fetchall()


@pytest.mark.slow
def test_a_cut_in_the_middle_of_a_photo_resumes_from_the_last_acknowledged_chunk(
        tmp_path: Path, own_broker: MosquittoBroker, central_keys: CentralKeys) -> None:
    central = start_central(own_broker.url, tmp_path / "central.db", central_keys, worker_id=uuid.uuid4().hex[:6])
    # 4 Mbit/s: one 180 KiB chunk (~240 KB as base64 in its envelope) takes about half a second.
    proxy = LinkProxy(("127.0.0.1", free_port()), ("127.0.0.1", own_broker.port), rate_bps=4e6).start()
    home = tmp_path / "kiosk"
    device = make_device(home, f"mqtt://127.0.0.1:{proxy.listen[1]}", central_keys)
    outbox = Outbox(home / OUTBOX_FILE)
    photo = os.urandom(5 * CHUNK_BYTES + 1000)
    sub = outbox.enqueue_submission(device, "S1", FIELDS, [Attachment("p.webp", "image/webp", photo)]).message_id
    chunks = _chunk_rows(home / OUTBOX_FILE, sub)
    assert len(chunks) == 6
    daemon = SyncDaemon(outbox, device, window=2, backoff=Backoff(0.05, 0.3)).start()
    try:
        def acked() -> list[str]:
            return [cid for cid, state, _ in _chunk_rows(home / OUTBOX_FILE, sub) if state == "acked"]

        wait_until(lambda: len(acked()) >= 2, 30, "two chunks acknowledged")
        own_broker.stop()  # the link goes down in the middle of the photo
        proxy.drop_all()
        before = acked()
        assert 2 <= len(before) < len(chunks), "the cut came after the whole photo"
        own_broker.start()
        wait_until(lambda: central.store.count(complete_only=True) == 1, 60, "the photo complete at the central")
        wait_until(lambda: len(acked()) == len(chunks), 30, "every chunk acknowledged")
    finally:
        daemon.stop()
        proxy.stop()
        central.worker.stop()
    rows = _chunk_rows(home / OUTBOX_FILE, sub)
    attempts = {cid: n for cid, _, n in rows}
    assert all(attempts[cid] == 1 for cid in before), "a chunk acknowledged before the cut was sent again"
    # the file did not start again: the chunks after the cut went on from where the acknowledgements stopped
    assert [cid for cid, *_ in rows[:len(before)]] == before
    stored = central.store.attachment(sub, 0)
    assert stored is not None
    central.store.close()
    outbox.close()


def test_document_photos_are_webp_sized_for_reading() -> None:
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 255, size=(1080, 1920, 3), dtype=np.uint8)
    photo = encode_document_photo(frame)
    assert photo_type(photo.data) == ("image/webp", ".webp") == (photo.content_type, photo.extension)
    import cv2

    decoded = cv2.imdecode(np.frombuffer(photo.data, np.uint8), cv2.IMREAD_COLOR)
    assert max(decoded.shape[:2]) == LONGEST_SIDE
    assert photo_type(b"\xff\xd8\xff\xe0....") == ("image/jpeg", ".jpg")  # photos taken before the change


def test_the_data_budget_counts_the_month_and_slows_telemetry_step_by_step(
        tmp_path: Path, central_keys: CentralKeys) -> None:
    home = tmp_path / "kiosk"
    make_device(home, "mqtt://127.0.0.1:1", central_keys)
    outbox = Outbox(home / OUTBOX_FILE)
    budget = DataBudget(outbox, budget_mb=0)
    now = time.time()
    budget.count("kiosk/v1/x/up/attachment", 100_000, now)
    assert budget.used > 100_000 and budget.heartbeat_factor() == 1  # no budget: telemetry at its pace
    budget.budget_mb = 1
    budget.used = 790_000
    assert budget.heartbeat_factor() == 1
    budget.used = 800_000
    assert budget.heartbeat_factor() == 4
    budget.used = 960_000
    assert budget.heartbeat_factor() == 16
    budget.used = 1_200_000
    assert budget.heartbeat_factor() == 120  # over the budget: about one heartbeat an hour, never none
    budget.save()
    assert DataBudget(outbox, 1).used == 1_200_000  # the month's count survives a restart
    budget.count("t", 10, now + 40 * 86400)  # a new month starts from nothing
    assert budget.used < 100 and budget.month != month_of(now)
    outbox.close()


@pytest.mark.slow
def test_a_kiosk_low_on_its_budget_still_delivers_at_once_and_the_central_shows_its_use(
        tmp_path: Path, central: Central, kiosk_home: Path, device: DeviceConfig, outbox: Outbox) -> None:
    from central.web.app import create_app
    from tests.test_dashboard import _add_operators, _login

    outbox.set_states({"data_use": json.dumps({"month": month_of(time.time()), "bytes": 970_000})})
    daemon = start_daemon(outbox, device, data_budget_mb=1, heartbeat_interval_s=5.0)
    try:
        _app(outbox, device)
        wait_until(lambda: central.store.count(complete_only=True) == 1, 20, "the application delivered")
        wait_until(lambda: "data" in ((central.store.device(device.device_id) or {}).get("telemetry") or {}), 20,
                   "a heartbeat with the data use")
    finally:
        daemon.stop()
    telemetry = (central.store.device(device.device_id) or {})["telemetry"]
    assert telemetry["data"]["budget"] == 1_000_000 and telemetry["data"]["used"] >= 970_000
    assert telemetry["data"]["telemetry_factor"] == 16
    assert telemetry["heartbeat_interval_s"] == 80.0  # the central's late/offline schedule follows the pace
    assert DataBudget(outbox, 1).used > 970_000  # what the daemon moved was counted and kept
    _add_operators(central.store)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    with TestClient(create_app(central.store, tmp_path, "mqtt://127.0.0.1:1", session_secret="s" * 32)) as c:
        _login(c, "li")
        page = c.get(f"/devices/{device.device_id}").text
    line = re.fullmatch(r'.*<dd id="f-data">(\d+) KiB / 977 KiB</dd>.*', page, re.S)  # used / the 1 MB budget
    assert line is not None and int(line.group(1)) >= 947, "the device page does not show the month's use"


def _complete(store_path: Path, ids: list[str]) -> int:
    with sqlite3.connect(store_path) as db:
        marks = ",".join("?" * len(ids))
        return int(db.execute(f"select count(*) from submissions where complete = 1 and id in ({marks})",  # noqa: S608
                              ids).fetchone()[0])


def test_the_data_use_since_the_last_housekeeping_is_kept_when_the_daemon_stops(
        central: Central, device: DeviceConfig, outbox: Outbox) -> None:
    """CI caught the month's count losing what the daemon moved after its last housekeeping (every 5 s)."""
    daemon = SyncDaemon(outbox, device, backoff=Backoff(0.05, 0.3), data_budget_mb=1)
    daemon.housekeeping_s = 3600.0  # the first housekeeping only, then the stop
    daemon.start()
    try:
        wait_until(lambda: daemon.connected.is_set() and "daemon_seen" in outbox.states(), 20, "connected, housekept")
        kept_before = DataBudget(outbox, 1).used
        _app(outbox, device)
        wait_until(lambda: central.store.count(complete_only=True) == 1, 20, "the application delivered")
        assert daemon.budget.used > kept_before and DataBudget(outbox, 1).used == kept_before  # counted, not saved
    finally:
        daemon.stop()
    assert DataBudget(outbox, 1).used == daemon.budget.used > kept_before


@pytest.mark.slow
def test_an_application_made_during_a_drain_overtakes_the_backlogs_photos(
        tmp_path: Path, own_broker: MosquittoBroker, central_keys: CentralKeys) -> None:
    central = start_central(own_broker.url, tmp_path / "central.db", central_keys, worker_id=uuid.uuid4().hex[:6])
    proxy = LinkProxy(("127.0.0.1", free_port()), ("127.0.0.1", own_broker.port), rate_bps=4e6).start()
    home = tmp_path / "kiosk"
    device = make_device(home, f"mqtt://127.0.0.1:{proxy.listen[1]}", central_keys)
    outbox = Outbox(home / OUTBOX_FILE)
    backlog = [_app(outbox, device, photo_bytes=90_000) for _ in range(8)]  # ~1.9 MB: ~4 s at 4 Mbit/s
    daemon = SyncDaemon(outbox, device, backoff=Backoff(0.05, 0.3)).start()
    try:
        wait_until(lambda: _complete(tmp_path / "central.db", backlog) >= 1, 30, "the drain under way")
        new = _app(outbox, device, photo_bytes=90_000)
        wait_until(lambda: _complete(tmp_path / "central.db", [new]) == 1, 30, "the new application complete")
        behind = len(backlog) - _complete(tmp_path / "central.db", backlog)
        wait_until(lambda: _complete(tmp_path / "central.db", backlog) == len(backlog), 60, "the backlog drained")
    finally:
        daemon.stop()
        proxy.stop()
        central.worker.stop()
        central.store.close()
        outbox.close()
    assert behind >= 3, f"the new application waited for the backlog ({behind} of 8 still behind it)"


def test_the_byte_window_follows_the_links_measured_rate() -> None:
    w = ByteWindow(512 * 1024)
    assert w.limit() == 512 * 1024  # nothing measured yet: the ceiling
    t = 100.0
    for _ in range(20):  # 1 Mbit/s: 12,500 bytes acknowledged every 0.1 s while more waits to go
        w.acked(12_500, t, busy=True)
        t += 0.1
    assert w.rate is not None and abs(w.rate - 125_000) < 1
    assert w.limit() == 125_000  # a second of this link, not 4 s of photos
    for _ in range(30):  # 100 Mbit/s: capped at the ceiling
        w.acked(1_250_000, t, busy=True)
        t += 0.1
    assert w.limit() == 512 * 1024
    for _ in range(30):  # a crawl: never under the floor
        w.acked(100, t, busy=True)
        t += 0.1
    assert w.limit() == FLOOR_BYTES
    w.acked(100, t, busy=False)  # idle: says nothing about the link; the last rate holds
    assert w.limit() == FLOOR_BYTES
    w.reset()  # a new connection, perhaps another link
    assert w.limit() == 512 * 1024
