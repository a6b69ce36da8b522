"""The screens a resident sees when the machine cannot take applications: paused above the store's
high-water mark (with the reason), and maintenance when the central says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtQuick import QQuickWindow

from kiosk import automation as ui
from kiosk.app import journey_of
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Limits, Outbox
from tests.journey_kit import LNYD, close_kiosk, open_kiosk, tap_until

FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "吴九"}]


@pytest.fixture
def small_outbox(kiosk_home: Path, device: DeviceConfig) -> Iterator[Outbox]:
    ob = Outbox(kiosk_home / OUTBOX_FILE, Limits(max_undelivered=2))
    yield ob
    ob.close()


@pytest.fixture
def window(qapp: Any, tmp_path: Path, small_outbox: Outbox, device: DeviceConfig) -> Iterator[QQuickWindow]:
    k = open_kiosk(tmp_path, small_outbox, device, hardware=False)
    yield k.window
    close_kiosk(k)


def test_full_store_pauses_before_the_resident_types(window: QQuickWindow, small_outbox: Outbox,
                                                     device: DeviceConfig) -> None:
    for _ in range(2):
        small_outbox.enqueue_submission(device, "X", FIELDS)
    ui.tap_named(window, "startButton")
    ui.wait_for_item(window, "pausedScreen")
    assert ui.wait_for_item(window, "noticeTitle").property("text") == "暂停受理"
    assert "待提交的申请过多" in ui.wait_for_item(window, "noticeText").property("text")
    assert small_outbox.counts()["pending"] == 2  # nothing queued is lost


def test_store_filling_during_the_form_refuses_at_submit(window: QQuickWindow, small_outbox: Outbox,
                                                         device: DeviceConfig) -> None:
    ui.tap_named(window, "startButton")
    tap_until(window, f"itemTile_{LNYD}", lambda: journey_of(window).screen == "item")
    ui.tap_named(window, "chooseItemButton")
    ui.tap_named(window, "manualButton")
    ui.enter_text(window, "nameField", "吴九")
    ui.tap_named(window, "formNextButton")
    ui.tap_named(window, "deliveryNextButton")
    for _ in range(2):  # another process filled the queue meanwhile
        small_outbox.enqueue_submission(device, "X", FIELDS)
    ui.tap_named(window, "commitmentBox")  # 告知承诺
    ui.tap_named(window, "submitButton")
    ui.wait_for_item(window, "pausedScreen")
    assert small_outbox.counts()["pending"] == 2
    assert "待提交的申请过多" in ui.wait_for_item(window, "noticeText").property("text")
    assert not journey_of(window).session.has_personal_data  # the refused resident's data is gone


def test_maintenance_screen_follows_the_state_and_never_interrupts_a_resident(
        window: QQuickWindow, small_outbox: Outbox) -> None:
    vm = journey_of(window)
    ui.tap_named(window, "startButton")
    ui.wait_for_item(window, "homeScreen")
    tap_until(window, f"itemTile_{LNYD}", lambda: journey_of(window).screen == "item")
    ui.wait_for_item(window, "itemScreen")
    small_outbox.set_states({"maintenance": "1", "maintenance_message": "系统升级，预计10:30恢复"})
    vm.refreshStatus()
    ui.process_events_until(lambda: vm.runner.pending == 0)
    assert ui.find_item(window, "itemScreen") is not None  # the resident in the middle keeps going
    ui.tap_named(window, "backButton")
    ui.wait_for_item(window, "homeScreen")
    ui.tap_named(window, "backButton")  # the session ends: the next resident sees the maintenance screen
    vm.refreshStatus()
    ui.wait_for_item(window, "maintenanceScreen")
    assert ui.wait_for_item(window, "noticeText").property("text") == "系统升级，预计10:30恢复"
    small_outbox.set_states({"maintenance": "0"})
    vm.refreshStatus()
    ui.wait_for_item(window, "attractScreen")
