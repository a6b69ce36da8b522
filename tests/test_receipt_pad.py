"""The receipt-number field of 我的申请 is typed on a pad of exactly the characters a receipt number holds
(0-9, A-Z; sync/protocol/ids.py), never the virtual keyboard; KR- and the dashes are put in for the resident."""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QGuiApplication

from kiosk import automation as ui
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol.ids import is_receipt_number
from tests.journey_kit import Kiosk, close_kiosk, open_kiosk
from tests.test_status_push import ID_A, _receipt


def _names(item: Any) -> set[str]:
    out, stack = set(), [item]
    while stack:
        it = stack.pop()
        out.add(it.objectName())
        stack.extend(it.childItems())
    return out


@pytest.fixture
def kiosk(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[Kiosk]:
    k = open_kiosk(tmp_path, outbox, device, hardware=False)
    yield k
    close_kiosk(k)


def test_the_receipt_pad_types_a_receipt_number_and_looks_it_up(kiosk: Kiosk, outbox: Outbox,
                                                                 device: DeviceConfig) -> None:
    k = kiosk
    receipt = _receipt(outbox, device, ID_A)
    assert is_receipt_number(receipt)
    ui.tap_named(k.window, "startButton")
    ui.tap_named(k.window, "statusButton")
    ui.wait_for_item(k.window, "statusScreen")
    ui.tap_named(k.window, "receiptField")
    pad = ui.wait_for_item(k.window, "receiptPad")
    assert ui.process_events_until(lambda: pad.isVisible(), 3)
    assert not QGuiApplication.inputMethod().isVisible()  # no virtual keyboard, no Pinyin
    keys = {name.removeprefix("receiptPadKey_") for name in _names(pad) if name.startswith("receiptPadKey_")}
    assert keys == set(string.digits + string.ascii_uppercase)  # exactly what a receipt number can hold
    typed = receipt.removeprefix("KR-").replace("-", "")
    assert len(typed) == 19 and set(typed) <= keys
    field = ui.wait_for_item(k.window, "receiptField")
    for i, ch in enumerate(typed):
        ui.tap_named(k.window, f"receiptPadKey_{ch}")
        if i == 7:  # the dashes come by themselves
            assert field.property("text") == f"KR-{typed[:8]}"
        if i == 8:
            assert field.property("text") == f"KR-{typed[:8]}-{typed[8]}"
    assert field.property("text") == receipt
    ui.tap_named(k.window, "receiptPadKey_7")  # a 20th character is not taken
    assert field.property("text") == receipt
    ui.tap_named(k.window, "receiptPadDelete")
    assert field.property("text") == receipt[:-2]  # the check character and the dash before it go
    ui.tap_named(k.window, f"receiptPadKey_{receipt[-1]}")
    ui.tap_named(k.window, "receiptPadDone")
    assert ui.process_events_until(lambda: k.status.statusFound, 10), k.status.statusText
    assert k.status.statusReceipt == receipt and not pad.isVisible()


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 1024), (1080, 1920)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_whole_pad_is_on_screen_in_elder_mode(kiosk: Kiosk, size: tuple[int, int]) -> None:
    """Its last row and 查询 were below the fold at 1920x1080 in elder mode: the title and the QR picture now
    make room while the pad is open, and the instruction in the empty field is no sample number."""
    from PySide6.QtCore import QPointF

    k = kiosk
    k.window.resize(*size)
    k.vm.toggleElderMode()
    assert k.vm.elderMode
    ui.tap_named(k.window, "startButton")
    ui.tap_named(k.window, "statusButton")
    ui.wait_for_item(k.window, "statusScreen")
    field = ui.wait_for_item(k.window, "receiptField")
    assert field.property("placeholderText") == k.vm.s["receiptPlaceholder"]
    ui.tap_named(k.window, "receiptField")
    pad = ui.wait_for_item(k.window, "receiptPad")
    assert ui.process_events_until(lambda: pad.isVisible(), 3)
    ui.process_events_until(lambda: False, 0.3)  # laid out
    for name in ("receiptPadKey_1", "receiptPadDelete", "receiptPadDone"):
        item = ui.wait_for_item(k.window, name)
        bottom = item.mapToScene(QPointF(0, item.height())).y()
        assert bottom <= size[1] - 100, (name, bottom)  # above the 返回 row, with nothing to scroll


def test_a_wrong_number_is_said_right_under_the_field(kiosk: Kiosk) -> None:
    from PySide6.QtCore import QPointF

    k = kiosk
    k.window.resize(1080, 1920)
    ui.tap_named(k.window, "startButton")
    ui.tap_named(k.window, "statusButton")
    ui.wait_for_item(k.window, "statusScreen")
    ui.tap_named(k.window, "receiptField")
    for ch in "20260":
        ui.tap_named(k.window, f"receiptPadKey_{ch}")
    ui.tap_named(k.window, "receiptPadDone")
    error = ui.wait_for_item(k.window, "errorText")
    assert ui.process_events_until(lambda: error.isVisible() and error.property("text") == k.vm.s["errReceipt"], 5)
    field = ui.wait_for_item(k.window, "receiptField")
    assert field.property("invalid") is True
    def gap() -> float:
        return error.mapToScene(QPointF(0, 0)).y() - field.mapToScene(QPointF(0, field.height())).y()

    # (the pad closing brings the QR picture back above: the column lays out again)
    assert ui.process_events_until(lambda: 0 <= gap() < 120, 3), gap()
