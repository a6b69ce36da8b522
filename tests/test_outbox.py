"""The outbox store on a real SQLite file: states, sequence, purge, and the status report."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.status import daemon_connected, outbox_status
from sync.outbox.store import MIGRATIONS, Outbox

FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "李四"}]


def test_sqlite_settings(outbox: Outbox, kiosk_home: Path) -> None:
    with outbox.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_states_move_and_ack_purges_the_body(outbox: Outbox, device: DeviceConfig) -> None:
    r = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    assert outbox.counts()["pending"] == 1
    [msg] = outbox.pending_batch(10)
    outbox.mark_sent([msg.id])
    assert outbox.pending_batch(10) == []
    assert outbox.counts()["sent"] == 1
    assert outbox.requeue_sent() == 1
    outbox.mark_sent([msg.id])
    assert outbox.mark_acked([msg.id, "unknown-id"]) == 1
    assert outbox.mark_acked([msg.id]) == 0  # a repeated ack changes nothing
    row = outbox.find(r.message_id)
    assert row is not None and row.state == "acked" and row.body is None and row.attempts == 2
    assert row.receipt_no == r.receipt_no
    assert "last_delivery" in outbox.states()


def test_rejected_rows_are_kept_and_not_resent(outbox: Outbox, device: DeviceConfig) -> None:
    r = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    outbox.mark_rejected(r.message_id, "sealed payload: sealed for another key")
    assert outbox.pending_batch(10) == []
    row = outbox.find(r.message_id)
    assert row is not None and row.state == "rejected" and row.body is not None


def test_sequence_survives_reopening(kiosk_home: Path, device: DeviceConfig) -> None:
    first = Outbox(kiosk_home / OUTBOX_FILE)
    seqs = [first.enqueue_submission(device, "X", FIELDS).seq for _ in range(3)]
    first.close()
    second = Outbox(kiosk_home / OUTBOX_FILE)
    assert second.enqueue_submission(device, "X", FIELDS).seq == seqs[-1] + 1
    second.close()
    assert seqs == [1, 2, 3]


def test_two_processes_worth_of_connections_share_the_file(kiosk_home: Path, device: DeviceConfig) -> None:
    ui, daemon = Outbox(kiosk_home / OUTBOX_FILE), Outbox(kiosk_home / OUTBOX_FILE)
    ui.enqueue_submission(device, "X", FIELDS)
    [msg] = daemon.pending_batch(5)
    daemon.mark_sent([msg.id])
    assert ui.counts()["sent"] == 1
    ui.close()
    daemon.close()


def test_status_report(outbox: Outbox, device: DeviceConfig) -> None:
    status = outbox_status(outbox, device.device_id)
    assert status["connected"] is False and status["oldest_pending_s"] is None
    outbox.enqueue_submission(device, "X", FIELDS)
    outbox.set_states({"connected": "1", "daemon_seen": "1e12"})
    status = outbox_status(outbox, device.device_id)
    assert status["outbox"]["pending"] == 1 and status["oldest_pending_s"] >= 0
    assert daemon_connected({"connected": "1", "daemon_seen": "0"}) is False  # a dead daemon is not connected
    assert daemon_connected({"connected": "1", "daemon_seen": "junk"}) is False


def test_outbox_file_is_a_plain_sqlite_database(outbox: Outbox, device: DeviceConfig, kiosk_home: Path) -> None:
    outbox.enqueue_submission(device, "X", FIELDS)
    conn = sqlite3.connect(kiosk_home / OUTBOX_FILE)
    assert conn.execute("select count(*) from outbox").fetchone() == (1,)
    head = max(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))
    assert conn.execute("select version_num from alembic_version").fetchone() == (head,)
    conn.close()
