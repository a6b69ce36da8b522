"""``kiosk-central import-export``: a kiosk's service-mode export of undelivered messages (real outbox, real
export, a document photo in several chunks) fed through the central's ingest path by the real CLI. Importing
twice, or after the kiosk delivered the same rows itself, stores nothing twice; a damaged or forged export
stores nothing it should not, and says why."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from central.keys import CentralKeys
from devtools.broker import MosquittoBroker
from kiosk.service_mode.data import export_undelivered, undelivered_ids
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Attachment, Outbox
from sync.protocol.envelope import Envelope
from tests.helpers import Central, make_device, start_daemon, wait_until

CENTRAL_CLI = str(Path(sys.executable).with_name("kiosk-central"))
NAME = "孙九"
FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": NAME},
          {"id": "id_number", "kind": "id_number", "label": "身份证号", "value": "110101199003077777"}]
PHOTO = Attachment("证明材料.jpg", "image/jpeg", os.urandom(400 * 1024))  # three chunks


def _import(home: Path, db: str, folder: Path) -> tuple[int, Any, str]:
    out = subprocess.run([CENTRAL_CLI, "import-export", str(folder), "--home", str(home), "--db", db, "--json"],
                         capture_output=True, text=True, timeout=120)
    return out.returncode, json.loads(out.stdout) if out.stdout.strip() else None, out.stderr


def _rewrite(export: Path, lines: list[bytes]) -> None:
    """Replace the envelope file and give the manifest its new digest (a careful forger's copy)."""
    data = b"".join(line + b"\n" for line in lines)
    (export / "envelopes.jsonl").write_bytes(data)
    manifest = json.loads((export / "manifest.json").read_text(encoding="utf-8"))
    manifest["sha256"] = hashlib.sha256(data).hexdigest()
    (export / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.slow
def test_export_imported_once_whatever_the_order(tmp_path: Path, broker: MosquittoBroker, central: Central,
                                                  central_keys: CentralKeys, device: DeviceConfig, outbox: Outbox,
                                                  kiosk_home: Path) -> None:
    home = tmp_path / "central-home"
    central_keys.save(home)
    db = f"sqlite:///{tmp_path / 'central.db'}"  # the fixture central's database
    stick = tmp_path / "usb"
    stick.mkdir()
    with_photo = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS, [PHOTO])
    plain = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    first = export_undelivered(kiosk_home, outbox, stick, device)
    assert first.submissions == 2 and first.count >= 5  # two submissions and the photo's chunks
    assert NAME.encode() not in (first.folder / "envelopes.jsonl").read_bytes()  # sealed on the stick

    code, report, err = _import(home, db, first.folder)
    assert code == 0, report["refusals"]
    assert (report["stored"], report["duplicate"], report["refused"], report["incomplete"]) == (first.count, 0, 0, 0)
    stored = {r["id"]: r for r in central.store.list_masked()}
    assert set(stored) == {with_photo.message_id, plain.message_id}
    assert central.store.count(complete_only=True) == 2  # the photo reassembled from its chunks
    # Again: nothing new.
    code, again, err = _import(home, db, first.folder)
    assert code == 0, err
    assert (again["stored"], again["duplicate"], again["refused"]) == (0, first.count, 0)
    # The kiosk comes back online and sends the same rows: acked (already stored), not stored twice.
    daemon = start_daemon(outbox, device)
    try:
        # Every row, the photo's chunks too: counts() counts submissions only, and since the thin-link lanes
        # (10fe9cf) the backlog's photo chunks go after the envelopes, so a chunk still in flight would be
        # exported again below and counted a duplicate (seen once: 3 instead of 1).
        wait_until(lambda: not undelivered_ids(outbox), 20, "the kiosk's rows, chunks included, acked")
        assert central.store.count() == 2 and central.store.duplicates() == 0
        # The other order: delivered first, imported afterwards.
        later = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        second = export_undelivered(kiosk_home, outbox, stick, device)
        wait_until(lambda: (row := outbox.find(later.message_id)) is not None and row.state == "acked", 20,
                   "the new row delivered by the kiosk")
    finally:
        daemon.stop()
    code, report, err = _import(home, db, second.folder)
    assert code == 0, err
    assert (report["stored"], report["duplicate"]) == (0, 1)
    assert central.store.count() == 3
    # A folder holding several exports (a stick's root) imports each.
    code, reports, err = _import(home, db, stick)
    assert code == 0 and isinstance(reports, list) and len(reports) == 2, err
    assert sum(r["stored"] for r in reports) == 0 and central.store.count() == 3
    assert NAME not in err + json.dumps(reports, ensure_ascii=False)


@pytest.mark.slow
def test_damaged_forged_or_foreign_exports_store_nothing_they_should_not(
        tmp_path: Path, broker: MosquittoBroker, central: Central, central_keys: CentralKeys) -> None:
    home = tmp_path / "central-home"
    central_keys.save(home)
    db = f"sqlite:///{tmp_path / 'central.db'}"
    kiosk = tmp_path / "kiosk"
    device = make_device(kiosk, broker.url, central_keys)
    outbox = Outbox(kiosk / OUTBOX_FILE)
    try:
        for _ in range(3):
            outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        (tmp_path / "usb").mkdir()
        export = export_undelivered(kiosk, outbox, tmp_path / "usb", device).folder
    finally:
        outbox.close()
    pristine = (export / "envelopes.jsonl").read_bytes()

    # Not an export at all.
    code, _, err = _import(home, db, tmp_path / "kiosk")
    assert code == 2 and "no kiosk export" in err
    # A damaged copy (one byte changed, manifest untouched): refused whole.
    damaged = tmp_path / "damaged"
    shutil.copytree(export, damaged)
    other = b"Y" if pristine[-10:-9] == b"X" else b"X"  # always a change (the byte may be an X already)
    (damaged / "envelopes.jsonl").write_bytes(pristine[:-10] + other + pristine[-9:])
    code, _, err = _import(home, db, damaged)
    assert code == 2 and "does not match its manifest" in err
    # Sealed for another central: refused whole.
    other = tmp_path / "other-central"
    CentralKeys.generate().save(other)
    code, _, err = _import(other, db, export)
    assert code == 2 and "another central" in err
    assert central.store.count() == 0

    # A forger rewrote one envelope (and the manifest's digest): that one is refused, the others stored.
    lines = pristine.splitlines()
    env = json.loads(lines[1])
    env["meta"]["service_code"] = "GA-HZ-001"
    forged = tmp_path / "forged"
    shutil.copytree(export, forged)
    _rewrite(forged, [lines[0], json.dumps(env, separators=(",", ":")).encode(), lines[2], b"not json"])
    code, report, err = _import(home, db, forged)
    assert code == 1, err
    assert (report["stored"], report["refused"], report["duplicate"]) == (2, 2, 0)
    reasons = {r["id"]: r["reason"] for r in report["refusals"]}
    assert "bad_signature" in reasons[Envelope.from_bytes(lines[1]).id]
    assert central.store.count() == 2
    # The genuine export still brings the forged one's real envelope in; the rest are duplicates.
    code, report, err = _import(home, db, export)
    assert code == 0, err
    assert (report["stored"], report["duplicate"], report["refused"]) == (1, 2, 0)
    assert central.store.count() == 3
