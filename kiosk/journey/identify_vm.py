"""The identify screen: ID card on the reader, an e-ID or e-licence QR code, a photo of the card, or by hand."""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement

from drivers import idnumber
from drivers.codes.payloads import EIdToken, ELicenceRef, PayloadError, freshness_problem, parse_payload
from drivers.interfaces import DecodedCode, IdentityRecord
from kiosk.catalog import licence_types
from kiosk.hardware import DOCUMENT, SCANNER
from kiosk.journey import face_vm
from kiosk.journey.session_service import JourneySession, ScreenViewModel

QML_IMPORT_NAME = "Kiosk"
QML_IMPORT_MAJOR_VERSION = 1

log = logging.getLogger("kiosk.journey")

ID_CARD_LICENCE_TYPES = licence_types.ID_CARD_TYPES


@QmlElement
class IdentifyViewModel(ScreenViewModel):
    identifyChanged = Signal()
    previewChanged = Signal()

    def __init__(self, parent: QObject | None = None, session: JourneySession | None = None) -> None:
        super().__init__(parent, session)
        self._status = ""
        self._busy = False
        self._preview_no = 0
        js = self._js
        js.device_needs["identify"] = lambda: {"scan": True, "card": True,
                                               "document": js.hw is not None and js.hw.has_ocr}
        js.wiped.connect(lambda: self._set_status(""))
        js.applicationStarted.connect(lambda: self._set_status(""))
        if js.hw is not None:
            js.hw.codeDecoded.connect(self._on_code)
            js.hw.previewUpdated.connect(self._on_preview)
            if js.hw.idcard is not None:
                js.hw.idcard.cardRead.connect(self._on_card)

    @Property(str, notify=identifyChanged)
    def identifyStatus(self) -> str:
        return self._status

    @Property(bool, notify=identifyChanged)
    def identifyBusy(self) -> bool:
        return self._busy

    @Property(int, notify=previewChanged)
    def previewFrame(self) -> int:
        return self._preview_no

    @Slot(str, int)
    def _on_preview(self, role: str, frame_no: int) -> None:
        if role == DOCUMENT and self._js.screen == "identify":
            self._preview_no = frame_no
            self.previewChanged.emit()

    @Property(bool, constant=True)
    def hasIdCardReader(self) -> bool:
        return self._js.hw is not None and self._js.hw.has_idcard

    @Property(bool, constant=True)
    def hasScanner(self) -> bool:
        return self._js.hw is not None and self._js.hw.has_scanner

    @Property(bool, constant=True)
    def photoIdAvailable(self) -> bool:
        return self._js.hw is not None and self._js.hw.has_ocr

    def _set_status(self, text: str, busy: bool = False) -> None:
        if (text, busy) != (self._status, self._busy):
            self._status, self._busy = text, busy
            self.identifyChanged.emit()

    @Slot()
    def identifyManual(self) -> None:
        """No card: the resident types everything (biometrics and cards are never the only way)."""
        if self._js.screen == "identify":
            self._js.set_screen("form")

    @Slot()
    def identifyByPhoto(self) -> None:
        js = self._js
        if js.screen != "identify" or self._busy:
            return
        if js.hw is None or not js.hw.has_ocr:
            self._set_status(js.s["identifyPhotoUnavailable"])
            return
        self._set_status(js.s["identifyReading"], busy=True)
        generation = js.data.generation
        js.hw.read_id_by_camera(lambda r: self._on_photo_id(r, generation))

    def _on_photo_id(self, result: Any, generation: int) -> None:
        if generation != self._js.data.generation or self._js.screen != "identify":
            return  # the session ended meanwhile: drop the result
        if isinstance(result, IdentityRecord):
            self._identified(result)
        else:
            log.info("camera ID read failed: %s", type(result).__name__)
            self._set_status(self._js.s["identifyFailed"])

    @Slot(object)
    def _on_card(self, record: IdentityRecord) -> None:
        if self._js.screen == "identify":
            self._identified(record)

    @Slot(str, object)
    def _on_code(self, role: str, code: DecodedCode) -> None:
        if role != SCANNER or self._js.screen != "identify":
            return
        try:
            payload = parse_payload(code)
        except PayloadError as exc:
            log.info("code not used: %s", exc.reason)
            return
        if isinstance(payload, ELicenceRef):
            stale = freshness_problem(payload, time.time())
            if stale:  # an old screenshot or photo of a code: refresh it on the phone
                log.info("e-licence code refused: %s", stale)
                text = self._js.s["errQrExpired" if stale == "expired" else "errQrClock"]
                self._set_status(text)
                self._js.say(text)
                return
            record = identity_from_licence(payload)
            if record is not None:
                self._identified(record)
            else:
                self._set_status(self._js.s["identifyFailed"])
        elif isinstance(payload, EIdToken):
            # Verified online by the central; nothing to prefill from the token itself.
            self._js.data.extra["eid_token"] = payload.token
            self._identified(IdentityRecord("", "", "", "", "", "", source="eid"))

    def _identified(self, record: IdentityRecord) -> None:
        self._set_status(self._js.s["identifyDone"])
        self._js.set_identity(record)
        self._js.set_screen(face_vm.next_screen(self._js, record))  # 人证核验 first, for an item that asks


def identity_from_licence(ref: ELicenceRef) -> IdentityRecord | None:
    if ref.type.lower() not in ID_CARD_LICENCE_TYPES:
        return None
    try:
        info = idnumber.parse(ref.id)
    except ValueError:
        return None
    return IdentityRecord(name="", id_number=info.number, sex=info.sex, nation="",
                          birth_date=f"{info.birth_date:%Y%m%d}", address="", source="qr")
