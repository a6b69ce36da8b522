"""End to end on real parts: taps on the QML screens -> sealed SQLite outbox -> real Mosquitto ->
central database -> ack -> the outbox row turns delivered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtQuick import QQuickWindow

from central.web import queries
from kiosk import automation as ui
from kiosk.app import journey_of, view_model
from kiosk.journey.submission_vm import DoneViewModel
from sync.device import DeviceConfig
from sync.outbox.models import State
from sync.outbox.store import Outbox
from sync.protocol.ids import is_receipt_number
from tests.helpers import Central, wait_until
from tests.journey_kit import LNYD, close_kiosk, open_kiosk, tap_until

NAME = "欧阳娜娜"


@pytest.fixture
def window(qapp: Any, tmp_path: Any, outbox: Outbox, device: DeviceConfig) -> Iterator[QQuickWindow]:
    k = open_kiosk(tmp_path, outbox, device, hardware=False)
    yield k.window
    close_kiosk(k)


def to_form(window: QQuickWindow) -> None:
    """attract -> home -> the item -> its guidance -> identify by hand -> the form."""
    ui.wait_for_item(window, "attractScreen")
    ui.tap_named(window, "startButton")
    ui.wait_for_item(window, "homeScreen")
    tap_until(window, f"itemTile_{LNYD}", lambda: journey_of(window).screen == "item")
    ui.wait_for_item(window, "itemScreen")
    ui.tap_named(window, "chooseItemButton")
    ui.wait_for_item(window, "identifyScreen")
    ui.tap_named(window, "manualButton")
    ui.wait_for_item(window, "formScreen")


def form_to_done(window: QQuickWindow) -> None:
    ui.tap_named(window, "formNextButton")
    ui.wait_for_item(window, "deliveryScreen")
    ui.tap_named(window, "deliveryNextButton")
    ui.wait_for_item(window, "reviewScreen")
    ui.tap_named(window, "commitmentBox")  # 告知承诺
    ui.tap_named(window, "submitButton")
    ui.wait_for_item(window, "doneScreen")


def test_tap_through_submission_reaches_central_and_is_acked(
        window: QQuickWindow, outbox: Outbox, device: DeviceConfig, central: Central, syncd: Any) -> None:
    to_form(window)
    ui.enter_text(window, "nameField", NAME)
    form_to_done(window)
    receipt = ui.wait_for_item(window, "receiptNumber").property("text")
    assert is_receipt_number(receipt) and receipt == view_model(window, DoneViewModel).receiptNumber

    wait_until(lambda: central.store.count() == 1, what="the central to store the submission")
    wait_until(lambda: outbox.counts()[State.ACKED] == 1, what="the ack to mark the row delivered")

    [record] = central.store.list_masked()
    assert record["device_id"] == device.device_id
    assert record["receipt_no"] == receipt
    assert record["fields"][0]["value"] == "欧***"  # masked in listings
    assert NAME not in json.dumps(record, ensure_ascii=False)
    with central.store.engine.connect() as conn:
        assert conn.exec_driver_sql("select fields_json from submissions").scalar_one() is None  # not in clear
    stored = queries.submission_full(central.store, record["id"])  # the central opened the sealed payload
    assert stored is not None and stored["fields"][0]["value"] == NAME  # and encrypted it at rest

    # Back on the kiosk: the body is purged after the ack; the receipt facts stay.
    counts = outbox.counts()
    assert counts == {"pending": 0, "sent": 0, "acked": 1, "rejected": 0}
    ui.tap_named(window, "finishButton")
    ui.wait_for_item(window, "ratingScreen")
    ui.tap_named(window, "skipRatingButton")
    ui.wait_for_item(window, "attractScreen")
    assert view_model(window, DoneViewModel).receiptNumber == ""


def test_empty_name_is_refused_on_screen(window: QQuickWindow, outbox: Outbox) -> None:
    to_form(window)
    ui.tap_named(window, "formNextButton")
    error = ui.wait_for_item(window, "errorText")
    assert "申请人姓名" in error.property("text")
    assert outbox.counts()["pending"] == 0
    assert ui.find_item(window, "formScreen") is not None


def test_personal_data_never_touches_the_kiosk_disk_in_clear(
        window: QQuickWindow, outbox: Outbox, kiosk_home: Any) -> None:
    to_form(window)
    ui.enter_text(window, "nameField", NAME)
    form_to_done(window)
    needles = [NAME.encode(enc) for enc in ("utf-8", "utf-16-le", "gb18030")]
    files = [f for f in kiosk_home.rglob("*") if f.is_file()]  # secrets/ (the device key) included
    assert any(f.name == "outbox.db" for f in files)
    for f in files:
        data = f.read_bytes()
        for needle in needles:
            assert needle not in data, f"{f.name} holds the resident's name in clear"
