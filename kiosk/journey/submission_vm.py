"""Delivery (领取方式), review with the 告知承诺 confirmation and the submission, and the done screen
whose wording follows what really happened: "已保存，正在提交" until the central acknowledged the
application, then "已提交至政务服务平台" (never 已受理: the department accepts it later)."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Property, QObject, QTimer, Signal, Slot
from PySide6.QtQml import QmlElement

from drivers.camera.photo import photo_type
from kiosk.journey import catalog_view as cv
from kiosk.journey import face_record
from kiosk.journey import receipt as receipt_printing
from kiosk.journey import signature as sig
from kiosk.journey.evidence import evidence
from kiosk.journey.materials_vm import material_state_text
from kiosk.journey.models import RowListModel
from kiosk.journey.session_service import JourneySession, ScreenViewModel
from kiosk.journey.signature_vm import commitment_text
from kiosk.journey.status import ApplicationStatus, lookup, record_own, submission_tag
from kiosk.journey.validation import MAX_FIELD, PHONE
from sync.outbox.models import State
from sync.outbox.store import Attachment, OutboxFull, Receipt
from sync.protocol.masking import mask_id_number

QML_IMPORT_NAME = "Kiosk"
QML_IMPORT_MAJOR_VERSION = 1

log = logging.getLogger("kiosk.journey")


@QmlElement
class DeliveryViewModel(ScreenViewModel):
    deliveryChanged = Signal()
    optionsChanged = Signal()

    def __init__(self, parent: QObject | None = None, session: JourneySession | None = None) -> None:
        super().__init__(parent, session)
        self._js.deliveryChanged.connect(self.deliveryChanged)
        self._js.itemChanged.connect(self.optionsChanged)

    @Property(str, notify=deliveryChanged)
    def deliveryMethod(self) -> str:
        return self._js.data.delivery

    @Property(str, notify=deliveryChanged)
    def deliveryAddress(self) -> str:
        return self._js.data.delivery_address

    @Property(str, notify=deliveryChanged)
    def deliveryPhone(self) -> str:
        return self._js.data.delivery_phone

    @Property(int, constant=True)
    def addressLimit(self) -> int:
        return MAX_FIELD

    @Property(list, notify=optionsChanged)
    def deliveryOptions(self) -> list[str]:
        return list(cv.item_delivery(self._js.item))

    @Slot(str)
    def setDelivery(self, method: str) -> None:
        if method in cv.item_delivery(self._js.item):
            self._js.data.delivery = method
            self._js.set_error("")
            self._js.deliveryChanged.emit()

    @Slot(str)
    def setDeliveryAddress(self, text: str) -> None:
        self._js.data.delivery_address = text  # no notify: the field holds the text
        if self._js.error and self._problem() == "":
            self._js.set_error("")

    @Slot(str)
    def setDeliveryPhone(self, text: str) -> None:
        self._js.data.delivery_phone = text
        if self._js.error and self._problem() == "":
            self._js.set_error("")

    def _problem(self) -> str:
        d, s = self._js.data, self._js.s
        if d.delivery != "post":
            return ""
        address, phone = d.delivery_address.strip(), d.delivery_phone.strip()
        if not address or not phone:
            return s["errAddress"]
        if len(address) > MAX_FIELD:
            return s["errTooLongN"].format(label=s["deliveryAddress"], max=MAX_FIELD, n=len(address))
        if not PHONE.fullmatch(phone):
            return s["errPhone"].format(label=s["deliveryPhone"])
        return ""

    @Slot()
    def deliveryNext(self) -> None:
        js = self._js
        if js.screen != "delivery":
            return
        d = js.data
        if d.delivery == "post":
            d.delivery_address, d.delivery_phone = d.delivery_address.strip(), d.delivery_phone.strip()
        problem = self._problem()
        js.set_error(problem)
        if not problem:
            js.set_screen("review")


@QmlElement
class ReviewViewModel(ScreenViewModel):
    """The review screen: everything once more, the typed ID number in full, and submission only after
    the resident ticked 告知承诺 ("本人承诺所填信息真实有效")."""

    commitmentChanged = Signal()
    itemTextChanged = Signal()

    def __init__(self, parent: QObject | None = None, session: JourneySession | None = None) -> None:
        super().__init__(parent, session)
        self._committed = False
        self.review_model = RowListModel(("label", "value", "masked"), self)
        self._js.screenChanged.connect(self._screen_changed)
        self._js.langChanged.connect(self._refill)
        self._js.wiped.connect(self.review_model.clear)
        self._js.submitRequested.connect(self.submit)  # the signing screen confirmed the signature
        self._js.itemChanged.connect(self.itemTextChanged)
        self._js.langChanged.connect(self.itemTextChanged)

    @Property(QObject, constant=True)
    def review(self) -> RowListModel:
        return self.review_model

    @Property(bool, notify=commitmentChanged)
    def committed(self) -> bool:
        return self._committed

    @Property(str, notify=itemTextChanged)
    def commitmentText(self) -> str:
        """The item's own 告知承诺 (catalogue ``commitment``), else 本人承诺所填信息真实有效."""
        return commitment_text(self._js)

    @Property(bool, notify=itemTextChanged)
    def needsSignature(self) -> bool:
        """The item asks for a signature (catalogue ``signature``): 下一步：签名 instead of 提交申请."""
        return self._js.item.signature

    @Slot(bool)
    def setCommitted(self, on: bool) -> None:
        if on != self._committed:
            self._committed = on
            if on and self._js.error == self._js.s["errCommitment"]:
                self._js.set_error("")
            self.commitmentChanged.emit()

    def _screen_changed(self) -> None:
        if self._js.screen == "review":
            self.setCommitted(False)  # every visit of the review asks for the promise again
            self._fill()

    def _refill(self) -> None:
        if self._js.screen == "review":
            self._fill()

    def _fill(self) -> None:
        js = self._js
        rows = []
        for f in js.item.fields:
            value = js.data.values.get(f.id, "")
            # A number read from the card (chip, code, photo) stays masked 6+4; one typed by hand is shown in
            # full so the resident can check it digit by digit before submitting.
            ident = js.data.identity
            masked = f.kind == "id_number" and bool(value) and ident is not None and value == ident.id_number
            shown = mask_id_number(value) if masked else value
            for o in cv.field_options(f, js.lang):
                if o["value"] == value:
                    shown = o["label"]
            rows.append({"label": cv.field_label(f, js.lang), "value": shown, "masked": masked})
        for m in js.data.materials:
            rows.append({"label": m.name_en if js.lang == "en" else m.name_zh,
                         "value": material_state_text(js.s, js.lang, m),
                         "masked": False})
        d = js.data
        rows.append({"label": js.s["deliveryTitle"], "masked": False,
                     "value": js.s["deliveryPost"] if d.delivery == "post" else js.s["deliveryOnsite"]})
        if d.delivery == "post":
            rows.append({"label": js.s["deliveryAddress"], "value": d.delivery_address, "masked": False})
            rows.append({"label": js.s["deliveryPhone"], "value": d.delivery_phone, "masked": False})
        self.review_model.set_rows(rows)

    @Slot()
    def submit(self) -> None:
        js = self._js
        if js.busy or js.screen not in ("review", "sign"):
            return
        if not self._committed:
            js.set_error(js.s["errCommitment"])
            return
        js.set_error("")
        if js.item.signature and sig.SESSION_KEY not in js.data.extra:
            js.set_screen("sign")  # the promise is ticked: now it is signed (signature_vm)
            return
        js.set_busy(True)
        fields, attachments = payload(js)
        code, submitter = js.item.code, js.submitter

        def work() -> Receipt:
            receipt = submitter.submit(code, fields, attachments)
            try:  # so "查询办理进度" by ID card lists it at once (kiosk.journey.status.record_own)
                record_own(submitter.outbox, receipt.receipt_no, code,
                           submission_tag(submitter.outbox.path.parent, fields))
            except Exception as exc:  # the application is queued; a missing lookup entry must not undo that
                log.warning("lookup entry not recorded: %s", type(exc).__name__)
            return receipt

        js.runner.run(work, self._submitted, self._failed)

    def _submitted(self, receipt: Receipt) -> None:
        js = self._js
        js.set_busy(False)
        rongque = [m.name_zh for m in js.data.materials if m.state == "missing"]
        js.receipt = receipt
        js.submitted_online = js.online
        # For the printed receipt (kiosk.journey.receipt): only what it prints, the name already masked.
        js.receipt_details = {"rongque": rongque, "item": js.item.code,
                              "rongque_en": [m.name_en for m in js.data.materials if m.state == "missing"],
                              "applicant": receipt_printing.masked_applicant(js)}
        # Submitted: the resident's data is in the sealed outbox; forget it here at once.
        js.wipe_personal()
        js.receiptChanged.emit()
        log.info("submission queued (seq %d)", receipt.seq)
        js.set_screen("done")

    def _failed(self, error: BaseException) -> None:
        js = self._js
        js.set_busy(False)
        if isinstance(error, OutboxFull):
            log.warning("submission refused: %s", error.code)
            js.wipe_personal()  # it cannot be taken here: do not keep the resident's data either
            js.set_notice(error.message)
            js.set_screen("paused")
            return
        log.error("submission could not be queued: %s", type(error).__name__)
        js.set_error(js.s["errSave"])


def payload(js: JourneySession) -> tuple[list[dict[str, Any]], list[Attachment]]:
    """The sealed submission: the fields in Chinese labels, the materials and the delivery."""
    d = js.data
    fields: list[dict[str, Any]] = [
        {"id": f.id, "kind": f.kind, "label": f.label_zh, "value": d.values.get(f.id, "")} for f in js.item.fields]
    if d.identity is not None:
        fields.append({"id": "identity_source", "kind": "meta", "label": "身份核验方式", "value": d.identity.source})
    if d.extra.get("eid_token"):
        fields.append({"id": "eid_token", "kind": "token", "label": "电子身份证", "value": d.extra["eid_token"]})
    attachments: list[Attachment] = []
    source = d.identity.source if d.identity else None
    for m in d.materials:
        entry: dict[str, Any] = {"id": f"material_{m.id}", "kind": "material", "label": m.name_zh, "value": m.state}
        level, basis = evidence(m, source)
        if level:  # 国办函〔2016〕108号: how it was obtained (kiosk.journey.evidence)
            entry["evidence"], entry["evidence_basis"] = level, basis
        if m.state == "captured" and m.photo:
            entry["file"] = len(attachments)
            content_type, extension = photo_type(m.photo)  # WebP since issue 21; older sessions' JPEGs still pass
            attachments.append(Attachment(f"{m.id}{extension}", content_type, m.photo))
        elif m.state == "elicence":
            entry["licence"] = m.licence
        elif m.state == "missing":
            entry["rongque"] = True  # 容缺受理: to be handed in later
        elif m.state == "exempt":
            entry["exempt"] = d.identity.source if d.identity else True  # 免提交: read by the kiosk itself
        elif m.state == "declared":
            entry["declared"] = True  # 本人承诺代替: covered by the signed commitment
        fields.append(entry)
    if js.item.face_check:  # 人证核验: pass / fail / not done with its band; the face image only if the item keeps it
        face = d.extra.get(face_record.SESSION_KEY)
        face = face if isinstance(face, face_record.FaceRecord) else face_record.not_done("other_id")
        image_file = None
        if js.item.face_image and face.image_png:
            image_file = len(attachments)
            attachments.append(Attachment("face.png", "image/png", face.image_png))
        fields.append(face_record.payload_entry(face, image_file))
    signature = d.extra.get(sig.SESSION_KEY)
    if isinstance(signature, sig.Signature):
        fields.append(sig.payload_entry(signature, len(attachments)))
        attachments.append(Attachment("signature.png", "image/png", signature.png))
    fields.append({"id": "delivery_method", "kind": "choice", "label": "领取方式", "value": d.delivery})
    if d.delivery == "post":
        fields.append({"id": "delivery_address", "kind": "address", "label": "邮寄地址", "value": d.delivery_address})
        fields.append({"id": "delivery_phone", "kind": "phone", "label": "联系电话", "value": d.delivery_phone})
    return fields, attachments


@QmlElement
class DoneViewModel(ScreenViewModel):
    """The receipt screen. Its state line says what is true now: saved and being sent, or delivered to the
    platform (the outbox row was acknowledged by the central), or saved to be sent when back online."""

    receiptChanged = Signal()

    def __init__(self, parent: QObject | None = None, session: JourneySession | None = None) -> None:
        super().__init__(parent, session)
        self._print_state = ""
        self._delivered = False
        self._poll = QTimer(self, interval=max(200, self._js.config.status_poll_ms // 2))
        self._poll.timeout.connect(self._check_delivery)
        self._js.receiptChanged.connect(self._receipt_changed)
        self._js.onlineChanged.connect(self.receiptChanged)
        self._js.langChanged.connect(self.receiptChanged)
        self._js.screenChanged.connect(self._screen_changed)
        self._js.spoken["done"] = self._delivery_text

    def _receipt_changed(self) -> None:
        js = self._js
        self._delivered = False
        self._print_state = ""
        if js.receipt is not None:
            self._poll.start()
            self._check_delivery()
            receipt_printing.print_receipt(js, js.receipt, self._printed)
        else:
            self._poll.stop()
        self.receiptChanged.emit()

    def _screen_changed(self) -> None:
        if self._js.screen != "done":
            self._poll.stop()

    def _printed(self, state: str) -> None:
        self._print_state = state
        self.receiptChanged.emit()

    def _check_delivery(self) -> None:
        js = self._js
        receipt = js.receipt
        if receipt is None or self._delivered:
            self._poll.stop()
            return
        outbox, number = js.submitter.outbox, receipt.receipt_no
        js.runner.run(lambda: lookup(outbox, number), lambda st: self._delivery_state(number, st), lambda _e: None)

    def _delivery_state(self, number: str, status: ApplicationStatus | None) -> None:
        receipt = self._js.receipt
        if receipt is None or receipt.receipt_no != number or status is None:
            return
        if status.source == "central" or status.state == State.ACKED:
            self._delivered = True
            self._poll.stop()
            self.receiptChanged.emit()
            self._js.say(self._delivery_text())

    @Property(str, notify=receiptChanged)
    def receiptNumber(self) -> str:
        return self._js.receipt.receipt_no if self._js.receipt else ""

    @Property(str, notify=receiptChanged)
    def receiptQr(self) -> str:
        return f"image://qr/{self._js.receipt.receipt_no}" if self._js.receipt else ""

    @Property(bool, notify=receiptChanged)
    def submittedOnline(self) -> bool:
        return self._js.submitted_online

    @Property(bool, notify=receiptChanged)
    def delivered(self) -> bool:
        """The central acknowledged the application (its outbox row is acked)."""
        return self._delivered

    @Property(str, notify=receiptChanged)
    def deliveryText(self) -> str:
        return self._delivery_text()

    def _delivery_text(self) -> str:
        s = self._js.s
        if self._delivered:
            return s["doneDelivered"]
        return s["doneOnline"] if self._js.online else s["doneOffline"]

    @Property(str, notify=receiptChanged)
    def printState(self) -> str:
        return self._print_state

    @Slot()
    def finish(self) -> None:
        """The receipt was taken: ask for a rating (好差评)."""
        self._js.set_screen("rating")
