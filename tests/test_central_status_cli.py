"""``kiosk-central status`` (the back office's CLI) goes through the console's state machine
(central.applications.workflow): a move it does not allow is refused with the machine's own message and changes
nothing; a decision keeps what it needs (a reason, a result and how to collect). ``--force`` sets any status but
only with a reason (--note), and the audit log says it was forced and what it replaced. Real CLI entry point, real
SQLite store, real Mosquitto for the push."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central.cli import main as central_main
from central.fleet_models import AuditEntry
from central.keys import CentralKeys
from central.models import Device, Submission
from central.store import CentralStore
from devtools.broker import MosquittoBroker
from sync.protocol.ids import receipt_number

RECEIPT = receipt_number("kiosk-1", 1, dt.datetime(2026, 12, 5, 9, 30))


@pytest.fixture
def back_office(tmp_path: Path, broker: MosquittoBroker, central_keys: CentralKeys) -> dict[str, str]:
    home = tmp_path / "home"
    central_keys.save(home)
    db = f"sqlite:///{tmp_path / 'central.db'}"
    store = CentralStore(db)
    with store.session() as s, s.begin():
        s.add(Device(device_id="kiosk-1", site="东四街道", status="online", conn=1, status_at=time.time(),
                     last_seen=time.time(), version="1", telemetry_json="{}"))
        s.add(Submission(id=str(uuid.uuid4()), device_id="kiosk-1", seq=1, service_code="MZ-LNYD-001",
                         receipt_no=RECEIPT, created_at=time.time(), received_at=time.time(), fields_json="[]",
                         attachments_expected=0, complete=True, digest=None))
    store.close()
    return {"home": str(home), "db": db, "broker": broker.url}


def _status(env: dict[str, str], capsys: pytest.CaptureFixture[str], *words: str) -> tuple[int, Any, str]:
    rc = central_main(["status", *words, "--home", env["home"], "--db", env["db"], "--broker", env["broker"],
                       "--actor", "审批系统", "--json"])
    out = capsys.readouterr()
    return rc, json.loads(out.out) if out.out.strip() else None, out.err


def _state(env: dict[str, str]) -> tuple[str | None, list[dict[str, Any]]]:
    store = CentralStore(env["db"])
    try:
        with store.session() as s:
            status = s.scalars(select(Submission.app_status).where(Submission.receipt_no == RECEIPT)).one()
            audit = [json.loads(a.detail) for a in s.scalars(select(AuditEntry).where(
                AuditEntry.action == "app_status", AuditEntry.target == RECEIPT).order_by(AuditEntry.id))]
    finally:
        store.close()
    return status, audit


def test_status_goes_through_the_state_machine(back_office: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    # 已接收 cannot become 办理中 or 办结: refused with the machine's message, nothing stored or audited.
    rc, _, err = _status(back_office, capsys, RECEIPT, "办理中")
    assert rc == 2
    assert "an application that is received cannot become processing; allowed: accepted, rejected, supplement" in err
    rc, _, err = _status(back_office, capsys, RECEIPT, "已办结", "--result", "approved", "--collect", "counter")
    assert rc == 2 and "cannot become completed" in err
    assert _state(back_office) == ("received", [])
    # 不予受理 needs its reason, as on the console.
    rc, _, err = _status(back_office, capsys, RECEIPT, "rejected")
    assert rc == 2 and "needs a reason" in err
    # 受理 is allowed: stored, audited, pushed to the site's kiosk.
    rc, out, err = _status(back_office, capsys, RECEIPT, "受理")
    assert rc == 0, err
    assert (out["status"], out["forced"], out["devices"]) == ("accepted", False, ["kiosk-1"])
    status, audit = _state(back_office)
    assert status == "accepted" and audit[-1]["from"] == "received" and "forced" not in audit[-1]
    # Once accepted, 补正 is no longer a move.
    rc, _, err = _status(back_office, capsys, RECEIPT, "补正", "--missing", "x", "--deadline", "2099-01-01")
    assert rc == 2 and "cannot become supplement; allowed: completed" in err
    assert _state(back_office)[0] == "accepted"


def test_force_needs_a_reason_and_is_audited(back_office: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _status(back_office, capsys, RECEIPT, "办理中", "--force")
    assert rc == 2 and "--note" in err
    assert _state(back_office) == ("received", [])
    rc, out, err = _status(back_office, capsys, RECEIPT, "办理中", "--force", "--note", "审批系统同步：已转科室办理")
    assert rc == 0, err
    assert (out["status"], out["forced"]) == ("processing", True)
    status, audit = _state(back_office)
    assert status == "processing"
    assert audit == [{"status": "processing", "from": "received", "site": "东四街道",
                      "submission_id": audit[0]["submission_id"], "forced": "审批系统同步：已转科室办理"}]
    # From 办理中 the machine goes on to 办结 (with what it needs), not forced.
    rc, out, err = _status(back_office, capsys, RECEIPT, "已办结", "--result", "approved", "--collect", "counter")
    assert rc == 0, err
    assert out["status"] == "completed" and out["detail"]["zh"].startswith("办理结果：准予办理")
    assert _state(back_office)[1][-1]["from"] == "processing"
