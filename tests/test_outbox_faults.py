"""The outbox under faults that are not corruption (issue 13, items 1-3): a full disk and a lock at start-up
move nothing; sequence and receipt numbers never go backwards, also across a replaced outbox and a factory
reset; a quarantined file's rows are salvaged with their ids; the quarantine alarm always gets queued; the
sync daemon keeps delivering on a full disk. The full-disk cases use a real, small tmpfs (root only)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.keys import CentralKeys
from devtools.broker import MosquittoBroker
from kiosk.journey.submitter import Submitter
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox import ledger
from sync.outbox.store import Limits, Outbox, OutboxFull, OutboxUnavailable, open_outbox, open_outbox_waiting
from tests.helpers import Central, make_device, start_daemon, wait_until

FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "钱七"}]
ROOMY = Limits(min_free_bytes=0)  # the 4 MiB test disk is far below the production refusal mark


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB filesystem (tmpfs) that a test can fill to the last byte."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs these as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path) -> Path:
    """Fill the filesystem until the kernel says ENOSPC; returns the filler file."""
    filler = mount / "filler.bin"
    with open(filler, "wb", buffering=0) as f:
        chunk = b"\0" * 4096
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    with contextlib.suppress(OSError), open(mount / "filler-2.bin", "wb", buffering=0) as f:
        while True:
            f.write(b"\0")
    return filler


def _quarantined(home: Path) -> list[Path]:
    return sorted(home.glob(f"{OUTBOX_FILE}.corrupt-*"))


def _hold_lock(path: Path) -> sqlite3.Connection:
    """Another process's ordinary exclusive lock on a healthy outbox (as a backup tool or a stuck writer)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # a timer thread lets go
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("UPDATE counters SET value = value WHERE name = 'seq'")
    return conn


# -- item 1: transient errors move nothing ---------------------------------------------------------------------

def test_full_disk_at_startup_moves_nothing_and_numbers_continue(small_disk: Path, broker: MosquittoBroker,
                                                                 central_keys: CentralKeys) -> None:
    home = small_disk / "kiosk"
    device = make_device(home, broker.url, central_keys)
    ob = Outbox(home / OUTBOX_FILE, ROOMY)
    issued = [ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS) for _ in range(3)]
    ob.close()
    filler = _fill(small_disk)
    with pytest.raises(OutboxUnavailable) as refused:
        open_outbox(home, device)
    assert refused.value.code == "disk_full" and refused.value.message.startswith("暂停受理")
    assert _quarantined(home) == []  # the healthy file stays where it is
    filler.unlink()
    (small_disk / "filler-2.bin").unlink(missing_ok=True)
    ob = open_outbox(home, device, ROOMY)
    try:
        assert ob.quarantined is None and ob.counts()["pending"] == 3
        again = ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        assert again.seq == issued[-1].seq + 1
        assert again.receipt_no not in {r.receipt_no for r in issued}
    finally:
        ob.close()


def test_a_disk_that_fills_while_running_refuses_with_the_reason_and_loses_nothing(
        small_disk: Path, broker: MosquittoBroker, central_keys: CentralKeys) -> None:
    home = small_disk / "kiosk"
    device = make_device(home, broker.url, central_keys)
    ob = Outbox(home / OUTBOX_FILE, ROOMY)
    try:
        first = ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        filler = _fill(small_disk)
        with pytest.raises(OutboxFull) as refused:  # what the journey shows on its paused screen
            for _ in range(20):
                ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        assert isinstance(refused.value, OutboxUnavailable) and refused.value.code == "disk_full"
        assert "存储空间已满" in refused.value.message
        filler.unlink()
        (small_disk / "filler-2.bin").unlink(missing_ok=True)
        ob.checkpoint()
        taken = ob.counts_by_kind()["submission"]["pending"]
        after = ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        assert after.seq > first.seq and ob.counts_by_kind()["submission"]["pending"] == taken + 1
        assert _quarantined(home) == []
    finally:
        ob.close()


def test_a_lock_held_at_startup_moves_nothing(kiosk_home: Path, device: DeviceConfig) -> None:
    ob = Outbox(kiosk_home / OUTBOX_FILE)
    for _ in range(2):
        ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    ob.close()
    holder = _hold_lock(kiosk_home / OUTBOX_FILE)
    try:
        with pytest.raises(OutboxUnavailable) as refused:
            Outbox(kiosk_home / OUTBOX_FILE, open_timeout_s=0.2)
        assert refused.value.code == "db_locked" and "暂停受理" in refused.value.message
        assert _quarantined(kiosk_home) == []
    finally:
        holder.close()
    ob = Outbox(kiosk_home / OUTBOX_FILE)
    try:
        assert ob.quarantined is None and ob.counts()["pending"] == 2
    finally:
        ob.close()


@pytest.mark.slow
def test_a_15_s_lock_is_waited_out_with_backoff(kiosk_home: Path, device: DeviceConfig) -> None:
    """The exact case from the field: an ordinary lock held 15 s, longer than the 10 s busy timeout."""
    ob = Outbox(kiosk_home / OUTBOX_FILE)
    first = ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    ob.close()
    holder = _hold_lock(kiosk_home / OUTBOX_FILE)
    waits: list[str] = []
    release = threading.Timer(15.0, holder.close)
    release.start()
    try:
        opened = open_outbox_waiting(kiosk_home, device, threading.Event(), lambda exc: waits.append(exc.code),
                                     first_delay_s=0.5)
    finally:
        release.join()
    assert opened is not None
    try:
        assert waits and set(waits) == {"db_locked"}
        assert _quarantined(kiosk_home) == [] and opened.counts()["pending"] == 1
        assert opened.enqueue_submission(device, "MZ-LNYD-001", FIELDS).seq == first.seq + 1
    finally:
        opened.close()


def test_the_journey_is_paused_with_the_reason_and_retries(kiosk_home: Path, device: DeviceConfig) -> None:
    ob = Outbox(kiosk_home / OUTBOX_FILE)
    ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    ob.close()
    holder = _hold_lock(kiosk_home / OUTBOX_FILE)
    try:
        deferred = open_outbox(kiosk_home, device, defer=True)
        submitter = Submitter(deferred, device)
        state = submitter.state()
        assert state.refusal_code == "db_locked" and state.refusal_message.startswith("暂停受理")
        with pytest.raises(OutboxFull) as refused:
            submitter.submit("MZ-LNYD-001", FIELDS)
        assert refused.value.code == "db_locked"
        assert _quarantined(kiosk_home) == []
    finally:
        holder.close()
    try:
        # The status poll retries with backoff; once the lock is gone the kiosk takes applications again.
        wait_until(lambda: submitter.state().refusal_code is None, what="the outbox opened again")
        assert submitter.submit("MZ-LNYD-001", FIELDS).seq == 2
    finally:
        deferred.close()


# -- item 1 and 3: numbers never go backwards ----------------------------------------------------------------

def _garble(path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    path.write_bytes(os.urandom(path.stat().st_size))


def test_numbers_continue_above_a_replaced_outbox(kiosk_home: Path, device: DeviceConfig) -> None:
    ob = Outbox(kiosk_home / OUTBOX_FILE)
    ob.next_counter("seq", floor=5000)  # a kiosk that has issued 5,000 numbers
    last = ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    ob.close()
    _garble(kiosk_home / OUTBOX_FILE)  # nothing of the old file can be read, not even max(seq)
    fresh = open_outbox(kiosk_home, device)
    try:
        assert fresh.quarantined is not None
        r = fresh.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        assert r.seq > last.seq and r.receipt_no != last.receipt_no
    finally:
        fresh.close()


def test_receipt_numbers_stay_unique_across_factory_reset_and_reprovisioning(
        kiosk_home: Path, device: DeviceConfig) -> None:
    from kiosk.service_mode.data import factory_reset

    ob = Outbox(kiosk_home / OUTBOX_FILE)
    issued = [ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS) for _ in range(3)]
    ob.mark_acked([r.message_id for r in issued])  # delivered: the reset is allowed
    ob.close()
    factory_reset(kiosk_home)
    device.save(kiosk_home)  # provisioned again with the same device id
    ob = open_outbox(kiosk_home, device)
    try:
        after = ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        assert after.seq > issued[-1].seq
        assert after.receipt_no not in {r.receipt_no for r in issued}
    finally:
        ob.close()
    assert (kiosk_home / ledger.LEDGER_FILE).exists()  # what the reset kept


# -- item 1: a truly corrupt outbox is salvaged and reported ---------------------------------------------------

def _damage_an_index(path: Path, index: str = "ix_outbox_state_priority_seq") -> None:
    """Overwrite one index page: quick_check fails, the table's own pages stay readable."""
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    if index == "seq":  # the unique index on outbox.seq, which max(seq) reads
        index = next(name for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                                                        "AND tbl_name = 'outbox' AND sql IS NULL").fetchall()
                     if "seq" in [r[2] for r in conn.execute(f"PRAGMA index_info('{name}')")])
    [root] = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (index,)).fetchone()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    with open(path, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * page_size)


def test_rows_of_a_quarantined_outbox_are_salvaged_counted_exported_and_block_reset(
        kiosk_home: Path, device: DeviceConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kiosk.cli import main as kiosk_main
    from kiosk.service_mode.data import DataError, factory_reset

    ob = Outbox(kiosk_home / OUTBOX_FILE)
    delivered = ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    waiting = [ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS) for _ in range(2)]
    ob.mark_acked([delivered.message_id])
    ob.close()
    _damage_an_index(kiosk_home / OUTBOX_FILE)

    fresh = open_outbox(kiosk_home, device)
    try:
        assert fresh.quarantined is not None
        for r in waiting:  # the same ids and numbers: the central deduplicates them
            row = fresh.find(r.message_id)
            assert row is not None and row.state == "pending" and row.seq == r.seq and row.body is not None
        assert fresh.find(delivered.message_id) is None  # delivered rows have nothing left to send
        assert fresh.quarantine_report()["salvaged"] == 2
    finally:
        fresh.close()

    assert kiosk_main(["status", "--home", str(kiosk_home), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["outbox"]["pending"] == 3  # the two applications and the db_quarantined alarm
    assert status["quarantine"]["salvaged"] == 2 and len(status["quarantine"]["files"]) == 1

    with pytest.raises(DataError):
        factory_reset(kiosk_home)
    stick = tmp_path / "usb"
    stick.mkdir()
    assert kiosk_main(["export-undelivered", "--home", str(kiosk_home), str(stick), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    manifest = json.loads((Path(exported["folder"]) / "manifest.json").read_text(encoding="utf-8"))
    assert {r.message_id for r in waiting} <= {m["id"] for m in manifest["messages"]}


def test_salvaged_numbers_are_never_issued_again_even_without_the_ledger(kiosk_home: Path,
                                                                         device: DeviceConfig) -> None:
    ob = Outbox(kiosk_home / OUTBOX_FILE)
    ob.next_counter("seq", floor=3000)
    waiting = ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS)  # seq 3001
    ob.close()
    (kiosk_home / ledger.LEDGER_FILE).unlink()  # an older release's kiosk: no ledger yet
    _damage_an_index(kiosk_home / OUTBOX_FILE, "seq")  # and max(seq) cannot be read from the damaged file
    fresh = open_outbox(kiosk_home, device)
    try:
        assert fresh.quarantined is not None and fresh.find(waiting.message_id) is not None
        issued = [fresh.enqueue_submission(device, "MZ-LNYD-001", FIELDS) for _ in range(2)]
        assert all(r.seq > waiting.seq for r in issued)
    finally:
        fresh.close()


def test_the_quarantine_alarm_is_queued_even_when_the_first_open_could_not(kiosk_home: Path,
                                                                             device: DeviceConfig) -> None:
    ob = Outbox(kiosk_home / OUTBOX_FILE)
    ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    ob.close()
    _garble(kiosk_home / OUTBOX_FILE)
    open_outbox(kiosk_home, None).close()  # an unprovisioned UI (or a start that failed) moved it aside
    for _ in range(2):  # the next opens with the device queue the alarm, once
        ob = open_outbox(kiosk_home, device)
        ob.close()
    ob = Outbox(kiosk_home / OUTBOX_FILE)
    try:
        alarms = [json.loads(m.body) for m in ob.pending_batch(10)]
        assert [a["meta"]["code"] for a in alarms if a["kind"] == "event"] == ["db_quarantined"]
    finally:
        ob.close()


# -- item 2: the sync daemon on a full disk ---------------------------------------------------------------------

def test_syncd_keeps_delivering_on_a_full_disk(small_disk: Path, broker: MosquittoBroker, central: Central,
                                               central_keys: CentralKeys) -> None:
    from sync.daemon.reserve import DiskReserve

    home = small_disk / "kiosk"
    device = make_device(home, broker.url, central_keys)
    ob = Outbox(home / OUTBOX_FILE, ROOMY)
    try:
        for _ in range(5):
            ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        reserve = DiskReserve(home, 1024 * 1024)
        assert reserve.ensure()
        _fill(small_disk)
        daemon = start_daemon(ob, device, reserve=reserve, heartbeat_interval_s=1.0)
        try:
            wait_until(lambda: central.store.count() == 5, what="the five applications at the central")
            wait_until(lambda: ob.counts_by_kind()["submission"]["acked"] == 5,
                       what="the acks recorded on the full disk")
            wait_until(lambda: ob.states().get("disk_full") == "1", what="the full disk in the shared state")
            assert daemon._thread is not None and daemon._thread.is_alive()
            disk = daemon.telemetry()["disk"]
            assert disk["full"] is True and disk["reserve"] == "released"
        finally:
            daemon.stop()
        assert not reserve.path.exists()
    finally:
        ob.close()


def test_kiosk_syncd_waits_out_a_full_disk_instead_of_exiting(small_disk: Path, broker: MosquittoBroker,
                                                               central_keys: CentralKeys, tmp_path: Path) -> None:
    """The process itself: a full disk at start-up is not an exit (systemd would restart-loop it)."""
    home = small_disk / "kiosk"
    device = make_device(home, broker.url, central_keys)
    ob = Outbox(home / OUTBOX_FILE, ROOMY)
    ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    ob.close()
    _fill(small_disk)
    log_path = tmp_path / "syncd.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "kiosk-syncd"), "--home", str(home)],
                                stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: b"cannot be opened" in log_path.read_bytes() or proc.poll() is not None,
                   timeout=30, what="the daemon meeting the full disk")
        assert proc.poll() is None, log_path.read_text(errors="replace")  # still running: waiting, not exiting
        assert _quarantined(home) == []
        (small_disk / "filler.bin").unlink()
        (small_disk / "filler-2.bin").unlink(missing_ok=True)

        def daemon_running() -> bool:
            with contextlib.closing(sqlite3.connect(home / OUTBOX_FILE, timeout=5)) as conn:
                return conn.execute("SELECT count(*) FROM sync_state WHERE key = 'daemon_seen'").fetchone()[0] == 1

        wait_until(daemon_running, timeout=60, what="the daemon running once there was room")
    finally:
        proc.terminate()
        rc = proc.wait(30)
    assert rc == 0, log_path.read_text(errors="replace")
    assert _quarantined(home) == []


def test_the_kiosk_screen_says_paused_with_the_reason_until_the_outbox_opens(
        qapp: object, tmp_path: Path, kiosk_home: Path, device: DeviceConfig) -> None:
    from kiosk import automation as ui
    from tests.journey_kit import close_kiosk, open_kiosk

    ob = Outbox(kiosk_home / OUTBOX_FILE)
    ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    ob.close()
    holder = _hold_lock(kiosk_home / OUTBOX_FILE)
    deferred = open_outbox(kiosk_home, device, defer=True)  # as `kiosk run` opens it
    k = open_kiosk(tmp_path, deferred, device, hardware=False)
    try:
        with contextlib.suppress(ui.AutomationError):  # the pause may replace the attract screen before the tap
            ui.tap_named(k.window, "startButton")
        ui.wait_for_item(k.window, "pausedScreen")
        assert ui.wait_for_item(k.window, "noticeTitle").property("text") == "暂停受理"
        assert "数据正忙" in ui.wait_for_item(k.window, "noticeText").property("text")
        holder.close()
        # No one touches the kiosk: its status poll retries (with backoff) and the pause ends by itself.
        assert ui.process_events_until(lambda: k.vm.screen == "attract", timeout_s=30)
        assert deferred.ready and deferred.counts()["pending"] == 1 and _quarantined(kiosk_home) == []
    finally:
        holder.close()
        close_kiosk(k)
        deferred.close()


def test_opening_the_outbox_again_in_one_process_keeps_sqlite_locks(kiosk_home: Path, device: DeviceConfig) -> None:
    """A second engine on the outbox in the same process (kiosk status in the UI's service mode, the OTA
    rollback's downgrade in the daemon) must not drop the first one's POSIX locks: closing any descriptor of
    the file does that, and another process then believes it is alone, checkpoints and deletes the WAL the
    first connection still writes to (seen as SQLITE_IOERR_SHORT_READ in tests/test_ota_migration.py)."""
    from sync.runtime.sqlite import sqlite_engine

    live = Outbox(kiosk_home / OUTBOX_FILE)
    try:
        live.enqueue_submission(device, "MZ-LNYD-001", FIELDS)  # a pooled connection stays open, WAL in use
        sqlite_engine(kiosk_home / OUTBOX_FILE).dispose()
        # Another process opens and closes the database: if it believes it is the last, it removes the WAL.
        subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                        "c.execute('select count(*) from outbox').fetchall(); c.close()",
                        str(kiosk_home / OUTBOX_FILE)], check=True)
        assert Path(str(kiosk_home / OUTBOX_FILE) + "-wal").exists()
        live.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        with contextlib.closing(sqlite3.connect(kiosk_home / OUTBOX_FILE)) as conn:
            assert conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]
            assert conn.execute("SELECT count(*) FROM outbox WHERE kind = 'submission'").fetchone()[0] == 2
    finally:
        live.close()
