"""“我的申请”: the status lookup screen, by the receipt's QR code on the scanner, by its typed number, or by
ID card (every application of that card at any kiosk of the platform, asked of the central; offline, this
machine's own, and the screen says so: kiosk/journey/card_lookup.py)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from PySide6.QtCore import Property, QObject, QTimer, Signal, Slot
from PySide6.QtQml import QmlElement

from drivers.codes.payloads import PayloadError, ReceiptNumber, parse_payload
from drivers.interfaces import DecodedCode, IdentityRecord
from kiosk.hardware import SCANNER
from kiosk.journey import card_lookup
from kiosk.journey.models import RowListModel
from kiosk.journey.session_service import JourneySession, ScreenViewModel
from kiosk.journey.status import ApplicationStatus, age_text, load_lookup_key, lookup, lookup_by_tag, tag_for
from sync.protocol.ids import is_receipt_number
from sync.protocol.masking import mask_id_number

QML_IMPORT_NAME = "Kiosk"
QML_IMPORT_MAJOR_VERSION = 1

log = logging.getLogger("kiosk.journey")


_FULL_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}  # full-width ASCII forms -> ASCII


def normalise_receipt(text: str) -> str:
    """A receipt number as typed: the 19 characters are enough (KR-, dashes, spaces, case and full-width
    characters do not matter), so the fallback to the scanner needs no symbols page."""
    raw = "".join(text.translate(_FULL_WIDTH).split()).upper().replace("-", "")
    raw = raw.removeprefix("KR")
    if len(raw) == 19 and raw.isalnum() and raw.isascii():
        return f"KR-{raw[:8]}-{raw[8:12]}-{raw[12:18]}-{raw[18]}"
    return "".join(text.split()).upper()


@QmlElement
class StatusViewModel(ScreenViewModel):
    statusChanged = Signal()

    def __init__(self, parent: QObject | None = None, session: JourneySession | None = None) -> None:
        super().__init__(parent, session)
        self._status: ApplicationStatus | None = None
        self._message = ""
        self._card_wait = False  # by ID card: waiting for a card on the reader / a photo
        self._card_busy = False
        self._asking: tuple[str, str, str, float, int] | None = None  # query, tag, masked, asked at, generation
        self._answer_timer = QTimer(self, interval=300)
        self._answer_timer.timeout.connect(self._poll_answer)
        self.status_list_model = RowListModel(("serviceName", "receiptNo", "statusText", "dateText", "detailText"),
                                              self)
        js = self._js
        js.device_needs["status"] = lambda: {
            "scan": True, "card": self._card_wait, "document": self._card_wait and js.hw is not None and js.hw.has_ocr}
        js.screenChanged.connect(self._screen_changed)
        js.langChanged.connect(self.statusChanged)
        js.sessionEnded.connect(self._reset)
        if js.hw is not None:
            js.hw.codeDecoded.connect(self._on_code)
            if js.hw.idcard is not None:
                js.hw.idcard.cardRead.connect(self._on_card)

    def _screen_changed(self) -> None:
        if self._js.screen == "status":
            self._reset()

    def _reset(self) -> None:
        self._status = None
        self._message = ""
        self._clear_card_lookup()
        self.statusChanged.emit()

    @Property(bool, constant=True)
    def photoIdAvailable(self) -> bool:
        return self._js.hw is not None and self._js.hw.has_ocr

    @Property(bool, constant=True)
    def hasScanner(self) -> bool:
        return self._js.hw is not None and self._js.hw.has_scanner

    @Property(bool, notify=statusChanged)
    def statusFound(self) -> bool:
        return self._status is not None

    @Property(str, notify=statusChanged)
    def statusReceipt(self) -> str:
        return self._status.receipt_no if self._status else ""

    @Property(str, notify=statusChanged)
    def statusText(self) -> str:
        if self._status is None:
            return self._message
        return self._js.s[self._status.text_key] if self._status.text_key else self._status.state

    @Property(str, notify=statusChanged)
    def statusDetail(self) -> str:
        """The central's decision in words: why not accepted, what to bring by when, the result and how to collect."""
        return self._status.detail_text(self._js.lang) if self._status else ""

    @Property(str, notify=statusChanged)
    def statusAge(self) -> str:
        if self._status is None:
            return ""
        return f"{self._js.s['statusAsOf']} {age_text(time.time() - self._status.updated_at, self._js.lang)}"

    @Property(QObject, constant=True)
    def statusList(self) -> RowListModel:
        """The applications found by ID card: serviceName, receiptNo, statusText, dateText."""
        return self.status_list_model

    @Property(bool, notify=statusChanged)
    def statusCardWaiting(self) -> bool:
        return self._card_wait

    @Slot(str)
    def lookupStatus(self, receipt_no: str) -> None:
        js = self._js
        number = normalise_receipt(receipt_no)
        if not is_receipt_number(number):
            js.set_error(js.s["errReceipt"])
            return
        js.set_error("")
        self._clear_card_lookup()
        js.apply_devices()
        outbox = js.submitter.outbox
        js.runner.run(lambda: lookup(outbox, number), self._status_result, lambda e: js.set_error(js.s["errSave"]))

    def _status_result(self, status: ApplicationStatus | None) -> None:
        self._status = status
        self._message = "" if status else self._js.s["statusNotFound"]
        self.statusChanged.emit()

    def _clear_card_lookup(self) -> None:
        self._card_wait = False
        self._card_busy = False
        self._asking = None
        self._answer_timer.stop()
        self.status_list_model.clear()

    @Slot(str, object)
    def _on_code(self, role: str, code: DecodedCode) -> None:
        """The receipt's QR code held to the scanner: looked up at once, nothing to type."""
        if role != SCANNER or self._js.screen != "status":
            return
        try:
            payload = parse_payload(code)
        except PayloadError as exc:
            log.info("code not used: %s", exc.reason)
            return
        if isinstance(payload, ReceiptNumber):
            self.lookupStatus(str(payload))

    @Slot()
    def statusByCard(self) -> None:
        """List the applications of the ID card the resident puts on the reader (or photographs).

        Needs the site lookup key (``secrets/lookup_key``) and a way to read the card; the card's ID
        number only becomes a lookup tag and is dropped; the screen shows it masked."""
        js = self._js
        self._status = None
        self._clear_card_lookup()
        js.set_error("")
        key = load_lookup_key(js.submitter.outbox.path.parent)
        readable = js.hw is not None and (js.hw.has_idcard or js.hw.has_ocr)
        if key is None or not readable:
            self._message = js.s["statusByCardUnavailable"]
        else:
            self._card_wait = True
            self._message = js.s["statusCardWaiting"]
        js.apply_devices()
        self.statusChanged.emit()

    @Slot()
    def statusByPhoto(self) -> None:
        js = self._js
        if js.screen != "status" or not self._card_wait or self._card_busy:
            return
        if js.hw is None or not js.hw.has_ocr:
            self._message = js.s["identifyPhotoUnavailable"]
            self.statusChanged.emit()
            return
        self._card_busy = True
        self._message = js.s["statusCardReading"]
        self.statusChanged.emit()
        generation = js.data.generation
        js.hw.read_id_by_camera(lambda r: self._on_photo(r, generation))

    def _on_photo(self, result: Any, generation: int) -> None:
        if generation != self._js.data.generation or self._js.screen != "status" or not self._card_wait:
            return  # the session ended meanwhile: drop the result
        self._card_busy = False
        if isinstance(result, IdentityRecord):
            self._by_identity(result)
        else:
            log.info("camera ID read for the status lookup failed: %s", type(result).__name__)
            self._message = self._js.s["statusCardFailed"]
            self.statusChanged.emit()

    @Slot(object)
    def _on_card(self, record: IdentityRecord) -> None:
        if self._js.screen == "status" and self._card_wait:
            self._by_identity(record)

    def _by_identity(self, record: IdentityRecord) -> None:
        js = self._js
        key = load_lookup_key(js.submitter.outbox.path.parent)
        try:
            if key is None:
                raise ValueError("no lookup key")
            tag = tag_for(key, record.id_number)
        except ValueError:
            self._message = js.s["statusCardFailed"]
            self.statusChanged.emit()
            return
        masked = mask_id_number(record.id_number)
        del record  # only the tag and the masked number go on; nothing of the card is kept
        self._card_wait = False
        self._card_busy = True
        self._message = js.s["statusCardReading"]
        js.apply_devices()
        self.statusChanged.emit()
        outbox, device, generation = js.submitter.outbox, js.submitter.device, js.data.generation

        def look() -> tuple[list[ApplicationStatus], str]:
            # This machine's list at once; the central is asked only when the question can reach it.
            asked = card_lookup.ask_central(outbox, device, tag) if device and card_lookup.online(outbox) else ""
            return lookup_by_tag(outbox, tag), asked

        js.runner.run(look, lambda found: self._first_result(found[0], found[1], tag, masked, generation),
                      lambda e: js.set_error(js.s["errSave"]))

    def _first_result(self, rows: list[ApplicationStatus], query: str, tag: str, masked: str,
                      generation: int) -> None:
        if query:
            self._asking = (query, tag, masked, time.monotonic(), generation)
            self._answer_timer.start()
        self._card_result(rows, masked, generation, "statusCardAsking" if query else "statusCardOffline")

    def _poll_answer(self) -> None:
        if self._asking is None:
            self._answer_timer.stop()
            return
        query, tag, masked, asked_at, generation = self._asking
        outbox = self._js.submitter.outbox

        def look() -> tuple[list[ApplicationStatus], str] | None:
            if card_lookup.answered(outbox, query) is not None:
                return lookup_by_tag(outbox, tag), "statusCardAll"
            if card_lookup.waited_too_long(asked_at):
                return lookup_by_tag(outbox, tag), "statusCardNoAnswer"
            return None

        self._answer_timer.stop()  # one look at a time; started again while no answer came
        self._js.runner.run(look, lambda found: self._answer(found, query, masked, generation), lambda _e: None)

    def _answer(self, found: tuple[list[ApplicationStatus], str] | None, query: str, masked: str,
                generation: int) -> None:
        if self._asking is None or self._asking[0] != query:
            return
        if found is None:
            self._answer_timer.start()
            return
        self._asking = None
        self._card_result(found[0], masked, generation, found[1])

    def _card_result(self, rows: list[ApplicationStatus], masked: str, generation: int, note: str) -> None:
        """The list, and a line that says where it comes from: asking, checked with the platform, or only
        this machine's (offline, or no answer in time)."""
        js = self._js
        if generation != js.data.generation or js.screen != "status":
            return
        self._card_busy = False
        self.status_list_model.set_rows([{
            "serviceName": js.item_name(r.service_code), "receiptNo": r.receipt_no,
            "statusText": js.s[r.text_key] if r.text_key else r.state,
            "dateText": f"{dt.datetime.fromtimestamp(r.updated_at):%Y-%m-%d} · "
                        f"{age_text(time.time() - r.updated_at, js.lang)}",
            "detailText": r.detail_text(js.lang)} for r in rows])
        found = js.s["statusCardFound"].format(masked=masked, n=len(rows)) if rows else js.s["statusCardNone"]
        self._message = f"{found}\n{js.s[note]}"
        self.statusChanged.emit()
