"""The resident's journeys on real QML, simulated hardware (ID-card reader on a pty, cameras, printer)
and the real SQLite outbox: ID card, e-licence QR, camera photo, 容缺, post, rating, complaint, status."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.idcard.simulator import SAMPLE_RECORD
from kiosk import automation as ui
from kiosk.hardware import DOCUMENT, SCANNER
from sync.device import DeviceConfig
from sync.outbox.models import OutboxMessage
from sync.outbox.store import Outbox
from sync.protocol.envelope import Envelope
from tests.journey_kit import JZZ, LNYD, Kiosk, close_kiosk, fill_required, go_to_item, open_kiosk, qr_frame, tap_until

FULL_ID = SAMPLE_RECORD.id_number


@pytest.fixture
def kiosk(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[Kiosk]:
    k = open_kiosk(tmp_path, outbox, device)
    yield k
    close_kiosk(k)


def visible_texts(k: Kiosk) -> str:
    out = []
    stack = [k.window.contentItem()]
    while stack:
        item = stack.pop()
        if item.isVisible():
            text = item.property("text")
            if isinstance(text, str):
                out.append(text)
            stack.extend(item.childItems())
    return "\n".join(out)


def rows(outbox: Outbox, kind: str) -> list[OutboxMessage]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    with Session(outbox.engine) as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def test_id_card_journey_prefills_masks_captures_and_prints(kiosk: Kiosk, outbox: Outbox,
                                                             tmp_path: Path) -> None:
    k, vm = kiosk, kiosk.vm
    go_to_item(k, JZZ)
    ui.wait_for_item(k.window, "identifyScreen")
    k.idcard_sim.place_card(SAMPLE_RECORD)
    ui.wait_for_item(k.window, "formScreen", timeout_s=10)
    assert k.hw is not None and k.hw.idcard is not None
    assert threading.main_thread().ident not in k.hw.idcard.read_threads  # read off the UI thread
    banner = ui.wait_for_item(k.window, "identityBanner").property("text")
    assert "110105********002X" in banner and SAMPLE_RECORD.name in banner
    assert FULL_ID not in visible_texts(k)  # the full number is never on screen
    assert "老年人优待证申领" in ui.wait_for_item(k.window, "hintsText").property("text")  # born 1949
    values = {r["fieldId"]: r["value"] for r in k.form.formFields.rows}
    assert values["applicant_name"] == SAMPLE_RECORD.name and values["sex"] == "女"
    assert values["birth_date"] == "1949-12-31" and values["address"] == SAMPLE_RECORD.address
    ui.tap_named(k.window, "formNextButton")  # the phone is still missing
    assert "联系电话" in ui.wait_for_item(k.window, "errorText").property("text")
    ui.enter_text(k.window, "field_phone", "12345")
    ui.tap_named(k.window, "formNextButton")
    assert "11位" in ui.wait_for_item(k.window, "errorText").property("text")
    ui.enter_text(k.window, "field_phone", "13800138000")
    ui.tap_named(k.window, "formNextButton")

    ui.wait_for_item(k.window, "materialsScreen")
    assert ui.process_events_until(lambda: k.materials.previewFrame > 0, 10)  # the document camera's live preview
    ui.tap_named(k.window, "materialsNextButton")
    assert "居住证明" in ui.wait_for_item(k.window, "errorText").property("text")
    ui.tap_named(k.window, "capture_0")
    assert ui.process_events_until(lambda: k.materials.materials.rows[0]["mstate"] == "captured", 10)
    tap_until(k.window, "retake_0", lambda: k.materials.materials.rows[0]["mstate"] == "needed")
    tap_until(k.window, "capture_0", lambda: k.materials.materials.rows[0]["mstate"] == "captured")
    ui.tap_named(k.window, "capture_1")
    assert ui.process_events_until(lambda: k.materials.materials.rows[1]["mstate"] == "captured", 10)
    ui.tap_named(k.window, "materialsNextButton")

    ui.wait_for_item(k.window, "deliveryScreen")
    ui.tap_named(k.window, "deliveryNextButton")
    ui.wait_for_item(k.window, "reviewScreen")
    ui.tap_named(k.window, "commitmentBox")  # 告知承诺
    ui.tap_named(k.window, "submitButton")
    ui.wait_for_item(k.window, "doneScreen", timeout_s=15)
    receipt = ui.wait_for_item(k.window, "receiptNumber").property("text")
    assert receipt == k.done.receiptNumber
    qr = ui.wait_for_item(k.window, "receiptQr")
    assert ui.process_events_until(lambda: qr.implicitWidth() > 0, 5)  # the QR image loaded
    assert ui.process_events_until(lambda: k.done.printState == "printed", 10)
    printed = (tmp_path / "hw" / "printer" / "receipts.txt").read_text(encoding="utf-8")
    assert receipt in printed and FULL_ID not in printed and SAMPLE_RECORD.name not in printed
    [sub] = rows(outbox, "submission")
    assert sub.receipt_no == receipt
    assert len(rows(outbox, "attachment")) == 2  # two photos, sealed and chunked
    assert not vm.session.has_personal_data  # wiped at submit
    assert k.form.formFields.rowCount() == 0 and k.materials.materials.rowCount() == 0


def test_elicence_qr_identifies_and_replaces_a_paper_material(kiosk: Kiosk, outbox: Outbox) -> None:
    k = kiosk
    go_to_item(k, JZZ)
    ui.wait_for_item(k.window, "identifyScreen")
    now = int(time.time())  # codes shown fresh: older than 20 minutes they are refused
    k.camera(SCANNER).show(qr_frame(f"ezz://licence?type=idcard&id={FULL_ID}&issuer=110000&ts={now}"))
    ui.wait_for_item(k.window, "formScreen", timeout_s=15)
    k.camera(SCANNER).resume()
    assert k.form.identitySource == "qr" and k.form.identityIdMasked == "110105********002X"
    id_row = next(r for r in k.form.formFields.rows if r["fieldId"] == "id_number")
    assert id_row["locked"] and id_row["shown"] == "110105********002X"
    sex = next(r for r in k.form.formFields.rows if r["fieldId"] == "sex")
    assert sex["value"] == "女"  # derived from the number
    fill_required(k)  # name, address, phone: not in the code
    ui.tap_named(k.window, "formNextButton")
    ui.wait_for_item(k.window, "materialsScreen")
    ui.tap_named(k.window, "scan_1")
    assert k.materials.waitingForLicence
    k.camera(SCANNER).show(qr_frame(f"ezz://licence?type=hukou&id=HK20261127&issuer=110000&ts={now}"))
    assert ui.process_events_until(lambda: k.materials.materials.rows[1]["mstate"] == "elicence", 15)
    k.camera(SCANNER).resume()
    # 容缺: the proof of residence comes later
    tap_until(k.window, "missing_0", lambda: k.materials.materials.rows[0]["mstate"] == "missing")
    ui.tap_named(k.window, "materialsNextButton")
    ui.wait_for_item(k.window, "deliveryScreen")
    ui.tap_named(k.window, "deliveryNextButton")
    ui.tap_named(k.window, "commitmentBox")  # 告知承诺
    ui.tap_named(k.window, "submitButton")
    ui.wait_for_item(k.window, "doneScreen", timeout_s=15)
    assert rows(outbox, "attachment") == []  # nothing photographed


def test_camera_photo_identity_or_a_clear_unavailable_state(kiosk: Kiosk) -> None:
    k, vm = kiosk, kiosk.vm
    go_to_item(k, LNYD)
    ui.wait_for_item(k.window, "identifyScreen")
    assert k.hw is not None
    if not k.hw.has_ocr:
        ui.tap_named(k.window, "photoButton")
        status = ui.wait_for_item(k.window, "identifyStatusText").property("text")
        assert status == vm.s["identifyPhotoUnavailable"]
        assert ui.find_item(k.window, "identifyScreen") is not None
        return
    import numpy as np

    from drivers.ocr import synth

    card = synth.render_card(synth.SAMPLE_CARD, np.random.default_rng(3))
    frame = synth.place_in_frame(card, np.random.default_rng(3), synth.FrameParams(severity=0.0))
    cam = k.camera(DOCUMENT)
    cam.show(frame)
    assert ui.process_events_until(lambda: np.array_equal(cam.latest(), frame), 5)
    ui.tap_named(k.window, "photoButton")
    # OCR runs off the UI thread
    assert ui.process_events_until(lambda: vm.screen == "form" or not k.identify.identifyBusy, 90)
    assert vm.screen == "form", k.identify.identifyStatus
    assert k.form.identitySource == "camera"
    assert k.form.identityIdMasked == "110105********002X"


def test_postal_delivery_needs_address_and_phone(kiosk: Kiosk, outbox: Outbox) -> None:
    k, vm = kiosk, kiosk.vm
    go_to_item(k, JZZ)
    k.idcard_sim.place_card(SAMPLE_RECORD)
    ui.wait_for_item(k.window, "formScreen", timeout_s=10)
    fill_required(k)
    ui.tap_named(k.window, "formNextButton")
    ui.wait_for_item(k.window, "materialsScreen")
    tap_until(k.window, "missing_0", lambda: k.materials.materials.rows[0]["mstate"] == "missing")
    tap_until(k.window, "capture_1", lambda: k.materials.materials.rows[1]["mstate"] == "captured")
    ui.tap_named(k.window, "materialsNextButton")
    ui.wait_for_item(k.window, "deliveryScreen")
    tap_until(k.window, "deliveryPost", lambda: k.delivery.deliveryMethod == "post")
    address = ui.wait_for_item(k.window, "addressField")
    assert address.property("text") == SAMPLE_RECORD.address  # prefilled from the card
    ui.tap_named(k.window, "deliveryNextButton")
    assert ui.wait_for_item(k.window, "errorText").property("text") == vm.s["errAddress"]
    ui.enter_text(k.window, "phoneField", "13900001111")
    tap_until(k.window, "deliveryNextButton", lambda: vm.screen == "review")  # the keyboard moved it
    ui.wait_for_item(k.window, "reviewScreen")
    review = {r["label"]: r["value"] for r in k.review.review.rows}
    assert review["领取方式"] == "邮寄到家" and review["联系电话"] == "13900001111"
    assert review["身份证号"] == "110105********002X"
    ui.tap_named(k.window, "commitmentBox")  # 告知承诺
    ui.tap_named(k.window, "submitButton")
    ui.wait_for_item(k.window, "doneScreen", timeout_s=15)


def _open_rating(k: Kiosk) -> None:
    go_to_item(k, LNYD)
    ui.tap_named(k.window, "manualButton")
    ui.enter_text(k.window, "nameField", "赵六")
    ui.tap_named(k.window, "formNextButton")
    ui.tap_named(k.window, "deliveryNextButton")
    ui.tap_named(k.window, "commitmentBox")  # 告知承诺
    ui.tap_named(k.window, "submitButton")
    ui.wait_for_item(k.window, "doneScreen")
    ui.tap_named(k.window, "finishButton")
    ui.wait_for_item(k.window, "ratingScreen")


def test_bad_rating_asks_a_reason_and_seals_it(kiosk: Kiosk, outbox: Outbox) -> None:
    k, vm = kiosk, kiosk.vm
    _open_rating(k)
    texts = [ui.wait_for_item(k.window, f"rate_{n}").property("text") for n in range(1, 6)]
    assert texts == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    ui.tap_named(k.window, "rate_4")
    ui.tap_named(k.window, "submitRatingButton")
    assert ui.wait_for_item(k.window, "errorText").property("text") == vm.s["errReason"]
    assert rows(outbox, "event") == []
    ui.tap_named(k.window, "reason_reasonSlow")
    ui.enter_text(k.window, "reasonText", "排队等了很久")
    tap_until(k.window, "submitRatingButton", lambda: ui.find_item(k.window, "thanksScreen") is not None)
    assert ui.process_events_until(lambda: len(rows(outbox, "event")) == 1, 5)
    [event] = rows(outbox, "event")
    assert event.body is not None
    env = Envelope.from_bytes(event.body)
    assert env.meta["type"] == "rating" and env.meta["level"] == "dissatisfied" and env.meta["score"] == 2
    assert env.meta["needs_followup"] is True and env.meta["service_code"] == LNYD
    assert env.sealed  # the reason travels sealed for the central
    body = event.body.decode("utf-8")
    assert "排队" not in body and "办理太慢" not in body
    ui.tap_named(k.window, "thanksHomeButton")
    ui.wait_for_item(k.window, "attractScreen")


def test_good_rating_needs_one_tap(kiosk: Kiosk, outbox: Outbox) -> None:
    _open_rating(kiosk)
    ui.tap_named(kiosk.window, "rate_1")
    ui.wait_for_item(kiosk.window, "thanksScreen")
    assert ui.process_events_until(lambda: len(rows(outbox, "event")) == 1, 5)
    env = Envelope.from_bytes(rows(outbox, "event")[0].body or b"")
    assert env.meta["level"] == "very_satisfied" and env.meta["score"] == 5 and not env.sealed


def test_complaint_is_queued_sealed(kiosk: Kiosk, outbox: Outbox) -> None:
    k = kiosk
    ui.tap_named(k.window, "startButton")
    ui.tap_named(k.window, "complaintButton")
    ui.wait_for_item(k.window, "complaintScreen")
    ui.tap_named(k.window, "submitComplaintButton")
    assert ui.wait_for_item(k.window, "errorText").property("text") == k.vm.s["errComplaint"]
    kind = ui.wait_for_item(k.window, "complaintKind_complaint")
    tap_until(k.window, "complaintKind_complaint", lambda: bool(kind.property("checkedLook")))
    ui.enter_text(k.window, "complaintText", "自助机旁边的椅子不够")
    ui.enter_text(k.window, "complaintPhone", "13700002222")
    tap_until(k.window, "submitComplaintButton", lambda: k.vm.screen == "thanks")
    ui.wait_for_item(k.window, "thanksScreen")
    assert ui.process_events_until(lambda: len(rows(outbox, "event")) == 1, 5)
    body = rows(outbox, "event")[0].body or b""
    env = Envelope.from_bytes(body)
    assert env.meta["type"] == "complaint" and env.meta["category"] == "complaint" and env.sealed
    assert "椅子" not in body.decode() and "13700002222" not in body.decode()


def test_search_by_pinyin_initials_and_categories(kiosk: Kiosk) -> None:
    k = kiosk
    ui.tap_named(k.window, "startButton")
    ui.wait_for_item(k.window, "homeScreen")
    ui.enter_text(k.window, "searchField", "jzz")
    assert [r["code"] for r in k.home.catalogItems.rows] == [JZZ]
    assert ui.find_item(k.window, f"itemTile_{LNYD}") is None
    ui.enter_text(k.window, "searchField", "没有这个事项")
    ui.wait_for_item(k.window, "noResults")
    ui.tap_named(k.window, "category_mz")
    assert [r["code"] for r in k.home.catalogItems.rows] == [LNYD]


def test_status_lookup_by_receipt_and_by_card(kiosk: Kiosk, outbox: Outbox, device: DeviceConfig) -> None:
    k, vm = kiosk, kiosk.vm
    receipt = outbox.enqueue_submission(device, LNYD, [{"id": "applicant_name", "kind": "name",
                                                        "label": "申请人姓名", "value": "钱七"}]).receipt_no
    ui.tap_named(k.window, "startButton")
    ui.tap_named(k.window, "statusButton")
    ui.wait_for_item(k.window, "statusScreen")
    ui.enter_text(k.window, "receiptField", "KR-123")
    ui.tap_named(k.window, "lookupButton")
    assert ui.wait_for_item(k.window, "errorText").property("text") == vm.s["errReceipt"]
    k.camera(SCANNER).show(qr_frame(receipt))  # the QR printed on the receipt
    assert ui.process_events_until(lambda: k.status.statusFound, 15)
    k.camera(SCANNER).resume()
    assert ui.wait_for_item(k.window, "statusText").property("text") == "已保存在本机，等待联网提交"
    assert "信息更新于" in ui.wait_for_item(k.window, "statusAge").property("text")
    outbox.mark_sent([rows(outbox, "submission")[0].id])
    outbox.mark_acked([rows(outbox, "submission")[0].id])
    ui.enter_text(k.window, "receiptField", receipt)
    ui.tap_named(k.window, "lookupButton")
    assert ui.process_events_until(lambda: k.status.statusText == "已送达政务服务平台，等待审核", 5)
    # The button moves when the status text above it appears: tap until the tap lands.
    tap_until(k.window, "statusByCardButton", lambda: k.status.statusText == vm.s["statusByCardUnavailable"])


def test_payload_json_is_what_the_central_opens(kiosk: Kiosk, outbox: Outbox) -> None:
    """Materials and delivery travel inside the sealed payload: nothing of them in the clear meta."""
    _open_rating(kiosk)
    [sub] = rows(outbox, "submission")
    env = Envelope.from_bytes(sub.body or b"")
    assert set(env.meta) >= {"service_code", "receipt_no"}
    assert "赵六" not in json.dumps(env.meta, ensure_ascii=False)
