"""Guidance, voice, calling staff and the printed receipt on the real app (issue 14, findings 6 and 8):
real QML, simulated hardware (the printer writes what it receives to a file), a real SQLite outbox; the staff
call goes through the real sync daemon and Mosquitto to a real central ingest worker."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from central.fleet import alarms_list, evaluate_alarms
from drivers.printer.escpos import CHINESE_ON, render_text
from kiosk import automation as ui
from kiosk import services
from kiosk.hardware import DOCUMENT
from kiosk.i18n import table
from kiosk.journey.assist_vm import AssistViewModel
from kiosk.journey.materials_vm import rongque_deadline
from kiosk.journey.session_service import JourneySession
from kiosk.journey.voice import Voice
from sync.device import DeviceConfig
from sync.outbox.models import State
from sync.outbox.store import Outbox
from tests.helpers import Central, wait_until
from tests.journey_kit import JZZ, Kiosk, close_kiosk, fill_required, go_to_item, open_kiosk, tap_until

SITE = "东四街道便民服务中心"
HOTLINE = "010-64040000"
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@pytest.fixture
def kiosk(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[Kiosk]:
    k = open_kiosk(tmp_path, outbox, device, site_name=SITE, hotline=HOTLINE)
    yield k
    close_kiosk(k)


def assist(k: Kiosk) -> AssistViewModel:
    vm = k.window.findChild(AssistViewModel, "assistVm")
    assert vm is not None
    return vm


def printed_jobs(tmp_path: Path) -> bytes:
    return (tmp_path / "hw" / "printer" / "receipts.escpos").read_bytes()


def _document_frame(blur: float = 0.0) -> np.ndarray:
    """A printed page on the dark stand, as the document camera sees it (1280x960)."""
    img = np.full((960, 1280, 3), (70, 80, 75), np.uint8)
    cv2.rectangle(img, (260, 170), (1020, 790), (226, 229, 231), -1)
    for y in range(230, 760, 34):
        cv2.putText(img, "ZHONGHUA RENMIN GONGHEGUO 110101", (290, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (30, 30, 30), 2)
    return cv2.GaussianBlur(img, (0, 0), blur) if blur else img


def _to_review_with_rongque(k: Kiosk) -> None:
    """By hand (no card), the proof of residence marked 容缺, the household register photographed."""
    go_to_item(k, JZZ)
    ui.wait_for_item(k.window, "identifyScreen")
    ui.tap_named(k.window, "manualButton")
    ui.wait_for_item(k.window, "formScreen")
    fill_required(k)
    ui.tap_named(k.window, "formNextButton")
    ui.wait_for_item(k.window, "materialsScreen")
    tap_until(k.window, "missing_0", lambda: k.materials.materials.rows[0]["mstate"] == "missing")
    ui.tap_named(k.window, "capture_1")
    assert ui.process_events_until(lambda: k.materials.materials.rows[1]["mstate"] == "captured", 10)
    ui.tap_named(k.window, "materialsNextButton")
    ui.wait_for_item(k.window, "deliveryScreen")
    ui.tap_named(k.window, "deliveryNextButton")
    ui.wait_for_item(k.window, "reviewScreen")
    ui.tap_named(k.window, "commitmentBox")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_receipt_reaching_the_printer_says_what_the_resident_needs_in_their_language(
        kiosk: Kiosk, tmp_path: Path, lang: str) -> None:
    k = kiosk
    if lang == "en":
        ui.tap_named(k.window, "languageButton")
        assert ui.process_events_until(lambda: k.vm.property("language") == "en", 5)
    _to_review_with_rongque(k)
    ui.tap_named(k.window, "submitButton")
    ui.wait_for_item(k.window, "doneScreen", timeout_s=15)
    receipt_no = k.done.receiptNumber
    assert ui.process_events_until(lambda: k.done.printState == "printed", 10)
    raw = printed_jobs(tmp_path)
    text = render_text(raw, "gb18030")
    flat = " ".join(line.strip() for line in text.splitlines() if line.strip())
    assert f"[QR] {receipt_no}" in text, "the status QR carries the receipt number the status screen scans"
    assert "李四" not in text and "李*" in flat, "the name, masked"
    assert HOTLINE in flat
    by = rongque_deadline(dt.date.today())
    if lang == "zh":
        assert raw.startswith(b"\x1b@" + CHINESE_ON) and SITE.encode("gb18030") in raw
        for expected in (f"办理地点：{SITE}", "办理事项：居住证申领", "申请人：李*", "尚需补交的材料",
                         "1. 居住证明", f"请于{by.year}年{by.month}月{by.day}日前", f"咨询电话：{HOTLINE}"):
            assert expected.replace(" ", "") in flat.replace(" ", ""), expected
    else:
        assert f"Servicecentre:{SITE}" in flat.replace(" ", "")  # a Chinese site name wraps between characters
        for expected in ("Service: Residence permit application", "Applicant: 李*", "Still to bring",
                         "1. Proof of residence", f"by {by.day:02d} {MONTHS[by.month - 1]} {by.year}",
                         f"Hotline: {HOTLINE}"):
            assert expected in flat, expected
        assert "尚需补交" not in text and "办理事项" not in text


def test_the_identify_screen_shows_where_the_card_and_the_qr_code_go(kiosk: Kiosk) -> None:
    k = kiosk
    go_to_item(k, JZZ)
    ui.wait_for_item(k.window, "identifyScreen")
    card = ui.wait_for_item(k.window, "cardGuide")
    qr = ui.wait_for_item(k.window, "qrGuide")
    assert card.property("animating") and qr.property("animating")
    assert card.property("caption") == table("zh")["guideCard"]
    assert qr.property("caption") == table("zh")["guideQr"]


def test_a_blurred_document_photo_gets_plain_advice_and_a_retake_clears_it(kiosk: Kiosk) -> None:
    k = kiosk
    go_to_item(k, JZZ)
    ui.wait_for_item(k.window, "identifyScreen")
    ui.tap_named(k.window, "manualButton")
    ui.wait_for_item(k.window, "formScreen")
    fill_required(k)
    ui.tap_named(k.window, "formNextButton")
    ui.wait_for_item(k.window, "materialsScreen")
    frame = ui.wait_for_item(k.window, "documentGuideFrame")
    assert frame.property("hint") == table("zh")["guideDocument"]
    camera = k.camera(DOCUMENT)

    def show(image: np.ndarray) -> None:  # and wait until it is the camera's newest frame
        camera.show(image)

        def showing() -> bool:
            latest = camera.latest()
            return latest is not None and latest.shape == image.shape and bool(np.array_equal(latest, image))

        assert ui.process_events_until(showing, 10)

    show(_document_frame(blur=6))
    ui.tap_named(k.window, "capture_0")
    assert ui.process_events_until(lambda: k.materials.captureAdvice != "", 10)
    assert k.materials.captureAdvice == table("zh")["qualityBlur"] and not k.materials.captureAdviceOk
    shown = ui.wait_for_item(k.window, "qualityAdviceText").property("text")
    assert shown == "⚠ " + table("zh")["qualityBlur"]
    tap_until(k.window, "retake_0", lambda: k.materials.materials.rows[0]["mstate"] == "needed")
    assert k.materials.captureAdvice == ""
    show(_document_frame())
    ui.tap_named(k.window, "capture_0")
    assert ui.process_events_until(lambda: k.materials.captureAdvice == table("zh")["qualityOk"], 10)
    assert k.materials.captureAdviceOk


def test_the_repeat_button_says_the_screens_prompt_again_in_the_chosen_language(kiosk: Kiosk) -> None:
    k = kiosk
    js = services.get(JourneySession)
    js.voice = Voice(js)  # the journey tests run without a voice; this one has the real engine
    a = assist(k)
    assert a.voiceAvailable
    ui.tap_named(k.window, "startButton")
    ui.wait_for_item(k.window, "homeScreen")
    assert js.voice.last_text == table("zh")["chooseService"], "spoken when the screen appears"
    before = js.voice.spoken
    ui.tap_named(k.window, "repeatButton")
    assert js.voice.spoken == before + 1 and js.voice.last_text == table("zh")["chooseService"]
    ui.tap_named(k.window, "languageButton")
    assert ui.process_events_until(lambda: js.lang == "en", 5)
    ui.tap_named(k.window, "repeatButton")
    assert js.voice.last_text == table("en")["chooseService"]
    # The technician's settings apply to the voice at once (JourneyControl.apply_settings).
    k.vm.apply_settings(idle_timeout_s=60, language="zh", elder_mode=False, voice_volume=35, voice_muted=True)
    assert js.voice.muted and js.voice.volume == 35
    ui.process_events_until(lambda: False, 0.1)
    assert not a.voiceAvailable, "muted: the button goes away"
    spoken = js.voice.spoken
    ui.tap_named(k.window, "backButton")
    assert ui.process_events_until(lambda: js.screen != "home", 5)
    assert js.voice.spoken == spoken, "muted: nothing is said"


def test_calling_staff_raises_an_alarm_the_console_shows(
        qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig, central: Central, syncd: Any) -> None:
    k = open_kiosk(tmp_path, outbox, device)
    try:
        a = assist(k)
        assert not a.canCallStaff, "not on the attract screen: nobody is there"
        go_to_item(k, JZZ)
        ui.wait_for_item(k.window, "identifyScreen")
        ui.tap_named(k.window, "callStaffButton")
        assert ui.process_events_until(lambda: a.callState in ("sending", "queued", "sent"), 5)
        banner = ui.wait_for_item(k.window, "staffCallText")
        assert table("zh")["callStaffWait"] in banner.property("text") or a.callState != "sending"

        def alarm() -> dict[str, Any] | None:
            evaluate_alarms(central.store)  # what the console's server does every few seconds
            return next((x for x in alarms_list(central.store) if x["code"] == "staff_call"
                         and x["device_id"] == device.device_id), None)

        wait_until(lambda: alarm() is not None, timeout=20, what="the staff call among the central's alarms")
        found = alarm()
        assert found is not None and found["open"] and found["severity"] == "critical"
        assert "identify" in found["detail"] and JZZ in found["detail"]
        # Acknowledged by the central: the resident is told staff have it.
        assert ui.process_events_until(lambda: a.callState == "sent", 15)
        assert ui.wait_for_item(k.window, "staffCallText").property("text").endswith(table("zh")["callStaffSent"])
        # A second tap while waiting does not call twice.
        events = _events(outbox)
        assert any(m.state == State.ACKED for m in events)
        ui.tap_named(k.window, "callStaffButton")
        ui.process_events_until(lambda: False, 0.5)
        assert len(_events(outbox)) == len(events)
        # A new resident starts without the last one's call.
        k.vm.endSession()
        assert a.callState == "" and a.callText == ""
    finally:
        close_kiosk(k)


def _events(outbox: Outbox) -> list[Any]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from sync.outbox.models import OutboxMessage

    with Session(outbox.engine) as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "event")))


def test_the_technician_sets_voice_and_hotline_and_the_voice_follows_at_once(kiosk: Kiosk) -> None:
    from kiosk.service_mode.viewmodel import ServiceModeViewModel
    from sync.kiosk_config import load_config

    k = kiosk
    js = services.get(JourneySession)
    js.voice = Voice(js)
    service = k.window.findChild(ServiceModeViewModel, "serviceMode")
    assert service is not None
    service.configPage.saveConfig({"voice_volume": 30, "voice_muted": True, "service_hotline": "010-64040000"})
    saved = load_config(k.outbox.path.parent)
    assert (saved["voice_volume"], saved["voice_muted"], saved["service_hotline"]) == (30, True, "010-64040000")
    assert js.voice.volume == 30 and js.voice.muted, "applied without a restart"
    service.configPage.saveConfig({"voice_volume": 101})
    assert "0–100" in service.message and load_config(k.outbox.path.parent)["voice_volume"] == 30


def test_a_tap_right_after_the_header_reflows_lands_on_the_button(kiosk: Kiosk) -> None:
    """The connection badge's text changes (offline ↔ online) and the header's Flow moves the buttons at
    its next layout; a tap read off the old geometry pressed where 🔊 was (the CI failure of stop 25).
    ``automation.tap`` lays the item and its ancestors out first (``automation.settle``)."""
    k = kiosk
    js = services.get(JourneySession)
    js.voice = Voice(js)
    ui.tap_named(k.window, "startButton")
    ui.wait_for_item(k.window, "homeScreen")
    button = ui.wait_for_item(k.window, "repeatButton")
    ui.wait_until_tappable(k.window)
    for _ in range(2):  # offline -> online -> offline: the badge's text is much shorter online
        stale = button.mapToScene(button.boundingRect().center())
        js.set_online(not js.online)
        ui.settle(button)
        laid_out = button.mapToScene(button.boundingRect().center())
        assert abs(laid_out.x() - stale.x()) > 20, "the badge's new text moves the header's buttons"
        before = js.voice.spoken
        ui.tap(k.window, button)
        assert js.voice.spoken == before + 1, "the tap reached 🔊 where it now is"
        ui.process_events_until(lambda: False, 0.05)
        now = button.mapToScene(button.boundingRect().center())
        assert abs(now.x() - laid_out.x()) < 1, "settle laid out what the next frame shows"
