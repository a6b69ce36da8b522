"""Privacy, offline and accessibility of the resident's session: the idle countdown (WCAG 2.2.1) and
wipe, offline submission then delivery, language switch, elder mode sizes, silent voice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.keys import CentralKeys
from devtools.broker import MosquittoBroker
from drivers.idcard.simulator import SAMPLE_RECORD
from kiosk import automation as ui
from kiosk.hardware import DOCUMENT
from kiosk.journey.voice import Voice
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Outbox
from tests.helpers import make_device, start_central, start_daemon, wait_until
from tests.journey_kit import JZZ, LNYD, Kiosk, close_kiosk, go_to_item, open_kiosk, tap_until


@pytest.fixture
def quick(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[Kiosk]:
    k = open_kiosk(tmp_path, outbox, device, idle_timeout_s=2.0, countdown_s=1.5, enable_ocr=False)
    yield k
    close_kiosk(k)


def test_idle_countdown_can_be_extended_then_wipes_everything(quick: Kiosk) -> None:
    k, vm = quick, quick.vm
    first_keyboard = Path(vm.keyboardDataDir)
    assert k.window.property("keyboardUserDataPath") == str(first_keyboard)  # the keyboard really uses it
    (first_keyboard / "pinyin").mkdir()
    (first_keyboard / "pinyin" / "usr_dict.dat").write_bytes(b"learned words")
    go_to_item(k, JZZ)
    k.idcard_sim.place_card(SAMPLE_RECORD)
    ui.wait_for_item(k.window, "formScreen", timeout_s=10)
    ui.enter_text(k.window, "field_phone", "13800138000")
    ui.tap_named(k.window, "formNextButton")
    ui.wait_for_item(k.window, "materialsScreen")
    tap_until(k.window, "capture_1", lambda: k.materials.materials.rows[1]["mstate"] == "captured")
    assert k.hw is not None and k.hw.previews.get(DOCUMENT) is not None
    # No touch: the countdown appears; one tap on "continue" keeps the session.
    ui.wait_for_item(k.window, "idleOverlay", timeout_s=5)
    assert "秒后将清除" in ui.wait_for_item(k.window, "idleCountdown").property("text")
    ui.tap_named(k.window, "idleContinueButton")
    assert not vm.idleWarning and vm.screen == "materials" and vm.session.has_personal_data
    # No touch again: after the countdown the session is wiped and the attract loop returns.
    ui.wait_for_item(k.window, "idleOverlay", timeout_s=5)
    ui.wait_for_item(k.window, "attractScreen", timeout_s=8)
    assert not vm.session.has_personal_data
    assert k.form.formFields.rowCount() == 0 and k.materials.materials.rowCount() == 0
    assert k.review.review.rowCount() == 0
    assert k.form.identityName == "" and k.form.identityIdMasked == "" and k.form.hints == []
    assert k.hw.previews.get(DOCUMENT) is None and k.hw.previews.get("capture-hukou") is None
    assert not first_keyboard.exists()  # the keyboard's user data of that session is deleted
    assert Path(vm.keyboardDataDir) != first_keyboard
    assert k.window.property("keyboardUserDataPath") == vm.keyboardDataDir
    # The next resident finds nothing of the last one.
    go_to_item(k, JZZ)
    ui.tap_named(k.window, "manualButton")
    ui.wait_for_item(k.window, "formScreen")
    assert all(r["value"] == "" for r in k.form.formFields.rows)
    assert ui.wait_for_item(k.window, "nameField").property("text") == ""
    assert not k.form.identified


def test_offline_submission_says_so_then_is_delivered(qapp: Any, tmp_path: Path, own_broker: MosquittoBroker,
                                                      central_keys: CentralKeys) -> None:
    central = start_central(own_broker.url, tmp_path / "central.db", central_keys)
    home = tmp_path / "kiosk"
    device = make_device(home, own_broker.url, central_keys)
    outbox = Outbox(home / OUTBOX_FILE)
    own_broker.stop()
    daemon = start_daemon(outbox, device)
    k = open_kiosk(tmp_path, outbox, device, hardware=False, status_poll_ms=100)
    try:
        wait_until(lambda: daemon.connect_attempts >= 1, what="the daemon to try the dead broker")
        assert not k.vm.online
        assert "离线" in ui.wait_for_item(k.window, "connectionText").property("text")
        go_to_item(k, LNYD)
        ui.tap_named(k.window, "manualButton")
        ui.enter_text(k.window, "nameField", "孙八")
        ui.tap_named(k.window, "formNextButton")
        ui.tap_named(k.window, "deliveryNextButton")
        ui.tap_named(k.window, "commitmentBox")  # 告知承诺
        ui.tap_named(k.window, "submitButton")
        ui.wait_for_item(k.window, "doneScreen")
        assert ui.wait_for_item(k.window, "doneTitle").property("text") == "已保存，联网后自动提交"
        assert outbox.counts()["pending"] == 1 and central.store.count() == 0
        own_broker.start()
        wait_until(lambda: outbox.counts()["acked"] == 1, timeout=20, what="delivery after the broker returns")
        assert central.store.count() == 1
        # The resident still at the receipt reads what is now true; never 已受理 before the platform has it.
        assert ui.process_events_until(
            lambda: ui.wait_for_item(k.window, "doneTitle").property("text") == "已提交至政务服务平台", 10)
        assert ui.process_events_until(lambda: k.vm.online, 10)
        assert "已联网" in ui.wait_for_item(k.window, "connectionText").property("text")
    finally:
        close_kiosk(k)
        daemon.stop()
        central.worker.stop()
        outbox.close()
        central.store.close()


def test_language_switch(quick: Kiosk) -> None:
    k = quick
    ui.tap_named(k.window, "languageButton")
    ui.wait_for_item(k.window, "startButton")
    assert ui.find_item(k.window, "startButton").property("text") == "Tap to start"  # type: ignore[union-attr]
    ui.tap_named(k.window, "startButton")
    ui.wait_for_item(k.window, "homeScreen")
    assert {r["name"] for r in k.home.catalogItems.rows} == {"Residence permit application", "Senior citizen card"}
    ui.tap_named(k.window, "languageButton")
    assert k.vm.s["start"] == "点击开始办理"
    assert "居住证申领" in {r["name"] for r in k.home.catalogItems.rows}


def _touch_targets(k: Kiosk) -> list[tuple[str, float, float]]:
    out = []
    stack = [k.window.contentItem()]
    while stack:
        item = stack.pop()
        if not item.isVisible():
            continue
        if item.inherits("QQuickAbstractButton") or item.inherits("QQuickTextField"):
            out.append((item.objectName(), item.width(), item.height()))
        stack.extend(item.childItems())
    return out


def _font_sizes(k: Kiosk) -> list[int]:
    sizes = []
    stack = [k.window.contentItem()]
    while stack:
        item = stack.pop()
        if not item.isVisible():
            continue
        font = item.property("font") if item.inherits("QQuickText") else None
        if font is not None and item.property("text"):
            sizes.append(font.pixelSize())
        stack.extend(item.childItems())
    return sizes


def test_elder_mode_sizes(quick: Kiosk) -> None:
    k = quick
    ui.tap_named(k.window, "startButton")
    ui.wait_for_item(k.window, "homeScreen")
    normal = _touch_targets(k)
    assert normal and all(h >= 44 and w >= 44 for _n, w, h in normal), normal
    ui.tap_named(k.window, "elderButton")
    assert ui.process_events_until(lambda: k.vm.elderMode, 2)
    ui.process_events_until(lambda: all(h >= 60 for _n, _w, h in _touch_targets(k)), 2)
    elder = _touch_targets(k)
    assert all(h >= 60 and w >= 60 for _n, w, h in elder), elder
    sizes = _font_sizes(k)
    assert min(sizes) >= 18 and max(sizes) >= 30, sizes
    tap_until(k.window, f"itemTile_{LNYD}", lambda: k.vm.screen == "item")
    ui.wait_for_item(k.window, "itemScreen")
    assert ui.wait_for_item(k.window, "itemName").property("font").pixelSize() >= 30
    body = ui.wait_for_item(k.window, "itemGuidance")
    assert body.property("font").pixelSize() >= 18 and body.property("lineHeight") >= 1.3


def test_voice_prompts_never_crash_without_a_voice(qapp: Any) -> None:
    voice = Voice()
    voice.say("请将身份证放在读卡区")  # silent when no engine or voice exists
    voice.stop()
    assert voice.spoken == (1 if voice.available else 0)
