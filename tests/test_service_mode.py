"""The technician's service mode on real QML: hidden gesture + PIN pad, back-off and lock-out with its
alarm at a real central, session time-out, first-run provisioning through the simulated camera against
a real central and broker, the self-test screen, settings applied live and audited, network & sync with
"retry now", logs, export of undelivered data and factory reset."""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import segno
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from central.enrolment import device_key, issue_token
from central.fleet import alarms_json
from central.keys import CentralKeys
from central.models import Device
from devtools.broker import MosquittoBroker
from drivers.idcard.simulator import SAMPLE_RECORD
from kiosk import automation as ui
from kiosk.app import ensure_application, journey_of, load_ui, service_of
from kiosk.hardware import SCANNER, Hardware
from kiosk.journey.config import JourneyConfig
from kiosk.journey.submitter import Submitter
from kiosk.journey.viewmodel import JourneyViewModel
from kiosk.service_mode.pin import PinError, PinPolicy, PinStore
from kiosk.service_mode.provisioning import provision
from kiosk.service_mode.sync_control import InProcessSync, SyncControl
from kiosk.service_mode.viewmodel import ServiceModeViewModel, ServiceSettings
from sync.daemon.service import SyncDaemon
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.kiosk_config import load_config
from sync.outbox.store import Outbox
from sync.runtime.backoff import Backoff
from tests.helpers import Central, make_device, start_daemon, wait_until
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
            settings: ServiceSettings = FAST, sync: SyncControl | None = None) -> Ui:
    ensure_application()
    hw = Hardware.simulated(tmp / "hw", enable_ocr=False) if hardware else None
    cfg = JourneyConfig(keyboard_root=tmp / "keyboard", voice=False)
    engine, win = load_ui(Submitter(outbox, device), hardware=hw, config=cfg,  # type: ignore[arg-type]
                          catalog=journey_catalog(), service=settings, sync=sync)
    return Ui(win, journey_of(win), service_of(win), hw, outbox.path.parent, engine)


def tap_at(u: Ui, x: float, y: float) -> None:
    """A finger's tap at window coordinates (what a technician does; no object names)."""
    QTest.mouseClick(u.window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(round(x), round(y)))


def tap_corner(u: Ui, times: int = 5) -> None:
    """Taps in the screen's real top-right corner, a finger's width from the edges (once the window is laid
    out: a window just shown may not have placed its overlay yet)."""
    corner = ui.wait_for_item(u.window, "serviceCorner")
    assert ui.process_events_until(
        lambda: round(corner.mapToScene(QPointF(corner.width(), 0)).x()) == u.window.width(), 5)
    for _ in range(times):
        tap_at(u, u.window.width() - 20, 20)


@pytest.fixture
def kiosk_ui(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[Ui]:
    PinStore(outbox.path.parent).set_pin(PIN)
    u = open_ui(tmp_path, outbox, device)
    yield u
    u.close()


def open_gesture(u: Ui) -> None:
    tap_corner(u)
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
    tap_corner(u, 4)
    assert not ui.process_events_until(lambda: u.service.mode != "closed", 0.3)  # four taps are not enough
    tap_corner(u, 1)
    ui.wait_for_item(u.window, "servicePinPad")
    assert u.service.mode == "pin" and not u.journey.session.values  # wiped before the pad opened
    for d in PIN[:3]:
        ui.tap_named(u.window, f"pinKey{d}")
    assert u.service.pinPage.pinLength == 3 and PIN[:3] not in u.texts()  # dots only, never the digits
    ui.tap_named(u.window, "pinBack")
    assert u.service.pinPage.pinLength == 2
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
    tap_corner(u, 6)
    assert not ui.process_events_until(lambda: u.service.mode != "closed", 0.3)


def test_the_service_corner_is_the_screens_top_right_corner_and_leaves_the_header_alone(kiosk_ui: Ui) -> None:
    """Issue 16 finding 5: five taps where a technician taps (the screen's top-right corner, by coordinates)
    open the PIN pad and switch nothing else (before, the corner sat under the header, at y 88-198, and these
    taps switched the language)."""
    u = kiosk_ui
    lang = u.journey.language
    w = u.window.width()
    for x, y in ((w - 5, 5), (w - 50, 50), (w - 90, 10), (w - 10, 90), (w - 20, 20)):  # anywhere in the corner
        tap_at(u, x, y)
    ui.wait_for_item(u.window, "servicePinPad")
    assert u.journey.language == lang  # the language button is not under the corner any more
    corner = ui.find_item(u.window, "serviceCorner")
    assert corner is not None
    top_left = corner.mapToScene(QPointF(0, 0))
    assert (top_left.x() + corner.width(), top_left.y()) == (w, 0)
    ui.tap_named(u.window, "pinCancel")
    assert ui.process_events_until(lambda: u.service.mode == "closed", 2)
    ui.tap_named(u.window, "languageButton")  # the header's buttons still work, by their own place
    assert ui.process_events_until(lambda: u.journey.language != lang, 2)


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


class Walk:
    """With KIOSK_WALK_DIR set, the first-run test saves the screen at each step of the technician's walk and
    the machine time it was reached (walk.json): the screenshots in docs/screenshots/technician-walk."""

    def __init__(self, u: Ui) -> None:
        self.u, self.dir = u, os.environ.get("KIOSK_WALK_DIR")
        self.t0, self.steps = time.monotonic(), []  # type: list[dict[str, Any]]

    def snap(self, name: str) -> None:
        if not self.dir:
            return
        Path(self.dir).mkdir(parents=True, exist_ok=True)
        ui.process_events_until(lambda: False, 0.3)  # let the screen settle before it is captured
        n = len(self.steps) + 1
        self.u.window.grabWindow().save(str(Path(self.dir) / f"{n:02d}-{name}.png"))
        self.steps.append({"step": n, "screen": name, "s": round(time.monotonic() - self.t0, 1)})
        (Path(self.dir) / "walk.json").write_text(json.dumps(self.steps, ensure_ascii=False, indent=1))


@pytest.mark.slow
def test_first_run_sets_the_pin_and_provisions_from_the_qr_through_the_camera(
        qapp: Any, tmp_path: Path, broker: MosquittoBroker, central: Central, central_keys: CentralKeys) -> None:
    """Issue 16 findings 1 and 9: the enrolment ends on a final screen with the device and its site, and the
    kiosk goes online at the central without a restart (the sync daemon is started by the enrolment); a token
    with a wrong broker address says which host and port refused, leaves nothing behind, and the next try
    is not refused for "undelivered" data."""
    home = tmp_path / "fresh"
    home.mkdir()
    outbox = Outbox(home / OUTBOX_FILE)
    sync = InProcessSync(heartbeat_interval_s=2.0)
    u = open_ui(tmp_path, outbox, None, hardware=True, sync=sync)
    walk = Walk(u)
    try:
        ui.wait_for_item(u.window, "firstRunScreen")
        assert u.service.mode == "firstrun"
        walk.snap("first-run")
        for _ in range(5):  # no way out of first run: the corner is inert
            ui.tap_named(u.window, "pinCancel")
        assert u.service.mode == "firstrun"
        type_pin(u, "111111")  # too simple: a clear refusal
        assert ui.process_events_until(lambda: "过于简单" in u.service.message, 2)
        walk.snap("pin-too-simple")
        type_pin(u, PIN)
        assert ui.process_events_until(lambda: u.service.pinPage.firstRunStep == "pinConfirm", 2)
        type_pin(u, "135790")
        assert ui.process_events_until(lambda: "不一致" in u.service.message, 2)
        type_pin(u, PIN)
        type_pin(u, PIN)
        assert ui.process_events_until(lambda: u.service.pinPage.firstRunStep == "provision", 5)
        ui.wait_for_item(u.window, "provisionPanel")
        walk.snap("pin-set-provision")
        ui.enter_text(u.window, "tokenField", "KIOSKPROV1:garbage")  # typed wrong: refused, still first run
        ui.tap_named(u.window, "provisionButton")
        assert ui.process_events_until(lambda: not u.service.busy and not u.service.messageOk, 10)
        assert u.service.mode == "firstrun" and not (home / "device.json").exists()

        # A token naming a broker nobody listens on: the exact host and port, and a clean state after.
        wrong = issue_token(central.store, central_keys, site="朝阳门街道", broker_url="mqtt://127.0.0.1:9")
        ui.enter_text(u.window, "tokenField", wrong.token)
        ui.tap_named(u.window, "provisionButton")
        assert ui.process_events_until(lambda: not u.service.busy and "127.0.0.1:9" in u.service.message, 20), \
            u.service.message
        assert "拒绝连接" in u.service.message and u.service.mode == "firstrun"
        walk.snap("wrong-broker-says-which-host")
        assert not (home / "device.json").exists() and outbox.counts()["pending"] == 0

        issued = issue_token(central.store, central_keys, site="朝阳门街道", broker_url=broker.url)
        # The live preview runs. Its frame count is read as it changes: under load the first frame and the
        # decoded token can arrive in one pass of the event loop, and the enrolment then switches the camera off.
        frames: list[int] = []
        use = u.service.hardwareUse
        use.previewChanged.connect(lambda: frames.append(use.previewFrame))
        ui.tap_named(u.window, "scanTokenButton")
        assert u.hw is not None and u.hw.drivers is not None
        u.hw.drivers.cameras[SCANNER].show(token_frame(issued.token))  # type: ignore[attr-defined]
        assert ui.process_events_until(lambda: any(f > 0 for f in frames), 10), frames
        walk.snap("scanning-the-token")
        assert ui.process_events_until(lambda: u.service.mode == "done", 40), u.service.message
        ui.wait_for_item(u.window, "enrolDoneScreen")
        assert ui.wait_for_item(u.window, "doneDeviceId").property("text") == issued.device_id
        assert ui.wait_for_item(u.window, "doneSite").property("text") == "朝阳门街道"
        # Online without a restart: the enrolment started the sync daemon.
        enrol = u.service.enrolPage
        assert ui.process_events_until(lambda: enrol.done.get("online") is True, 30), enrol.done
        assert "已在平台上线" in ui.wait_for_item(u.window, "doneStatus").property("text")
        # The header's badge agrees at once (it is read when the final screen sees the kiosk online, not at the
        # journey's next 2 s poll: the walk's screenshot showed 离线 in the header under 已在平台上线).
        assert ui.process_events_until(lambda: u.journey.online, 1.0), "the header still says offline"
        walk.snap("online-at-the-central")
        device = DeviceConfig.load(home)
        assert device.device_id == issued.device_id and device_key(central.store, issued.device_id) is not None
        wait_until(lambda: _central_status(central, issued.device_id) == "online", 20, "online at the central")
        store = PinStore(home)
        assert store.has_pin() and store.check(PIN).ok  # the PIN was kept only once the central confirmed
        ui.tap_named(u.window, "doneFinish")
        ui.wait_for_item(u.window, "attractScreen")
        assert ui.process_events_until(lambda: u.journey.online, 10)  # the header says online too
        walk.snap("welcome-online")
    finally:
        u.close()
        sync.stop()
        outbox.close()


def _central_status(central: Central, device_id: str) -> str | None:
    with central.store.session() as s:
        row = s.get(Device, device_id)
        return row.status if row is not None else None


def _alarm_codes(central: Central, device_id: str) -> set[str]:
    return {a["code"] for a in alarms_json(central.store, open_only=False) if a["device_id"] == device_id}


# == self-test ========================================================================================

def _tap_row(u: Ui, name: str) -> None:
    """Tap a self-test row's button, scrolled into view first as a technician would (the list is longer than
    the page since the face camera joined the drivers)."""
    ui.scroll_into_view(ui.wait_for_item(u.window, name))
    ui.tap_named(u.window, name)


def _tap_until(u: Ui, name: str, armed: Any, timeout_s: float = 10.0) -> None:
    """Tap ``name`` and wait for what the tap arms (under load a tap can land while the list is being
    rebuilt: tap again until the product says it is armed, never on a sleep)."""
    for _ in range(3):
        _tap_row(u, name)
        if ui.process_events_until(armed, timeout_s):
            return
    raise AssertionError(f"tapping {name} did not arm its check: {u.service.message}")


@pytest.mark.slow
def test_selftest_screen_shows_failing_and_passing_drivers_and_runs_each_check(
        qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> None:
    """Issue 16 finding 6: plain language with a remedy, no scan request while the camera is absent, no stale
    line once a device passes. (The scan check waits for the check to be armed before showing the code: under
    load the tap used to land while the rows were rebuilt, and the wait for 识别成功 ran out.)"""
    PinStore(outbox.path.parent).set_pin(PIN)
    u = open_ui(tmp_path, outbox, device, hardware=True)
    try:
        assert u.hw is not None and u.hw.drivers is not None
        scanner_cam = u.hw.drivers.cameras[SCANNER]
        scanner_cam.unplug()  # type: ignore[attr-defined]
        backend = u.hw.printer.backend  # type: ignore[union-attr]
        backend.simulate(paper="out")
        enter_service(u)
        ui.tap_named(u.window, "svcPage_selftest")
        ui.wait_for_item(u.window, "driver_printer", timeout_s=15)
        assert ui.process_events_until(lambda: len(u.service.selftestPage.drivers) >= 4 and not u.service.busy, 15)
        rows = {r["name"]: r for r in u.service.selftestPage.drivers}
        assert not rows["camera.scanner"]["ok"] and rows["camera.scanner"]["lastError"] == "camera_unplugged"
        assert not rows["printer"]["ok"] and rows["idcard"]["ok"] and rows["camera.document"]["ok"]
        scanner_line = ui.wait_for_item(u.window, "state_camera.scanner").property("text")
        assert "摄像头未连接：请检查 USB 线" in scanner_line and "camera_unplugged" not in scanner_line
        printer_line = ui.wait_for_item(u.window, "state_printer").property("text")
        assert "缺纸" in printer_line and "纸卷" in printer_line and "printer_" not in printer_line

        # The camera is absent: its check says what to do, and asks for no scan.
        _tap_row(u, "test_camera.scanner")
        assert ui.process_events_until(lambda: "USB" in u.service.message, 5), u.service.message
        assert u.service.hardware_use.scan_purpose == "" and u.service.hardwareUse.previewRole == ""
        assert "二维码" not in u.service.message

        _tap_row(u, "test_printer")  # out of paper: a remedy, not "打印失败：status"
        assert ui.process_events_until(lambda: "缺纸" in u.service.message, 10), u.service.message
        assert "status" not in u.service.message
        backend.simulate(paper="ok")  # paper loaded: the test page passes and the failure line goes
        _tap_row(u, "test_printer")
        assert ui.process_events_until(lambda: "测试页已打印" in u.service.message, 10), u.service.message
        assert "打印机自检" in (tmp_path / "hw" / "printer" / "receipts.txt").read_text(encoding="utf-8")
        assert ui.process_events_until(lambda: "缺纸" not in ui.wait_for_item(u.window, "state_printer")
                                       .property("text"), 5)
        assert {r["name"]: r for r in u.service.selftestPage.drivers}["printer"]["ok"]

        _tap_until(u, "test_idcard", lambda: "身份证" in u.service.message)  # masked number only
        u.hw.drivers.idcard.simulator.place_card(SAMPLE_RECORD)  # type: ignore[union-attr]
        assert ui.process_events_until(lambda: "110105" in u.service.message, 10), u.service.message
        assert "110105********002X" in u.texts() and SAMPLE_RECORD.id_number not in u.texts()
        assert SAMPLE_RECORD.name not in u.texts()

        scanner_cam.replug()  # type: ignore[attr-defined]
        assert ui.process_events_until(lambda: not u.service.busy, 10)
        # The replugged camera passes the next run, and nothing of the last run's lines stays.
        page = u.service.selftestPage
        _tap_until(u, "runSelftestButton", lambda: all(r["ok"] for r in page.drivers) and not u.service.busy, 15)
        assert all(not r["result"] for r in u.service.selftestPage.drivers), u.service.selftestPage.drivers
        # Armed: now show a code.
        _tap_until(u, "test_camera.scanner", lambda: u.service.hardware_use.scan_purpose == "test")
        scanner_cam.show(qr_frame("TEST-CODE-42"))  # type: ignore[attr-defined]
        assert ui.process_events_until(lambda: "识别成功" in u.service.message, 20), u.service.message
        assert "TEST-CODE-42" not in u.texts()  # the code's content never shows
        assert u.service.hardwareUse.previewFrame > 0 and ui.find_item(u.window, "selftestPreview") is not None
    finally:
        u.close()


@pytest.mark.slow
def test_kiosk_selftest_asks_the_running_app(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 16 finding 6: `kiosk selftest` reports the running app's drivers (its unplugged camera), not a
    fresh simulated set that passes."""
    import threading

    from kiosk.cli import main

    u = open_ui(tmp_path, outbox, device, hardware=True)
    try:
        assert u.hw is not None and u.hw.drivers is not None
        u.hw.drivers.cameras[SCANNER].unplug()  # type: ignore[attr-defined]
        result: list[int] = []
        cli = threading.Thread(target=lambda: result.append(main(["selftest", "--sim", "--json", "--home",
                                                                  str(u.home)])))
        cli.start()  # the app answers on its UI thread: keep it turning while the command waits
        assert ui.process_events_until(lambda: not cli.is_alive(), 30)
        assert result == [1]
        reports = {r["driver"]: r for r in json.loads(capsys.readouterr().out)}
        assert reports["camera.scanner"]["last_error"] == "camera_unplugged"
        assert main(["selftest", "--sim", "--fresh", "--home", str(u.home)]) == 0  # a fresh set: what it was
    finally:
        u.close()


# == settings ========================================================================================

def test_a_settings_change_is_validated_applied_live_and_audited(kiosk_ui: Ui, central: Central, syncd: SyncDaemon,
                                                                 device: DeviceConfig) -> None:
    """Issue 16 finding 11: choices and steppers with their ranges, errors in the screen's language that state
    the allowed range, the site's display name shown on the device page."""
    u = kiosk_ui
    enter_service(u)
    ui.tap_named(u.window, "svcPage_config")
    ui.wait_for_item(u.window, "configPage")
    assert ui.find_item(u.window, "cfg_language_zh") is not None and ui.find_item(u.window, "cfg_language_en")
    assert "30–600" in u.texts() and "5–3600" in u.texts()  # each stepper says its range
    # A value out of range (a stepper never makes one; the view-model still checks): Chinese, with the range.
    u.service.configPage.saveConfig({"idle_timeout_s": 5})
    assert u.service.message == "无操作超时（秒）应在 30–600 之间（未做任何修改）", u.service.message
    assert load_config(u.home)["idle_timeout_s"] == 60 and not (u.home / "config.json").exists()
    u.service.toggleLanguage()
    u.service.configPage.saveConfig({"heartbeat_interval_s": 1})
    assert u.service.message == "Heartbeat interval (s) must be between 5 and 3600 (nothing changed)"
    u.service.toggleLanguage()
    for _ in range(3):  # 60 -> 90 with the stepper's + (10 s a step)
        ui.tap_named(u.window, "cfg_idle_timeout_s_plus")
    assert ui.wait_for_item(u.window, "cfg_idle_timeout_s").property("text") == "90"
    for _ in range(2):  # the monthly data budget (issue 21): 0 (none) -> 1000 MB, 500 MB a step
        ui.tap_named(u.window, "cfg_data_budget_mb_plus")
    assert ui.wait_for_item(u.window, "cfg_data_budget_mb").property("text") == "1000"
    ui.tap_named(u.window, "cfg_language_en")
    ui.tap_named(u.window, "cfg_elder_on")
    ui.enter_text(u.window, "cfg_site_display_name", "朝阳门街道便民服务中心")
    ui.tap_named(u.window, "cfgSave")
    assert ui.process_events_until(lambda: "已保存" in u.service.message, 2), u.service.message
    saved = load_config(u.home)
    assert saved["idle_timeout_s"] == 90 and saved["site_display_name"] == "朝阳门街道便民服务中心"
    assert saved["language_default"] == "en" and saved["elder_mode_default"] is True
    assert saved["data_budget_mb"] == 1000
    assert u.journey._idle_timer.interval() == 90_000  # applied without a restart
    wait_until(lambda: any(e["device_id"] == device.device_id for e in central.store.events("config_changed")),
               20, "the audit event at the central")
    [event] = [e for e in central.store.events("config_changed") if e["device_id"] == device.device_id]
    assert event["meta"]["keys"] == ["data_budget_mb", "elder_mode_default", "idle_timeout_s", "language_default",
                                     "site_display_name"]
    assert event["meta"]["source"] == "technician"
    # The device page: id, site, display name, version, addresses, broker, certificate.
    ui.tap_named(u.window, "svcPage_device")
    info = u.service.devicePage
    assert ui.process_events_until(lambda: info.deviceInfo.get("siteName") == "朝阳门街道便民服务中心", 5)
    assert ui.wait_for_item(u.window, "devDeviceId").property("text") == device.device_id
    assert ui.wait_for_item(u.window, "devSite").property("text") == device.site
    assert "朝阳门街道便民服务中心" in u.texts()
    host, port = device.broker_host_port
    assert ui.wait_for_item(u.window, "devBroker").property("text") == f"{host}:{port}"
    assert ui.wait_for_item(u.window, "devVersion").property("text")
    assert "未使用 TLS 证书" in u.texts()


def test_status_lines_never_move_the_buttons(kiosk_ui: Ui) -> None:
    """Issue 16 finding 8: a status message appearing (and going) leaves every button where it was."""
    u = kiosk_ui
    enter_service(u)
    ui.tap_named(u.window, "svcPage_network")
    retry = ui.wait_for_item(u.window, "retryButton")
    tab = ui.wait_for_item(u.window, "svcPage_logs")
    assert u.service.message == ""
    before = (retry.mapToScene(QPointF(0, 0)).y(), tab.mapToScene(QPointF(0, 0)).y())
    ui.tap_named(u.window, "retryButton")
    assert ui.process_events_until(lambda: u.service.message != "", 5)
    ui.process_events_until(lambda: False, 0.2)  # let the layout settle
    after = (retry.mapToScene(QPointF(0, 0)).y(), tab.mapToScene(QPointF(0, 0)).y())
    assert after == before


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
        assert ui.process_events_until(lambda: "无法连通" in u.service.networkPage.networkInfo.get("reachText", ""), 10)
        assert "未加密" in u.texts() and "pending 1" in u.texts()
        assert "郑十" not in u.texts()
        broker.start()
        ui.tap_named(u.window, "retryButton")
        assert ui.process_events_until(lambda: "立即重试" in u.service.message, 2)
        wait_until(daemon.connected.is_set, 10, "the daemon to reconnect at once (not after its 20 s back-off)")
        assert ui.process_events_until(lambda: "可连通" in u.service.networkPage.networkInfo.get("reachText", ""), 10)
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
        assert ui.process_events_until(lambda: "marker line for the viewer" in u.service.logsPage.logText, 2)
        # The viewer opens at the newest line (the end), not the oldest.
        area = ui.wait_for_item(u.window, "logText")
        assert ui.process_events_until(lambda: area.property("cursorPosition") == area.property("length")
                                       and area.property("length") > 0, 2)
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
        assert folder.name.startswith(f"kiosk-logs-{DeviceConfig.load(u.home).device_id}-")  # whose logs
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
        assert ui.process_events_until(lambda: u.service.dataPage.notExported == 1, 5)
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
        assert ui.process_events_until(lambda: u.service.dataPage.notExported == 0, 5)

        ui.tap_named(u.window, "resetButton")
        ui.tap_named(u.window, "resetConfirmButton")
        assert ui.process_events_until(lambda: u.service.mode == "firstrun", 5), u.service.message
        assert not (home / "device.json").exists() and not (home / "secrets").exists()
        data = u.service.dataPage
        assert data.undelivered == 0 or ui.process_events_until(lambda: data.undelivered == 0, 5)
        ui.wait_for_item(u.window, "firstRunScreen")
    finally:
        u.close()
        u.service.submitter.outbox.close()


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
    assert ui.process_events_until(lambda: "请先导出" in u.service.message and not u.service.busy, 10), \
        u.service.message
    assert DeviceConfig.load(u.home).device_id == device.device_id
    assert PinStore(u.home).has_pin()


# == the daemon's life cycle: re-enrolment, reused tokens, factory reset (issue 16 findings 2, 3, 4, 7) ==

TRUST_ALARMS = {"topic_mismatch", "bad_signature", "unsigned", "unknown_device"}


def _enrolled_home(tmp_path: Path, name: str, broker: MosquittoBroker, central: Central,
                   central_keys: CentralKeys) -> tuple[Path, Outbox, InProcessSync, str, str]:
    """A kiosk home enrolled through the product's own enrolment, its sync daemon running (as after first run)."""
    home = tmp_path / name
    home.mkdir()
    outbox = Outbox(home / OUTBOX_FILE)
    issued = issue_token(central.store, central_keys, site="东直门街道", broker_url=broker.url)
    sync = InProcessSync(heartbeat_interval_s=2.0)
    result = provision(home, issued.token, timeout_s=20, sync=sync, outbox=outbox)
    assert result.ok, result
    assert sync.daemon is not None
    wait_until(sync.daemon.connected.is_set, 20, "the enrolled kiosk's daemon to connect")
    return home, outbox, sync, issued.device_id, issued.token


@pytest.mark.slow
def test_reenrolment_by_scanning_on_the_data_page_retires_the_old_identity_without_alarms(
        qapp: Any, tmp_path: Path, broker: MosquittoBroker, central: Central, central_keys: CentralKeys) -> None:
    home, outbox, sync, old_id, _token = _enrolled_home(tmp_path, "k", broker, central, central_keys)
    PinStore(home).set_pin(PIN)
    wait_until(lambda: _central_status(central, old_id) == "online", 20, "the first identity online")
    u = open_ui(tmp_path, outbox, DeviceConfig.load(home), hardware=True, sync=sync)
    try:
        enter_service(u)
        ui.tap_named(u.window, "svcPage_data")
        ui.wait_for_item(u.window, "dataPage")
        issued = issue_token(central.store, central_keys, site="东直门街道", broker_url=broker.url)
        ui.tap_named(u.window, "reprovisionScanButton")  # no typing of a 700-character token
        assert u.hw is not None and u.hw.drivers is not None
        u.hw.drivers.cameras[SCANNER].show(token_frame(issued.token))  # type: ignore[attr-defined]
        assert ui.process_events_until(lambda: u.service.mode == "done", 40), u.service.message
        enrol = u.service.enrolPage
        assert ui.process_events_until(lambda: enrol.done.get("online") is True, 30), enrol.done
        assert enrol.done["deviceId"] == issued.device_id
        wait_until(lambda: _central_status(central, issued.device_id) == "online", 20, "the new identity online")
        assert sync.daemon is not None and sync.daemon.device.device_id == issued.device_id  # restarted as new
        # The old identity is retired cleanly: no trust alarm on either, no offline alarm for the old one.
        wait_until(lambda: _central_status(central, old_id) == "retired", 20, "the old identity retired")
        assert not (_alarm_codes(central, old_id) | _alarm_codes(central, issued.device_id)) & TRUST_ALARMS
        assert "offline" not in {a["code"] for a in alarms_json(central.store) if a["device_id"] == old_id}
        # The PIN set before is still the PIN, also for a restarted kiosk (a fresh store on the same files).
        assert PinStore(home).check(PIN).ok
        # Finding 3: a factory reset stops the daemon first; the wiped kiosk never speaks for the old identity.
        daemon = sync.daemon
        ui.tap_named(u.window, "doneFinish")
        enter_service(u)
        ui.tap_named(u.window, "svcPage_data")
        ui.tap_named(u.window, "resetButton")
        ui.tap_named(u.window, "resetConfirmButton")
        assert ui.process_events_until(lambda: u.service.mode == "firstrun", 20), u.service.message
        assert sync.daemon is None and daemon._thread is not None and not daemon._thread.is_alive()
        wait_until(lambda: _central_status(central, issued.device_id) == "offline", 20, "the wiped kiosk offline")
        assert not _alarm_codes(central, issued.device_id) & TRUST_ALARMS
    finally:
        u.close()
        sync.stop()
        outbox.close()


def test_a_reused_token_leaves_the_kiosk_that_used_it_alone(
        qapp: Any, tmp_path: Path, broker: MosquittoBroker, central: Central, central_keys: CentralKeys) -> None:
    _home, outbox, sync, device_id, token = _enrolled_home(tmp_path, "first", broker, central, central_keys)
    try:
        wait_until(lambda: _central_status(central, device_id) == "online", 20, "the first kiosk online")
        other = tmp_path / "second"
        other.mkdir()
        other_sync = InProcessSync()
        result = provision(other, token, timeout_s=20, sync=other_sync)
        assert not result.ok and result.code == "token_reused"
        assert "另一台终端" in result.message and "不受影响" in result.message
        assert other_sync.daemon is None and not (other / "device.json").exists()
        # The operator gets a clear, non-critical notice; the first kiosk keeps its session and its good name.
        wait_until(lambda: "enrolment_token_reused" in _alarm_codes(central, device_id), 20, "the operator's notice")
        [notice] = [a for a in alarms_json(central.store) if a["code"] == "enrolment_token_reused"
                    and a["device_id"] == device_id]
        assert notice["severity"] == "warning"
        assert not _alarm_codes(central, device_id) & TRUST_ALARMS
        assert sync.daemon is not None and sync.daemon.connected.is_set()
        assert _central_status(central, device_id) == "online"
    finally:
        sync.stop()
        outbox.close()


# == command line details (issue 16 finding 11) =======================================================

def test_cli_config_set_says_what_changed_and_provision_qr_names_a_missing_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kiosk.cli import main

    home = tmp_path / "k"
    assert main(["config", "set", "idle_timeout_s=120", "language_default=zh", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "idle_timeout_s: 60 -> 120" in out and "language_default=zh (unchanged)" in out and "version 1" in out
    assert main(["provision", "--qr", str(tmp_path / "missing.png"), "--home", str(home)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_enroll_list_shows_an_expired_token_as_expired(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from central.cli import main as central_main

    home = tmp_path / "central"
    CentralKeys.generate().save(home)
    assert central_main(["enroll", "--home", str(home), "--site", "东四街道", "--broker", "mqtt://127.0.0.1:1883",
                         "--ttl", "0.01", "--device-id", "kiosk-aaa1"]) == 0
    assert central_main(["enroll", "--home", str(home), "--site", "东四街道", "--broker", "mqtt://127.0.0.1:1883",
                         "--device-id", "kiosk-bbb2"]) == 0
    capsys.readouterr()
    assert central_main(["enroll", "--home", str(home), "--list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("kiosk-")}
    assert " expired " in lines["kiosk-aaa1"] and " open " in lines["kiosk-bbb2"]
    assert central_main(["enroll", "--home", str(home), "--list", "--json"]) == 0
    states = {t["device_id"]: t["state"] for t in json.loads(capsys.readouterr().out)}
    assert states == {"kiosk-aaa1": "expired", "kiosk-bbb2": "open"}


def test_the_lockout_alarm_is_claimed_only_once_acked_and_clears_on_the_next_accepted_pin(
        kiosk_ui: Ui, central: Central, outbox: Outbox, device: DeviceConfig) -> None:
    """Issue 16 finding 10: "平台已收到告警" only once the central acked the alarm (offline, the screen says it is
    queued); the right PIN after the lock clears the alarm at the central."""
    import time as _time

    from central.fleet import evaluate_alarms

    u = kiosk_ui
    open_gesture(u)
    for _ in range(5):  # no sync daemon yet: the kiosk is offline
        assert ui.process_events_until(lambda: u.service.pins.status().code in ("ok", "locked"), 5)
        type_pin(u, "999999")
        assert ui.process_events_until(lambda: not u.service.busy, 10)
    assert ui.process_events_until(lambda: "锁定" in u.service.message, 5), u.service.message
    assert "联网后送达" in u.service.message and "平台已收到告警" not in u.service.message
    daemon = start_daemon(outbox, device)  # online now: the alarm goes, and the screen says so once acked
    try:
        assert ui.process_events_until(lambda: "平台已收到告警" in u.service.message, 20), u.service.message
        evaluate_alarms(central.store)
        assert any(a["code"] == "service_pin_lockout" and a["device_id"] == device.device_id
                   for a in alarms_json(central.store))
        u.service.pins.clock = lambda: _time.time() + 10**4  # the lock has run out
        type_pin(u, PIN)
        ui.wait_for_item(u.window, "serviceScreen", timeout_s=10)

        def cleared() -> bool:
            evaluate_alarms(central.store)
            return not any(a["code"] == "service_pin_lockout" and a["device_id"] == device.device_id
                           for a in alarms_json(central.store))

        wait_until(cleared, 20, "the lock-out alarm cleared at the central")
    finally:
        daemon.stop()


def test_a_signed_central_command_unlocks_the_pin_pad_or_resets_the_pin(
        kiosk_ui: Ui, central: Central, central_keys: CentralKeys, broker: MosquittoBroker, outbox: Outbox,
        device: DeviceConfig) -> None:
    """Issue 16 finding 10: an admin's signed command ends a lock-out (the alarm clears), or resets the PIN so the
    technician sets a new one at the PIN pad."""
    from central.commands import send_command
    from sync.daemon.commands import CommandExecutor

    u = kiosk_ui
    executor = CommandExecutor(outbox, device, u.home)
    daemon = start_daemon(outbox, device, command_handler=executor.handle)
    try:
        wait_until(daemon.connected.is_set, 20, "the kiosk online")
        open_gesture(u)
        for _ in range(5):
            assert ui.process_events_until(lambda: u.service.pins.status().code in ("ok", "locked"), 5)
            type_pin(u, "999999")
            assert ui.process_events_until(lambda: not u.service.busy, 10)
        assert u.service.pins.status().code == "locked"
        send_command(central_keys, broker.url, device.device_id, "service_unlock")
        wait_until(lambda: u.service.pins.status().code == "ok", 20, "the PIN pad unlocked by the central")
        type_pin(u, PIN)
        ui.wait_for_item(u.window, "serviceScreen", timeout_s=10)
        wait_until(lambda: any(e["device_id"] == device.device_id and e["meta"].get("code") == "service_pin_lockout"
                               for e in central.store.events("alarm_cleared")), 20, "the alarm cleared")
        ui.tap_named(u.window, "serviceExit")

        send_command(central_keys, broker.url, device.device_id, "service_pin_reset")
        wait_until(lambda: u.service.pins.reset_pending(), 20, "the PIN reset by the central")
        open_gesture(u)
        assert "重置" in u.service.message
        type_pin(u, "135792")
        assert ui.process_events_until(lambda: u.service.pinPage.firstRunStep == "pinConfirm", 5)
        type_pin(u, "135792")
        ui.wait_for_item(u.window, "serviceScreen", timeout_s=10)
        assert PinStore(u.home).check("135792").ok and not PinStore(u.home).reset_pending()
    finally:
        daemon.stop()


def test_retry_now_says_so_when_no_sync_daemon_runs(kiosk_ui: Ui) -> None:
    """Issue 16 finding 1: with no daemon the network page does not claim the service was told to retry."""
    u = kiosk_ui  # no daemon: neither kiosk-syncd nor one in this process
    enter_service(u)
    ui.tap_named(u.window, "svcPage_network")
    ui.wait_for_item(u.window, "networkPage")
    assert ui.process_events_until(lambda: "未运行" in u.service.networkPage.networkInfo.get("connText", ""), 10)
    ui.tap_named(u.window, "retryButton")
    assert ui.process_events_until(lambda: "同步服务未运行" in u.service.message, 5), u.service.message
    assert "已通知" not in u.service.message and not u.service.messageOk


def test_only_an_admin_may_unlock_or_reset_a_kiosks_service_pin_and_it_is_audited(
        tmp_path: Path, central_keys: CentralKeys) -> None:
    """Issue 16 finding 10: the dashboard offers the remote unlock and PIN reset to admins only; an operator's
    request is refused, an admin's goes to the signer (here to a broker that is down) and is audited."""
    from central.store import CentralStore
    from central.web import auth as central_auth
    from central.web.app import create_app
    from tests.test_dashboard import PASSWORDS, TestClient, _add_operators, _login
    from tests.test_fleet import Kiosk

    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    _add_operators(store)
    app = create_app(store, tmp_path, "mqtt://127.0.0.1:1", session_secret="s" * 32)
    try:
        with TestClient(app) as c:
            Kiosk(store, central_keys, "k-locked").status("online", 1)
            token = _login(c, "wang")  # an operator
            assert 'id="cmd-service_unlock"' not in c.get("/devices/k-locked").text
            for action in ("service_unlock", "service_pin_reset"):
                r = c.post("/api/devices/k-locked/commands", json={"action": action}, headers={"X-CSRF-Token": token})
                assert r.status_code == 403
            c.post("/logout", data={"csrf": token})
            token = _login(c, "admin")
            page = c.get("/devices/k-locked").text
            assert 'id="cmd-service_unlock"' in page and 'id="cmd-service_pin_reset"' in page
            r = c.post("/api/devices/k-locked/commands", json={"action": "service_unlock"},
                       headers={"X-CSRF-Token": token})
            assert r.status_code in (502, 503)  # past the role check; the broker here is down
            entries = central_auth.audit_entries(store, 20, target="k-locked")
            assert any(e["actor"] == "admin" and e["detail"].get("action") == "service_unlock" for e in entries)
            assert PASSWORDS["admin"] not in str(entries)
    finally:
        store.close()


FULL_WIDTH_MARKS = "：，。（）；"


def test_the_english_service_screens_use_english_punctuation(kiosk_ui: Ui) -> None:
    """The network page's labels and the texts the view-models join in code (the lock-out line, the reset
    line) carry no full-width marks in English ("Broker：" was shown)."""
    from kiosk.service_mode.pin import Attempt

    u = kiosk_ui
    enter_service(u)
    ui.tap_named(u.window, "serviceLanguage")
    assert u.service.s["svcExit"] != "退出"  # English now
    ui.tap_named(u.window, "svcPage_network")
    assert ui.process_events_until(lambda: bool(u.service.networkPage.networkInfo), 10)
    page = ui.wait_for_item(u.window, "netBroker")
    assert ui.process_events_until(lambda: page.property("text").startswith(u.service.s["svcBroker"] + ": "), 5)
    for name in ("netBroker", "netLastDelivery", "netQueue", "netOldest"):
        text = ui.wait_for_item(u.window, name).property("text")
        assert not set(text) & set(FULL_WIDTH_MARKS), (name, text)
    locked = u.service.pinPage._status_text(Attempt("locked", wait_s=120))
    assert "; " in locked and not set(locked) & set(FULL_WIDTH_MARKS), locked
    for key in ("svcSentenceSep", "svcClauseSep", "svcFailed", "svcProvisionFailed", "svcResetFailed",
                "svcResetRefused"):
        assert not set(u.service.s[key]) & set("：，。（）"), key
