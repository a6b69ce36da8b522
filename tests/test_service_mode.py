"""The technician's service mode on real QML: hidden gesture + PIN pad, back-off and lock-out with its
alarm at a real central, session time-out, first-run provisioning through the simulated camera against
a real central and broker, the self-test screen, settings applied live and audited, network & sync with
"retry now", logs, export of undelivered data and factory reset."""

from __future__ import annotations

import io
import json
import logging
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import segno

from drivers.idcard.simulator import SAMPLE_RECORD
from kiosk import automation as ui
from kiosk.app import ensure_application, journey_of, load_ui, service_of
from kiosk.hardware import SCANNER, Hardware
from kiosk.journey.config import JourneyConfig
from kiosk.journey.submitter import Submitter
from kiosk.journey.viewmodel import JourneyViewModel
from kiosk.service_mode.pin import PinError, PinPolicy, PinStore
from kiosk.service_mode.viewmodel import ServiceModeViewModel, ServiceSettings
from sync.broker import MosquittoBroker
from sync.central.enrolment import device_key, issue_token
from sync.central.keys import CentralKeys
from sync.daemon.backoff import Backoff
from sync.daemon.service import SyncDaemon
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.kiosk_config import load_config
from sync.outbox.store import Outbox
from tests.helpers import Central, make_device, wait_until
from tests.journey_kit import journey_catalog, qr_frame

PIN = "246810"
FAST = ServiceSettings(session_timeout_s=60, pin_policy=PinPolicy(max_tries=5, lockout_s=120, backoff_base_s=0.05,
                                                                   backoff_max_s=0.2),
                       provision_timeout_s=30, selftest_timeout_s=5, network_poll_ms=300)


@dataclass
class Ui:
    window: Any
    journey: JourneyViewModel
    service: ServiceModeViewModel
    hw: Hardware | None
    home: Path
    engine: Any

    def texts(self) -> str:
        out, stack = [], [self.window.contentItem()]
        while stack:
            item = stack.pop()
            if item.isVisible():
                text = item.property("text")
                if isinstance(text, str):
                    out.append(text)
                stack.extend(item.childItems())
        return "\n".join(out)

    def close(self) -> None:
        self.service.shutdown()
        self.journey.shutdown()
        self.window.close()
        if self.hw is not None:
            self.hw.close()


def open_ui(tmp: Path, outbox: Outbox, device: DeviceConfig | None, *, hardware: bool = False,
            settings: ServiceSettings = FAST) -> Ui:
    ensure_application()
    hw = Hardware.simulated(tmp / "hw", enable_ocr=False) if hardware else None
    cfg = JourneyConfig(keyboard_root=tmp / "keyboard", voice=False)
    engine, win = load_ui(Submitter(outbox, device), hardware=hw, config=cfg,  # type: ignore[arg-type]
                          catalog=journey_catalog(), service=settings)
    return Ui(win, journey_of(win), service_of(win), hw, outbox.path.parent, engine)


@pytest.fixture
def kiosk_ui(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[Ui]:
    PinStore(outbox.path.parent).set_pin(PIN)
    u = open_ui(tmp_path, outbox, device)
    yield u
    u.close()


def open_gesture(u: Ui) -> None:
    for _ in range(5):
        ui.tap_named(u.window, "serviceCorner")
    ui.wait_for_item(u.window, "servicePinPad")


def type_pin(u: Ui, pin: str) -> None:
    for d in pin:
        ui.tap_named(u.window, f"pinKey{d}")
    ui.tap_named(u.window, "pinOk")


def enter_service(u: Ui) -> None:
    open_gesture(u)
    type_pin(u, PIN)
    ui.wait_for_item(u.window, "serviceScreen", timeout_s=10)


# == entry ============================================================================================

def test_hidden_gesture_wipes_the_resident_session_and_the_pin_opens_service_mode(kiosk_ui: Ui) -> None:
    u = kiosk_ui
    u.journey.session.values["applicant_name"] = "张三"  # something of a resident still in memory
    for _ in range(4):
        ui.tap_named(u.window, "serviceCorner")
    assert not ui.process_events_until(lambda: u.service.mode != "closed", 0.3)  # four taps are not enough
    ui.tap_named(u.window, "serviceCorner")
    ui.wait_for_item(u.window, "servicePinPad")
    assert u.service.mode == "pin" and not u.journey.session.values  # wiped before the pad opened
    for d in PIN[:3]:
        ui.tap_named(u.window, f"pinKey{d}")
    assert u.service.pinLength == 3 and PIN[:3] not in u.texts()  # dots only, never the digits
    ui.tap_named(u.window, "pinBack")
    assert u.service.pinLength == 2
    ui.tap_named(u.window, "pinCancel")
    assert ui.process_events_until(lambda: u.service.mode == "closed", 2)
    enter_service(u)
    assert u.service.mode == "service" and u.journey.screen == "attract"
    ui.tap_named(u.window, "serviceExit")
    assert ui.process_events_until(lambda: u.service.mode == "closed", 2)
    assert ui.find_item(u.window, "serviceScreen") is None


def test_the_corner_does_nothing_while_a_resident_is_in_a_session(kiosk_ui: Ui) -> None:
    u = kiosk_ui
    ui.tap_named(u.window, "startButton")
    ui.wait_for_item(u.window, "homeScreen")
    for _ in range(6):
        ui.tap_named(u.window, "serviceCorner")
    assert not ui.process_events_until(lambda: u.service.mode != "closed", 0.3)


def test_wrong_pins_back_off_then_lock_out_persistently_and_the_alarm_reaches_the_central(
        kiosk_ui: Ui, central: Central, syncd: SyncDaemon, device: DeviceConfig) -> None:
    u = kiosk_ui
    open_gesture(u)
    for n in range(1, 6):
        # Wait out the growing back-off (0.05 s doubling) before each try.
        assert ui.process_events_until(lambda: u.service.pins.status().code == "ok", 5)
        type_pin(u, "999999")
        message = "锁定" if n == 5 else f"还可尝试 {5 - n} 次"
        assert ui.process_events_until(lambda m=message: m in u.service.message, 10), u.service.message
    # Locked: even the right PIN is refused now, and after a restart (a fresh store on the same files).
    type_pin(u, PIN)
    assert ui.process_events_until(lambda: "锁定" in u.service.message, 5)
    assert u.service.mode == "pin"
    again = PinStore(u.home, FAST.pin_policy)
    assert again.status().code == "locked" and again.check(PIN).code == "locked"
    wait_until(lambda: any(e["device_id"] == device.device_id and e["meta"].get("code") == "service_pin_lockout"
                           for e in central.store.events("alarm")), 20, "the lock-out alarm at the central")
    [alarm] = [e for e in central.store.events("alarm") if e["device_id"] == device.device_id]
    assert PIN not in json.dumps(alarm) and "999999" not in json.dumps(alarm)
    # The lock runs out (time moves on): a fresh set of tries, and the right PIN opens.
    later = PinStore(u.home, FAST.pin_policy, clock=lambda: 10**10)
    assert later.check(PIN).ok


def test_the_pin_hash_is_not_the_pin_and_the_secrets_are_private(tmp_path: Path) -> None:
    home = tmp_path / "k"
    store = PinStore(home)
    assert store.status().code == "no_pin" and store.check(PIN).code == "no_pin"
    for bad in ("12345", "abcdef", "111111", "123456", "１２３４５６", "1" * 13):
        with pytest.raises(PinError):
            store.set_pin(bad)
        assert not store.has_pin()  # bad input: a clear error and nothing stored
    store.set_pin(PIN)
    stored = store.hash_path.read_bytes()
    assert stored.startswith(b"$argon2id$") and PIN.encode() not in stored
    assert stat.S_IMODE((home / "secrets").stat().st_mode) == 0o700
    for f in (home / "secrets").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name
    assert store.check("000000").code == "wrong"
    assert store.check(PIN).code == "wait"  # the back-off holds even for the right PIN
    assert PinStore(home, clock=lambda: 10**10).check(PIN).ok


def test_the_service_session_times_out_back_to_the_attract_screen(qapp: Any, tmp_path: Path, outbox: Outbox,
                                                                    device: DeviceConfig) -> None:
    PinStore(outbox.path.parent).set_pin(PIN)
    u = open_ui(tmp_path, outbox, device, settings=ServiceSettings(session_timeout_s=1.0))
    try:
        enter_service(u)
        ui.tap_named(u.window, "svcPage_logs")  # a touch restarts the timer
        assert ui.process_events_until(lambda: u.service.mode == "closed", 5)
        assert u.journey.screen == "attract" and ui.find_item(u.window, "serviceScreen") is None
        ui.wait_for_item(u.window, "attractScreen")
    finally:
        u.close()


# == first run ========================================================================================

def token_frame(text: str, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """The enrolment QR (a long token: many modules) as large as fits the scanner camera's frame."""
    qr = segno.make(text, error="l")
    scale = max(2, (min(size) - 20) // qr.symbol_size(scale=1, border=4)[0])
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=scale, border=4)
    code = cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    frame = np.full((size[1], size[0], 3), 235, np.uint8)
    y, x = (size[1] - code.shape[0]) // 2, (size[0] - code.shape[1]) // 2
    frame[y:y + code.shape[0], x:x + code.shape[1]] = code
    return frame


@pytest.mark.slow
def test_first_run_sets_the_pin_and_provisions_from_the_qr_through_the_camera(
        qapp: Any, tmp_path: Path, broker: MosquittoBroker, central: Central, central_keys: CentralKeys) -> None:
    home = tmp_path / "fresh"
    home.mkdir()
    outbox = Outbox(home / OUTBOX_FILE)
    u = open_ui(tmp_path, outbox, None, hardware=True)
    try:
        ui.wait_for_item(u.window, "firstRunScreen")
        assert u.service.mode == "firstrun"
        for _ in range(5):  # no way out of first run: the corner is inert
            ui.tap_named(u.window, "pinCancel")
        assert u.service.mode == "firstrun"
        type_pin(u, "111111")  # too simple: a clear refusal
        assert ui.process_events_until(lambda: "过于简单" in u.service.message, 2)
        type_pin(u, PIN)
        assert ui.process_events_until(lambda: u.service.firstRunStep == "pinConfirm", 2)
        type_pin(u, "135790")
        assert ui.process_events_until(lambda: "不一致" in u.service.message, 2)
        type_pin(u, PIN)
        type_pin(u, PIN)
        assert ui.process_events_until(lambda: u.service.firstRunStep == "provision", 5)
        ui.wait_for_item(u.window, "provisionPanel")
        ui.enter_text(u.window, "tokenField", "KIOSKPROV1:garbage")  # typed wrong: refused, still first run
        ui.tap_named(u.window, "provisionButton")
        assert ui.process_events_until(lambda: not u.service.busy and not u.service.messageOk, 10)
        assert u.service.mode == "firstrun" and not (home / "device.json").exists()

        issued = issue_token(central.store, central_keys, site="朝阳门街道", broker_url=broker.url)
        ui.tap_named(u.window, "scanTokenButton")
        assert u.hw is not None and u.hw.drivers is not None
        u.hw.drivers.cameras[SCANNER].show(token_frame(issued.token))  # type: ignore[attr-defined]
        assert ui.process_events_until(lambda: u.service.previewFrame > 0, 10)  # the live preview runs
        assert ui.process_events_until(lambda: u.service.mode == "closed", 40), u.service.message
        assert "开通成功" in u.service.message
        device = DeviceConfig.load(home)
        assert device.device_id == issued.device_id and device_key(central.store, issued.device_id) is not None
        store = PinStore(home)
        assert store.has_pin() and store.check(PIN).ok  # the PIN was kept only once the central confirmed
        ui.wait_for_item(u.window, "attractScreen")
    finally:
        u.close()
        outbox.close()


# == self-test ========================================================================================

@pytest.mark.slow
def test_selftest_screen_shows_failing_and_passing_drivers_and_runs_each_check(
        qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> None:
    PinStore(outbox.path.parent).set_pin(PIN)
    u = open_ui(tmp_path, outbox, device, hardware=True)
    try:
        assert u.hw is not None and u.hw.drivers is not None
        scanner_cam = u.hw.drivers.cameras[SCANNER]
        scanner_cam.unplug()  # type: ignore[attr-defined]
        enter_service(u)
        ui.tap_named(u.window, "svcPage_selftest")
        ui.wait_for_item(u.window, "driver_printer", timeout_s=15)
        rows = {r["name"]: r for r in u.service.drivers}
        assert not rows["camera.scanner"]["ok"] and rows["camera.scanner"]["lastError"] == "camera_unplugged"
        assert rows["printer"]["ok"] and rows["idcard"]["ok"] and rows["camera.document"]["ok"]
        assert "camera_unplugged" in ui.wait_for_item(u.window, "state_camera.scanner").property("text")
        assert "正常" in ui.wait_for_item(u.window, "state_printer").property("text")

        ui.tap_named(u.window, "test_printer")  # the printer's test page
        assert ui.process_events_until(lambda: "测试页已打印" in u.service.message, 10), u.service.message
        assert "打印机自检" in (tmp_path / "hw" / "printer" / "receipts.txt").read_text(encoding="utf-8")

        ui.tap_named(u.window, "test_idcard")  # a card read shows the masked number only
        u.hw.drivers.idcard.simulator.place_card(SAMPLE_RECORD)  # type: ignore[union-attr]
        assert ui.process_events_until(lambda: "110105" in u.service.message, 10), u.service.message
        assert "110105********002X" in u.texts() and SAMPLE_RECORD.id_number not in u.texts()
        assert SAMPLE_RECORD.name not in u.texts()

        scanner_cam.replug()  # type: ignore[attr-defined]
        assert ui.process_events_until(lambda: not u.service.busy, 10)
        # The replugged camera passes the next run (a tap under load may miss the button: tap again).
        for _ in range(3):
            ui.tap_named(u.window, "runSelftestButton")
            if ui.process_events_until(lambda: all(r["ok"] for r in u.service.drivers) and not u.service.busy, 10):
                break
        assert all(r["ok"] for r in u.service.drivers), u.service.drivers
        ui.tap_named(u.window, "test_camera.scanner")  # live preview + "scan a test code"
        scanner_cam.show(qr_frame("TEST-CODE-42"))  # type: ignore[attr-defined]
        assert ui.process_events_until(lambda: "识别成功" in u.service.message, 10), u.service.message
        assert "TEST-CODE-42" not in u.texts()  # the code's content never shows
        assert u.service.previewFrame > 0 and ui.find_item(u.window, "selftestPreview") is not None
    finally:
        u.close()


# == settings ========================================================================================

def test_a_settings_change_is_validated_applied_live_and_audited(kiosk_ui: Ui, central: Central, syncd: SyncDaemon,
                                                                 device: DeviceConfig) -> None:
    u = kiosk_ui
    enter_service(u)
    ui.tap_named(u.window, "svcPage_config")
    ui.wait_for_item(u.window, "configPage")
    ui.enter_text(u.window, "cfg_idle_timeout_s", "5")  # out of range: a clear error, nothing changed
    ui.tap_named(u.window, "cfgSave")
    assert ui.process_events_until(lambda: "未做任何修改" in u.service.message, 2), u.service.message
    assert load_config(u.home)["idle_timeout_s"] == 60 and not (u.home / "config.json").exists()
    ui.enter_text(u.window, "cfg_idle_timeout_s", "90")
    ui.enter_text(u.window, "cfg_site_display_name", "朝阳门街道便民服务中心")
    ui.tap_named(u.window, "cfgSave")
    assert ui.process_events_until(lambda: "已保存" in u.service.message, 2), u.service.message
    saved = load_config(u.home)
    assert saved["idle_timeout_s"] == 90 and saved["site_display_name"] == "朝阳门街道便民服务中心"
    assert u.journey._idle_timer.interval() == 90_000  # applied without a restart
    wait_until(lambda: any(e["device_id"] == device.device_id for e in central.store.events("config_changed")),
               20, "the audit event at the central")
    [event] = [e for e in central.store.events("config_changed") if e["device_id"] == device.device_id]
    assert event["meta"]["keys"] == ["idle_timeout_s", "site_display_name"]
    assert event["meta"]["source"] == "technician"


# == network & sync ==================================================================================

def test_network_screen_shows_counts_only_and_retry_now_skips_the_backoff(
        qapp: Any, tmp_path: Path, central_keys: CentralKeys) -> None:
    broker = MosquittoBroker()  # not started yet: the daemon's first attempt fails
    home = tmp_path / "k"
    device = make_device(home, broker.url, central_keys)
    outbox = Outbox(home / OUTBOX_FILE)
    outbox.enqueue_submission(device, "X", [{"id": "n", "kind": "name", "label": "姓名", "value": "郑十"}])
    PinStore(home).set_pin(PIN)
    daemon = SyncDaemon(outbox, device, backoff=Backoff(40.0, 60.0))  # next attempt 20–40 s away
    daemon.start()
    u = open_ui(tmp_path, outbox, device)
    try:
        wait_until(lambda: daemon.connect_attempts >= 1, 10, "the daemon's first (failed) attempt")
        enter_service(u)
        ui.tap_named(u.window, "svcPage_network")
        ui.wait_for_item(u.window, "networkPage")
        assert ui.process_events_until(lambda: "无法连通" in u.service.networkInfo.get("reachText", ""), 10)
        assert "未加密" in u.texts() and "pending 1" in u.texts()
        assert "郑十" not in u.texts()
        broker.start()
        ui.tap_named(u.window, "retryButton")
        assert ui.process_events_until(lambda: "立即重试" in u.service.message, 2)
        wait_until(daemon.connected.is_set, 10, "the daemon to reconnect at once (not after its 20 s back-off)")
        assert ui.process_events_until(lambda: "可连通" in u.service.networkInfo.get("reachText", ""), 10)
    finally:
        u.close()
        daemon.stop()
        outbox.close()
        broker.cleanup()


# == logs ============================================================================================

def test_the_log_viewer_shows_the_last_lines_and_exports_them(kiosk_ui: Ui, tmp_path: Path) -> None:
    from kiosk.service_mode.logs import install_log_file

    u = kiosk_ui
    handler = install_log_file(u.home)
    try:
        logging.getLogger("kiosk.test").warning("marker line for the viewer")
        handler.flush()
        enter_service(u)
        ui.tap_named(u.window, "svcPage_logs")
        assert ui.process_events_until(lambda: "marker line for the viewer" in u.service.logText, 2)
        assert stat.S_IMODE((u.home / "logs" / "kiosk.log").stat().st_mode) == 0o600
        ui.enter_text(u.window, "logExportFolder", str(tmp_path / "no-such-usb"))
        ui.tap_named(u.window, "exportLogsButton")
        assert ui.process_events_until(lambda: "不存在" in u.service.message, 5)
        usb = tmp_path / "usb"
        usb.mkdir()
        ui.enter_text(u.window, "logExportFolder", str(usb))
        ui.tap_named(u.window, "exportLogsButton")
        assert ui.process_events_until(lambda: "已导出" in u.service.message, 5), u.service.message
        [folder] = list(usb.iterdir())
        assert "marker line" in (folder / "kiosk.log").read_text(encoding="utf-8")
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


# == data: export and factory reset ===================================================================

def test_factory_reset_is_refused_with_a_queue_and_allowed_after_the_export(
        qapp: Any, tmp_path: Path, central_keys: CentralKeys) -> None:
    home = tmp_path / "k"
    device = make_device(home, "mqtt://127.0.0.1:9", central_keys)  # a dead broker: nothing leaves
    outbox = Outbox(home / OUTBOX_FILE)
    outbox.enqueue_submission(device, "X", [{"id": "n", "kind": "name", "label": "姓名", "value": "郑十"}])
    PinStore(home).set_pin(PIN)
    u = open_ui(tmp_path, outbox, device)
    try:
        enter_service(u)
        ui.tap_named(u.window, "svcPage_data")
        ui.wait_for_item(u.window, "dataPage")
        assert ui.process_events_until(lambda: u.service.notExported == 1, 5)
        ui.tap_named(u.window, "resetButton")
        ui.tap_named(u.window, "resetConfirmButton")
        assert ui.process_events_until(lambda: "请先导出" in u.service.message, 2)
        assert (home / "device.json").exists() and (home / "secrets").exists() and u.service.mode == "service"

        ui.enter_text(u.window, "dataExportFolder", str(tmp_path / "not-mounted"))  # bad folder: clear error
        ui.tap_named(u.window, "exportDataButton")
        assert ui.process_events_until(lambda: "不存在" in u.service.message, 5)
        usb = tmp_path / "usb"
        usb.mkdir()
        ui.enter_text(u.window, "dataExportFolder", str(usb))
        ui.tap_named(u.window, "exportDataButton")
        assert ui.process_events_until(lambda: "已导出 1 条" in u.service.message, 5), u.service.message
        [folder] = list(usb.iterdir())
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        envelopes = (folder / "envelopes.jsonl").read_bytes()
        assert manifest["device_id"] == device.device_id and manifest["count"] == 1
        assert "郑十".encode() not in envelopes  # sealed for the central, unreadable on the stick
        assert json.loads(envelopes.splitlines()[0])["id"] == manifest["messages"][0]["id"]
        assert ui.process_events_until(lambda: u.service.notExported == 0, 5)

        ui.tap_named(u.window, "resetButton")
        ui.tap_named(u.window, "resetConfirmButton")
        assert ui.process_events_until(lambda: u.service.mode == "firstrun", 5), u.service.message
        assert not (home / "device.json").exists() and not (home / "secrets").exists()
        assert u.service.undelivered == 0 or ui.process_events_until(lambda: u.service.undelivered == 0, 5)
        ui.wait_for_item(u.window, "firstRunScreen")
    finally:
        u.close()
        u.service._submitter.outbox.close()


def test_cli_factory_reset_refuses_with_a_queue_and_export_undelivered_then_allows_it(
        tmp_path: Path, central_keys: CentralKeys, capsys: pytest.CaptureFixture[str]) -> None:
    from kiosk.cli import main

    home = tmp_path / "k"
    device = make_device(home, "mqtt://127.0.0.1:9", central_keys)
    outbox = Outbox(home / OUTBOX_FILE)
    outbox.enqueue_submission(device, "X", [{"id": "n", "kind": "name", "label": "姓名", "value": "郑十"}])
    outbox.close()
    assert main(["factory-reset", "--home", str(home)]) == 2  # asks for --yes
    assert main(["factory-reset", "--home", str(home), "--yes"]) == 1
    assert "导出" in capsys.readouterr().err and (home / "device.json").exists()
    assert main(["export-undelivered", str(tmp_path / "missing"), "--home", str(home)]) == 2
    usb = tmp_path / "usb"
    usb.mkdir()
    assert main(["export-undelivered", str(usb), "--home", str(home), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 1
    assert main(["factory-reset", "--home", str(home), "--yes"]) == 0
    assert not (home / "device.json").exists() and not (home / "outbox.db").exists()


def test_reprovisioning_from_service_mode_refuses_until_the_queue_is_exported(
        kiosk_ui: Ui, device: DeviceConfig, outbox: Outbox, tmp_path: Path) -> None:
    u = kiosk_ui
    outbox.enqueue_submission(device, "X", [{"id": "n", "kind": "name", "label": "姓名", "value": "郑十"}])
    enter_service(u)
    ui.tap_named(u.window, "svcPage_data")
    ui.enter_text(u.window, "reprovisionToken", "KIOSKPROV1:whatever")
    ui.tap_named(u.window, "reprovisionButton")
    assert ui.process_events_until(lambda: "请先导出" in u.service.message and not u.service.busy, 10)
    assert DeviceConfig.load(u.home).device_id == device.device_id
    assert PinStore(u.home).has_pin()
