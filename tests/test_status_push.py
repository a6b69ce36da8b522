"""Application statuses: set at the central (CLI and dashboard), pushed as signed ``app_status`` commands
through the real broker to the real kiosks of the application's site, stored in their outbox databases,
and looked up on the touchscreen by receipt number or by a (simulated) ID card read."""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central.commands import publish
from central.keys import CentralKeys
from central.models import ApplicationStatus
from central.status_push import StatusError, set_status, site_lookup_key, submission_tag
from devtools.broker import MosquittoBroker
from drivers.idcard.simulator import SAMPLE_RECORD
from kiosk import automation as ui
from kiosk.journey.status import load_lookup_key, lookup, lookup_by_tag, save_lookup_key
from sync.daemon import app_status
from sync.daemon.commands import CommandExecutor
from sync.daemon.service import SyncDaemon
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol.commands import (
    CommandRefused,
    canonical_json,
    lookup_tag,
    new_command,
    sign_command,
    validate_app_status,
)
from sync.protocol.envelope import Envelope
from tests.helpers import Central, make_device, start_daemon, wait_until
from tests.journey_kit import Kiosk as UiKiosk
from tests.journey_kit import close_kiosk, open_kiosk

CENTRAL_CLI = str(Path(sys.executable).with_name("kiosk-central"))
ID_A = SAMPLE_RECORD.id_number  # 11010519491231002X
ID_B = "110101199003077777"


def _receipt(outbox: Outbox, device: DeviceConfig, id_number: str) -> str:
    return outbox.enqueue_submission(device, "MZ-LNYD-001", [
        {"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "钱七"},
        {"id": "id_number", "kind": "id_number", "label": "身份证号", "value": id_number}]).receipt_no


def _entry(receipt: str, status: str = "processing", tag: str = "", at: float | None = None) -> dict[str, Any]:
    return {"receipt_no": receipt, "service_code": "MZ-LNYD-001", "status": status,
            "updated_at": time.time() if at is None else at, "lookup_tag": tag}


def _kiosk_rows(outbox: Outbox) -> dict[str, dict[str, Any]]:
    with outbox.engine.connect() as conn:
        return {r.receipt_no: dict(r._mapping) for r in conn.execute(select(app_status.application_status))}


def _results(outbox: Outbox) -> list[dict[str, Any]]:
    out = []
    for msg in outbox.pending_batch(1000):
        env = Envelope.from_bytes(msg.body)
        if env.meta.get("type") == "command_result":
            out.append(env.meta)
    return out


@pytest.fixture
def broker() -> Iterator[MosquittoBroker]:
    """A broker of this test's own. The session's broker keeps other tests' retained kiosk statuses, which a new
    central reads and registers (many of site 测试街道): they would be among this site's push targets."""
    with MosquittoBroker() as b:
        yield b


# -- the protocol and the kiosk's table (fast) -----------------------------------------------------------


def test_lookup_tag_normalises_and_refuses_bad_numbers() -> None:
    key = bytes(range(32))
    assert lookup_tag(key, " 11010519491231002x ") == lookup_tag(key, "１１０１０５１９４９１２３１００２Ｘ")
    assert lookup_tag(key, ID_A) != lookup_tag(bytes(32), ID_A)  # another site, another tag
    assert ID_A not in lookup_tag(key, ID_A) and len(lookup_tag(key, ID_A)) == 64
    for bad in ("", "1101051949123100", "11010519491231002Y", "王小芳"):
        with pytest.raises(ValueError):
            lookup_tag(key, bad)
    with pytest.raises(ValueError):
        lookup_tag(b"short", ID_A)


@pytest.mark.parametrize("entries", [
    [],
    [{**_entry("KR-20260101-AB12-000001-X"), "name": "钱七"}],  # an extra field (e.g. personal data)
    [_entry("KR-123")],
    [_entry("KR-20260101-AB12-000001-0", status="done?")],
    [_entry("KR-20260101-AB12-000001-0", tag="1101051949")],
    [_entry("KR-20260101-AB12-000001-0", at=float("nan"))],
])
def test_bad_app_status_args_refused(entries: list[dict[str, Any]]) -> None:
    with pytest.raises(CommandRefused) as exc:
        validate_app_status({"entries": entries})
    assert exc.value.code == "bad_args"


def test_kiosk_keeps_the_newest_status_and_drops_old_ones(outbox: Outbox, device: DeviceConfig) -> None:
    receipt = _receipt(outbox, device, ID_A)
    now = time.time()
    assert app_status.upsert(outbox, [_entry(receipt, "accepted", at=now - 10)])["stored"] == 1
    assert app_status.upsert(outbox, [_entry(receipt, "received", at=now - 20)])["stale"] == 1  # late command
    assert _kiosk_rows(outbox)[receipt]["status"] == "accepted"
    status = lookup(outbox, receipt)
    assert status is not None and (status.source, status.state, status.text_key) == ("central", "accepted",
                                                                                      "appStatus_accepted")
    old = "KR-20250101-AB12-000001-0"
    counts = app_status.upsert(outbox, [_entry(old, at=now - 91 * 86400)], now=now)
    assert counts == {"stored": 0, "stale": 1, "expired": 0}
    # Retention: a row that ages past 90 days goes at the next update.
    counts = app_status.upsert(outbox, [_entry(receipt, "completed", at=now)], now=now + 91 * 86400)
    assert counts["expired"] == 1 and _kiosk_rows(outbox) == {}


def test_site_keys_differ_and_tags_come_from_the_id_field(central_keys: CentralKeys) -> None:
    assert site_lookup_key(central_keys, "A街道") != site_lookup_key(central_keys, "B街道")
    assert len(site_lookup_key(central_keys, "A街道")) == 32
    fields = [{"kind": "name", "value": "钱七"}, {"kind": "id_number", "value": ID_A}]  # decrypted by the caller
    assert submission_tag(central_keys, "A街道", fields) == lookup_tag(site_lookup_key(central_keys, "A街道"), ID_A)
    assert submission_tag(central_keys, "A街道", [{"kind": "name", "value": "钱七"}]) == ""


# -- end to end: central -> broker -> kiosks of the site ---------------------------------------------------


class SiteKiosk:
    def __init__(self, home: Path, device: DeviceConfig, central: Central) -> None:
        self.home, self.device = home, device
        self.outbox = Outbox(home / OUTBOX_FILE)
        self.executor = CommandExecutor(self.outbox, device, home)
        self.daemon: SyncDaemon = start_daemon(self.outbox, device, command_handler=self.executor.handle)
        wait_until(lambda: (central.store.device(device.device_id) or {}).get("site") == device.site,
                   what="the kiosk and its site known at the central")

    def close(self) -> None:
        self.daemon.stop()
        self.outbox.close()


@pytest.fixture
def site(tmp_path: Path, broker: MosquittoBroker, central: Central,
         central_keys: CentralKeys) -> Iterator[tuple[SiteKiosk, SiteKiosk, SiteKiosk]]:
    a = make_device(tmp_path / "a", broker.url, central_keys)  # site 测试街道
    b = make_device(tmp_path / "b", broker.url, central_keys)
    other = dataclasses.replace(make_device(tmp_path / "o", broker.url, central_keys), site="另一街道")
    other.save(tmp_path / "o")
    kiosks = (SiteKiosk(tmp_path / "a", a, central), SiteKiosk(tmp_path / "b", b, central),
              SiteKiosk(tmp_path / "o", other, central))
    yield kiosks
    for k in kiosks:
        k.close()


@pytest.mark.slow
def test_cli_status_reaches_every_kiosk_of_the_site_only(tmp_path: Path, broker: MosquittoBroker, central: Central,
                                                        central_keys: CentralKeys,
                                                        site: tuple[SiteKiosk, SiteKiosk, SiteKiosk]) -> None:
    a, b, other = site
    receipt = _receipt(a.outbox, a.device, ID_A)
    wait_until(lambda: central.store.count() == 1, 15, "the submission stored at the central")
    home = tmp_path / "central-home"
    central_keys.save(home)
    db = f"sqlite:///{tmp_path / 'central.db'}"
    # 办理中 is outside the console's state machine: the back office's override, with its reason (audited).
    out = subprocess.run([CENTRAL_CLI, "status", receipt, "办理中", "--force", "--note", "审批系统同步",
                          "--home", str(home), "--db", db, "--broker", broker.url, "--actor", "back-office", "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["status"] == "processing" and report["pushed"] and report["tagged"]
    assert sorted(report["devices"]) == sorted([a.device.device_id, b.device.device_id])
    tag = lookup_tag(site_lookup_key(central_keys, "测试街道"), ID_A)
    for k in (a, b):  # any kiosk of the office answers
        wait_until(lambda k=k: receipt in _kiosk_rows(k.outbox), 15, "the status in the kiosk's outbox")
        row = _kiosk_rows(k.outbox)[receipt]
        assert (row["status"], row["lookup_tag"], row["service_code"]) == ("processing", tag, "MZ-LNYD-001")
        assert ID_A not in json.dumps(row)
    # The other site's kiosk was not sent it; and the same signed command, if it got there, is refused.
    assert _kiosk_rows(other.outbox) == {}
    command = new_command("app_status", {"entries": [_entry(receipt, tag=tag)]}, {"site": "测试街道"})
    publish(broker.url, [other.device.device_id], sign_command(central_keys.command_private_raw, command))
    wait_until(lambda: any(r["command_id"] == command.id for r in _results(other.outbox)), 15, "the refusal")
    [refusal] = [r for r in _results(other.outbox) if r["command_id"] == command.id]
    assert (refusal["ok"], refusal["reason"]) == (False, "wrong_target") and _kiosk_rows(other.outbox) == {}
    # Stored and audited at the central.
    with central.store.session() as s:
        row_c = s.scalars(select(ApplicationStatus)).one()
        assert (row_c.status, row_c.updated_by, row_c.site, row_c.push_error) == ("processing", "back-office",
                                                                                "测试街道", None)
    # A kiosk that was offline gets the site's statuses again on request.
    again = subprocess.run([CENTRAL_CLI, "status", "--resend", "测试街道", "--home", str(home), "--db", db,
                            "--broker", broker.url, "--json"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    resent = json.loads(again.stdout)
    assert resent["entries"] == 1 and len(resent["commands"]) == 1 and resent["errors"] == []
    assert sorted(resent["devices"]) == sorted([a.device.device_id, b.device.device_id])
    # Bad input: a clear error, exit 2, nothing changed.
    for words in (["KR-20260101-AB12-000001-0", "办理中"], [receipt, "差不多了"]):
        bad = subprocess.run([CENTRAL_CLI, "status", *words, "--home", str(home), "--db", db, "--broker", broker.url],
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2 and "kiosk-central status:" in bad.stderr
    assert _kiosk_rows(a.outbox)[receipt]["status"] == "processing"


@pytest.mark.slow
def test_unsigned_or_forged_status_command_refused(broker: MosquittoBroker, central: Central,
                                                   central_keys: CentralKeys,
                                                   site: tuple[SiteKiosk, SiteKiosk, SiteKiosk]) -> None:
    a = site[0]
    receipt = _receipt(a.outbox, a.device, ID_A)
    command = new_command("app_status", {"entries": [_entry(receipt)]}, {"device": a.device.device_id})
    unsigned = canonical_json({"v": 1, "cmd": command.to_dict(), "sig": ""})
    forged_key = CentralKeys.generate().command_private_raw
    forged = sign_command(forged_key, command)
    edited = json.loads(sign_command(central_keys.command_private_raw, command))
    edited["cmd"]["args"]["entries"][0]["status"] = "completed"  # changed after signing
    publish(broker.url, [a.device.device_id], unsigned)
    publish(broker.url, [a.device.device_id], forged)
    publish(broker.url, [a.device.device_id], canonical_json(edited))
    # Read the refusals where they stay: at the central. In the kiosk's outbox they are pending only until the
    # daemon sends them, which a busy machine can do before this test looks (issue 22).
    def refusals() -> list[dict[str, Any]]:
        return [e["meta"] for e in central.store.events("command_result") if e["meta"]["command_id"] == command.id]
    wait_until(lambda: len(refusals()) >= 3, 15, "three refusals at the central")
    reasons = sorted(r["reason"] for r in refusals())
    assert reasons == ["bad_signature", "bad_signature", "unsigned"]
    assert _kiosk_rows(a.outbox) == {}


def test_set_status_refuses_unknown_receipt_and_status(central: Central, central_keys: CentralKeys) -> None:
    with pytest.raises(StatusError):
        set_status(central.store, central_keys, "KR-20260101-AB12-000001-0", "accepted", actor="t", broker_url=None)
    with pytest.raises(ValueError):
        set_status(central.store, central_keys, "KR-20260101-AB12-000001-0", "nonsense", actor="t", broker_url=None)
    with central.store.session() as s:
        assert s.scalars(select(ApplicationStatus)).all() == []


# -- the touchscreen: by receipt and by ID card ---------------------------------------------------------


@pytest.fixture
def ui_kiosk(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[UiKiosk]:
    k = open_kiosk(tmp_path, outbox, device)
    yield k
    close_kiosk(k)


def _visible_texts(k: UiKiosk) -> str:
    out, stack = [], [k.window.contentItem()]
    while stack:
        item = stack.pop()
        if item.isVisible():
            text = item.property("text")
            if isinstance(text, str):
                out.append(text)
            stack.extend(item.childItems())
    return "\n".join(out)


def test_ui_lookup_by_receipt_and_by_id_card(ui_kiosk: UiKiosk, outbox: Outbox, device: DeviceConfig,
                                             kiosk_home: Path) -> None:
    k, vm = ui_kiosk, ui_kiosk.vm
    key = bytes(range(32))
    save_lookup_key(kiosk_home, key)
    assert (kiosk_home / "secrets" / "lookup_key").stat().st_mode & 0o777 == 0o600
    assert load_lookup_key(kiosk_home) == key
    mine1, mine2 = _receipt(outbox, device, ID_A), _receipt(outbox, device, ID_A)
    theirs = _receipt(outbox, device, ID_B)
    now = time.time()
    said = {"zh": "请补交：居民户口簿。请在2026年12月9日前到服务中心窗口补交。",
            "en": "Please bring: Household register. Bring them to the service centre counter by 9 Dec 2026."}
    app_status.upsert(outbox, [{**_entry(mine1, "supplement", lookup_tag(key, ID_A), now - 3600), "detail": said},
                               _entry(mine2, "ready", lookup_tag(key, ID_A), now - 60),
                               _entry(theirs, "completed", lookup_tag(key, ID_B), now)])
    assert [s.receipt_no for s in lookup_by_tag(outbox, lookup_tag(key, ID_A))] == [mine2, mine1]
    ui.tap_named(k.window, "startButton")
    ui.tap_named(k.window, "statusButton")
    ui.wait_for_item(k.window, "statusScreen")
    # By receipt number: the central's status, in words.
    ui.enter_text(k.window, "receiptField", mine1)
    ui.tap_named(k.window, "lookupButton")
    assert ui.process_events_until(lambda: k.status.statusText == "待补正材料，请到窗口咨询", 10)
    # ... and what the office said, in the resident's language (issue 19)
    assert k.status.statusDetail == said["zh"]
    assert ui.process_events_until(lambda: said["zh"] in _visible_texts(k), 5), _visible_texts(k)
    # By ID card: the card on the reader lists that person's applications only.
    ui.tap_named(k.window, "statusByCardButton")
    assert k.status.statusCardWaiting and k.status.statusText == vm.s["statusCardWaiting"]
    k.idcard_sim.place_card(SAMPLE_RECORD)
    assert ui.process_events_until(lambda: k.status.statusList.rowCount() == 2, 15), k.status.statusText
    k.idcard_sim.remove_card()
    rows = k.status.statusList.rows
    assert [r["receiptNo"] for r in rows] == [mine2, mine1]
    assert [r["statusText"] for r in rows] == ["已办好，可以领取", "待补正材料，请到窗口咨询"]
    assert [r["detailText"] for r in rows] == ["", said["zh"]]
    assert rows[0]["serviceName"] == "老年人优待证申领"
    assert k.status.statusText == f"110105********002X 名下共 2 件申请\n{vm.s['statusCardOffline']}"  # no daemon
    ui.wait_for_item(k.window, "statusRowText_1")
    texts = _visible_texts(k)
    assert ID_A not in texts and SAMPLE_RECORD.name not in texts and theirs not in texts
    assert "110105********002X" in texts
    # The session ends: nothing of the lookup is left for the next resident.
    vm.endSession()
    assert k.status.statusList.rowCount() == 0 and k.status.statusText == "" and not k.status.statusCardWaiting


def test_ui_card_lookup_unavailable_without_the_site_key(ui_kiosk: UiKiosk, kiosk_home: Path) -> None:
    k, vm = ui_kiosk, ui_kiosk.vm
    (kiosk_home / "secrets").mkdir(mode=0o700, exist_ok=True)
    (kiosk_home / "secrets" / "lookup_key").write_text("not base64 at all!")  # damaged: treated as missing
    ui.tap_named(k.window, "startButton")
    ui.tap_named(k.window, "statusButton")
    ui.wait_for_item(k.window, "statusScreen")
    ui.tap_named(k.window, "statusByCardButton")
    assert k.status.statusText == vm.s["statusByCardUnavailable"] and not k.status.statusCardWaiting


def test_enrolment_token_carries_the_site_lookup_key(central: Central, central_keys: CentralKeys,
                                                     broker: MosquittoBroker) -> None:
    from central.enrolment import issue_token
    from sync.protocol.enrolment import read_token

    issued = issue_token(central.store, central_keys, site="东四街道", broker_url=broker.url)
    body = read_token(issued.token)
    assert base64.b64decode(body.lookup_key) == site_lookup_key(central_keys, "东四街道")


def test_status_push_with_broker_down_keeps_the_status(central: Central, central_keys: CentralKeys,
                                                       outbox: Outbox, device: DeviceConfig,
                                                       syncd: SyncDaemon) -> None:
    receipt = _receipt(outbox, device, ID_A)
    wait_until(lambda: central.store.count() == 1 and bool((central.store.device(device.device_id) or {})
                                                           .get("site")), 15, "stored")
    result = set_status(central.store, central_keys, receipt, "受理", actor="wang", broker_url="mqtt://127.0.0.1:1")
    assert result.push_error and not result.devices
    with central.store.session() as s:
        row = s.scalars(select(ApplicationStatus)).one()
        assert (row.status, row.pushed_at) == ("accepted", None) and row.push_error

