"""Honest states and wording (issue 14 finding 8) and the status lookup by ID card (finding 11).

Before: the done screen said 申请已受理，正在提交 while nothing had reached the platform and kept saying it
after delivery; the ID card just read from its chip was asked for again as a photo; 容缺 was jargon with no
deadline; an optional document read 待提交; a card lookup listed only the applications the central had set
a status for (1 of 3).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtTest import QTest

from drivers.idcard.simulator import SAMPLE_RECORD
from kiosk import automation as ui
from kiosk.catalog.model import Catalog, Material
from kiosk.journey.materials_vm import rongque_deadline
from kiosk.journey.status import save_lookup_key
from sync.daemon import app_status
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol.commands import lookup_tag
from tests.journey_kit import JZZ, Kiosk, close_kiosk, go_to_item, journey_catalog, open_kiosk


def id_card_catalog() -> Catalog:
    """居住证申领 that also lists the ID card and an optional document, as the shipped catalogue does."""
    base = journey_catalog()
    jzz = base.item(JZZ)
    materials = (Material("id_card", "居民身份证", "Resident ID card", True, elicence=("居民身份证",)),
                 *jzz.materials,
                 Material("photo_extra", "近期照片", "Recent photo", False))
    return dataclasses.replace(base, items=tuple(dataclasses.replace(it, materials=materials) if it.code == JZZ
                                                 else it for it in base.items))


@pytest.fixture
def kiosk(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[Kiosk]:
    k = open_kiosk(tmp_path, outbox, device, catalog=id_card_catalog())
    yield k
    close_kiosk(k)


def to_materials(k: Kiosk) -> None:
    go_to_item(k, JZZ)
    ui.wait_for_item(k.window, "identifyScreen")
    k.idcard_sim.place_card(SAMPLE_RECORD)
    ui.wait_for_item(k.window, "formScreen", timeout_s=10)
    ui.enter_text(k.window, "field_phone", "13800138000")
    ui.tap_named(k.window, "formNextButton")
    ui.wait_for_item(k.window, "materialsScreen")


def test_materials_say_what_is_true(kiosk: Kiosk) -> None:
    k = kiosk
    to_materials(k)
    rows = k.materials.materials.rows
    # The ID card was read from its chip: 免提交, nothing to photograph.
    assert rows[0]["mstate"] == "exempt" and rows[0]["stateText"] == "免提交：本机已读取"
    assert ui.find_item(k.window, "capture_0") is None
    # An optional document is not 待提交.
    assert rows[3]["stateText"] == "可选，可以不交" and "待提交" not in rows[3]["stateText"]
    # 容缺 in plain words: what, where, by when.
    assert ui.wait_for_item(k.window, "missing_1").property("text") == "暂时没带，先办理以后补交"
    ui.tap_named(k.window, "missing_1")
    d = rongque_deadline()
    by = f"{d.year}年{d.month}月{d.day}日"
    assert k.materials.materials.rows[1]["stateText"] == f"容缺：请于 {by} 前带原件到本中心窗口补交"
    assert d.weekday() < 5
    # The error for a missing required document goes as soon as it is given.
    ui.tap_named(k.window, "materialsNextButton")
    assert "居民户口簿" in k.vm.errorText
    ui.tap_named(k.window, "capture_2")
    assert ui.process_events_until(lambda: k.materials.materials.rows[2]["mstate"] == "captured", 10)
    assert k.vm.errorText == ""
    ui.tap_named(k.window, "materialsNextButton")
    ui.wait_for_item(k.window, "deliveryScreen")


def test_every_application_of_a_card_is_listed(kiosk: Kiosk, outbox: Outbox, kiosk_home: Path) -> None:
    k = kiosk
    key = bytes(range(32))
    save_lookup_key(kiosk_home, key)
    receipts = []
    for _ in range(3):  # three applications with the same card at this kiosk
        to_materials(k)
        ui.tap_named(k.window, "missing_1")
        k.materials.captureMaterial(2)
        ui.process_events_until(lambda: k.materials.materials.rows[2]["mstate"] == "captured", 10)
        ui.tap_named(k.window, "materialsNextButton")
        ui.tap_named(k.window, "deliveryNextButton")
        ui.tap_named(k.window, "commitmentBox")
        ui.tap_named(k.window, "submitButton")
        ui.wait_for_item(k.window, "doneScreen", timeout_s=15)
        receipts.append(k.done.receiptNumber)
        k.idcard_sim.remove_card()
        k.vm.endSession()
        ui.wait_for_item(k.window, "attractScreen")
    # The back office set a status for the first one only; the central pushed it down.
    app_status.upsert(outbox, [{"receipt_no": receipts[0], "service_code": JZZ, "status": "processing",
                                "updated_at": time.time() + 1, "lookup_tag": lookup_tag(key, SAMPLE_RECORD.id_number)}])
    ui.tap_named(k.window, "startButton")
    ui.tap_named(k.window, "statusButton")
    ui.wait_for_item(k.window, "statusScreen")
    ui.tap_named(k.window, "statusByCardButton")
    for _ in range(3):  # the reader reports a card once until it sees the slot empty: lift and retry
        k.idcard_sim.place_card(SAMPLE_RECORD)
        if ui.process_events_until(lambda: k.status.statusList.rowCount() > 0, 6):
            break
        k.idcard_sim.remove_card()
        QTest.qWait(600)
    assert ui.process_events_until(lambda: k.status.statusList.rowCount() == 3, 5), k.status.statusText
    rows = {r["receiptNo"]: r["statusText"] for r in k.status.statusList.rows}
    assert rows == {receipts[0]: "办理中", receipts[1]: "已保存在本机，等待联网提交",
                    receipts[2]: "已保存在本机，等待联网提交"}
    # Offline (no central to ask for the card's applications elsewhere), and the screen says so.
    assert k.status.statusText == "110105********002X 名下共 3 件申请\n现在没有联网：只显示在本机办理的申请"


def test_length_limits_are_shown_not_silent(kiosk: Kiosk) -> None:
    k = kiosk
    ui.tap_named(k.window, "startButton")
    ui.tap_named(k.window, "complaintButton")
    ui.wait_for_item(k.window, "complaintScreen")
    ui.enter_text(k.window, "complaintText", "窗口排队太久")
    assert ui.wait_for_item(k.window, "complaintCounter").property("text") == "6/500"
    ui.enter_text(k.window, "complaintText", "久" * 600)  # more than it takes: cut at 500, and it says so
    assert len(ui.wait_for_item(k.window, "complaintText").property("text")) == 500
    assert ui.wait_for_item(k.window, "complaintCounter").property("text") == "已达到最多 500 个字"
    k.vm.endSession()
    go_to_item(k, JZZ)
    ui.wait_for_item(k.window, "identifyScreen")
    k.idcard_sim.place_card(SAMPLE_RECORD)
    ui.wait_for_item(k.window, "formScreen", timeout_s=10)
    ui.enter_text(k.window, "field_phone", "13800138000")
    assert ui.wait_for_item(k.window, "counter_phone").property("text") == "已达到最多 11 个字"
    ui.enter_text(k.window, "field_address", "北京市朝阳区")
    assert ui.wait_for_item(k.window, "counter_address").property("text") == "6/100"
    ui.tap_named(k.window, "formNextButton")
    ui.wait_for_item(k.window, "materialsScreen")
    ui.tap_named(k.window, "missing_1")
    k.materials.captureMaterial(2)
    ui.process_events_until(lambda: k.materials.materials.rows[2]["mstate"] == "captured", 10)
    ui.tap_named(k.window, "materialsNextButton")
    ui.wait_for_item(k.window, "deliveryScreen")
    ui.tap_named(k.window, "deliveryPost")
    ui.enter_text(k.window, "addressField", "北京市朝阳区示例路1号")
    assert ui.wait_for_item(k.window, "addressCounter").property("text") == "11/100"


def test_a_receipt_number_is_found_without_typing_its_dashes(kiosk: Kiosk, outbox: Outbox,
                                                            device: DeviceConfig) -> None:
    k = kiosk
    receipt = outbox.enqueue_submission(device, JZZ, [{"id": "phone", "kind": "phone", "label": "联系电话",
                                                       "value": "13800138000"}]).receipt_no
    ui.tap_named(k.window, "startButton")
    ui.tap_named(k.window, "statusButton")
    ui.wait_for_item(k.window, "statusScreen")
    ui.wait_for_item(k.window, "receiptQrGuide")  # where to hold the receipt's QR code
    typed = receipt.replace("-", "").removeprefix("KR").lower()  # 19 characters, no symbols page
    ui.enter_text(k.window, "receiptField", typed)
    ui.tap_named(k.window, "lookupButton")
    assert ui.process_events_until(lambda: k.status.statusFound, 10), k.vm.errorText
    assert k.status.statusReceipt == receipt
