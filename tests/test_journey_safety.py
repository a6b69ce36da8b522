"""Safe steps (issue 14 finding 2) and the step indicator, on real QML with the real 500 ms tap guard.

Taps here are a finger's: a press and a release at screen coordinates through the window, never a call
into a view-model. Before the fix a 120 ms double tap on 下一步 (delivery) submitted the application
(提交申请 sat in the same spot of the next screen), and repeated 返回 taps threw a filled application away.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtQuick import QQuickWindow
from PySide6.QtTest import QTest

from drivers.idcard.simulator import SAMPLE_RECORD
from kiosk import automation as ui
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from tests.journey_kit import JZZ, LNYD, Kiosk, close_kiosk, go_to_item, open_kiosk


@pytest.fixture
def kiosk(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[Kiosk]:
    k = open_kiosk(tmp_path, outbox, device, tap_guard_s=0.5)  # the kiosk's own guard
    yield k
    close_kiosk(k)


def centre(window: QQuickWindow, name: str) -> QPoint:
    item = ui.wait_for_item(window, name)
    p = item.mapToScene(QPointF(item.width() / 2, item.height() / 2))
    return QPoint(round(p.x()), round(p.y()))


def finger(window: QQuickWindow, at: QPoint, hold_ms: int = 40) -> None:
    QTest.mousePress(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
    QTest.qWait(hold_ms)
    QTest.mouseRelease(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)


def pending(outbox: Outbox) -> int:
    return outbox.counts()["pending"]


def to_delivery(k: Kiosk) -> None:
    go_to_item(k, LNYD)
    ui.tap_named(k.window, "manualButton")
    ui.enter_text(k.window, "nameField", "周九")
    ui.tap_named(k.window, "formNextButton")
    ui.wait_for_item(k.window, "deliveryScreen")


def test_a_double_tap_on_next_never_submits(kiosk: Kiosk, outbox: Outbox) -> None:
    k = kiosk
    to_delivery(k)
    at = centre(k.window, "deliveryNextButton")
    ui.wait_until_tappable(k.window)
    finger(k.window, at)
    QTest.qWait(120)  # the second half of a double tap, 120 ms later, in the same spot
    finger(k.window, at)
    assert ui.process_events_until(lambda: k.vm.screen == "review", 2)
    QTest.qWait(800)
    assert k.vm.screen == "review" and pending(outbox) == 0  # nothing submitted
    # Even a deliberate tap in that spot later does not submit: 提交申请 is elsewhere and needs 告知承诺.
    finger(k.window, at)
    QTest.qWait(500)
    assert k.vm.screen == "review" and pending(outbox) == 0
    assert not rect(k.window, "submitButton").contains(QPointF(at))  # not under where 下一步 was


def test_submission_needs_the_commitment(kiosk: Kiosk, outbox: Outbox) -> None:
    k = kiosk
    to_delivery(k)
    ui.tap_named(k.window, "deliveryNextButton")
    ui.wait_for_item(k.window, "reviewScreen")
    assert ui.wait_for_item(k.window, "commitmentText").property("text") == "本人承诺所填信息真实有效"
    ui.tap_named(k.window, "submitButton")  # not ticked: the button does nothing
    QTest.qWait(300)
    assert k.vm.screen == "review" and pending(outbox) == 0
    k.review.submit()  # nor does the slot itself
    assert k.vm.errorText == k.vm.s["errCommitment"] and pending(outbox) == 0
    ui.tap_named(k.window, "commitmentBox")
    assert k.review.committed and k.vm.errorText == ""
    ui.tap_named(k.window, "submitButton")
    ui.wait_for_item(k.window, "doneScreen", timeout_s=15)
    assert pending(outbox) == 1
    # Every new review asks again.
    k.vm.endSession()
    to_delivery(k)
    ui.tap_named(k.window, "deliveryNextButton")
    ui.wait_for_item(k.window, "reviewScreen")
    assert not k.review.committed


def test_taps_within_half_a_second_of_a_screen_change_are_ignored(kiosk: Kiosk) -> None:
    k = kiosk
    ui.tap_named(k.window, "startButton")
    ui.wait_for_item(k.window, "homeScreen")
    at = centre(k.window, "statusButton")
    finger(k.window, at)  # at once: the finger that tapped 开始 is still coming down
    QTest.qWait(200)
    assert k.vm.screen == "home"
    ui.wait_until_tappable(k.window)
    finger(k.window, at)
    assert ui.process_events_until(lambda: k.vm.screen == "status", 2)


def test_leaving_a_filled_application_asks_first(kiosk: Kiosk) -> None:
    k = kiosk
    go_to_item(k, JZZ)
    ui.wait_for_item(k.window, "identifyScreen")
    k.idcard_sim.place_card(SAMPLE_RECORD)
    ui.wait_for_item(k.window, "formScreen", timeout_s=10)
    ui.enter_text(k.window, "field_phone", "13800138000")
    back = centre(k.window, "backButton")
    for _ in range(3):  # 返回, 返回, 返回 as a worried resident would, a second apart
        ui.wait_until_tappable(k.window)
        finger(k.window, back)
        QTest.qWait(300)
    assert k.vm.confirmLeave and k.vm.screen == "form"
    assert ui.wait_for_item(k.window, "leaveTitle").property("text") == "放弃本次办理？"
    assert k.vm.session.values["phone"] == "13800138000"  # nothing thrown away yet
    ui.tap_named(k.window, "leaveNoButton")  # 继续办理
    assert not k.vm.confirmLeave and k.vm.screen == "form" and k.vm.session.identity is not None
    ui.tap_named(k.window, "backButton")
    assert ui.process_events_until(lambda: k.vm.confirmLeave, 2)
    ui.tap_named(k.window, "leaveYesButton")  # 放弃办理
    assert ui.process_events_until(lambda: k.vm.screen == "item", 2)
    assert not k.vm.session.has_personal_data


def test_the_step_indicator_is_on_every_step_of_the_application(kiosk: Kiosk) -> None:
    k = kiosk
    ui.tap_named(k.window, "startButton")
    ui.wait_for_item(k.window, "homeScreen")
    assert ui.find_item(k.window, "stepIndicator") is None
    ui.tap_named(k.window, "backButton")
    ui.wait_for_item(k.window, "attractScreen")
    go_to_item(k, JZZ)
    ui.wait_for_item(k.window, "identifyScreen")
    steps = ["核验身份", "填写信息", "提交材料", "领取方式", "核对提交", "完成"]

    def shown() -> tuple[str, str]:
        text = ui.wait_for_item(k.window, "stepText").property("text")
        current = [ui.wait_for_item(k.window, f"step_{i}") for i in range(len(steps))]
        bold = [c.property("text") for c in current if c.property("font").bold()]
        return text, bold[0] if bold else ""

    assert shown() == ("第 1 步，共 6 步", "核验身份")
    k.idcard_sim.place_card(SAMPLE_RECORD)
    ui.wait_for_item(k.window, "formScreen", timeout_s=10)
    assert shown() == ("第 2 步，共 6 步", "填写信息")
    ui.enter_text(k.window, "field_phone", "13800138000")
    ui.tap_named(k.window, "formNextButton")
    ui.wait_for_item(k.window, "materialsScreen")
    assert shown() == ("第 3 步，共 6 步", "提交材料")
    ui.tap_named(k.window, "missing_0")
    ui.tap_named(k.window, "capture_1")
    ui.process_events_until(lambda: k.materials.materials.rows[1]["mstate"] == "captured", 10)
    ui.tap_named(k.window, "materialsNextButton")
    ui.wait_for_item(k.window, "deliveryScreen")
    assert shown() == ("第 4 步，共 6 步", "领取方式")
    ui.tap_named(k.window, "deliveryNextButton")
    ui.wait_for_item(k.window, "reviewScreen")
    assert shown() == ("第 5 步，共 6 步", "核对提交")
    ui.tap_named(k.window, "commitmentBox")
    ui.tap_named(k.window, "submitButton")
    ui.wait_for_item(k.window, "doneScreen", timeout_s=15)
    assert shown()[1] == "完成"


def rect(window: QQuickWindow, name: str) -> QRectF:
    item = ui.wait_for_item(window, name)
    return QRectF(item.mapToScene(QPointF(0, 0)), item.mapToScene(QPointF(item.width(), item.height())))


@pytest.mark.parametrize("code", [JZZ, LNYD])  # with a materials step and without
def test_no_two_consecutive_forward_buttons_share_a_spot(kiosk: Kiosk, code: str) -> None:
    k = kiosk
    ui.tap_named(k.window, "startButton")
    ui.wait_for_item(k.window, "homeScreen")
    k.home.openItem(code)
    forward = [("item", rect(k.window, "chooseItemButton"))]
    ui.tap_named(k.window, "chooseItemButton")
    ui.wait_for_item(k.window, "identifyScreen")
    forward.append(("identify", rect(k.window, "manualButton").united(rect(k.window, "photoButton"))))
    ui.tap_named(k.window, "manualButton")
    ui.wait_for_item(k.window, "formScreen")
    forward.append(("form", rect(k.window, "formNextButton")))
    for row in k.form.formFields.rows:
        if row["isRequired"] and not row["options"]:
            value = {"name": "周九", "id_number": "11010519491231002X", "phone": "13800138000",
                     "date": "1949-12-31"}.get(row["kind"], "北京市")
            ui.enter_text(k.window, row["objName"], value)
        elif row["isRequired"]:
            ui.tap_named(k.window, f"{row['objName']}_option_{row['options'][0]['value']}")
    ui.tap_named(k.window, "formNextButton")
    if code == JZZ:
        ui.wait_for_item(k.window, "materialsScreen")
        forward.append(("materials", rect(k.window, "materialsNextButton")))
        ui.tap_named(k.window, "missing_0")
        k.materials.captureMaterial(1)
        ui.process_events_until(lambda: k.materials.materials.rows[1]["mstate"] == "captured", 10)
        ui.tap_named(k.window, "materialsNextButton")
    ui.wait_for_item(k.window, "deliveryScreen")
    forward.append(("delivery", rect(k.window, "deliveryNextButton")))
    ui.tap_named(k.window, "deliveryNextButton")
    ui.wait_for_item(k.window, "reviewScreen")
    forward.append(("review", rect(k.window, "submitButton")))
    ui.tap_named(k.window, "commitmentBox")
    ui.tap_named(k.window, "submitButton")
    ui.wait_for_item(k.window, "doneScreen", timeout_s=15)
    forward.append(("done", rect(k.window, "finishButton")))
    for (a, ra), (b, rb) in itertools.pairwise(forward):
        assert not ra.intersects(rb), f"{a} and {b}: forward buttons in the same spot ({ra}, {rb})"
