"""The materials screen: each document photographed, linked as an e-licence, marked 容缺 (brought later)
or exempt (免提交) because the kiosk already read it: the ID card from its chip or an e-ID / e-licence."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement

from drivers.codes.payloads import ELicenceRef, PayloadError, freshness_problem, parse_payload
from drivers.interfaces import DecodedCode
from kiosk.catalog import licence_types
from kiosk.hardware import DOCUMENT, SCANNER
from kiosk.journey import capture_advice
from kiosk.journey.models import RowListModel
from kiosk.journey.session_service import JourneySession, ScreenViewModel
from kiosk.session import Material

QML_IMPORT_NAME = "Kiosk"
QML_IMPORT_MAJOR_VERSION = 1

log = logging.getLogger("kiosk.journey")

MATERIAL_ROLES = ("materialId", "name", "isRequired", "allowMissing", "mstate", "stateText", "thumb", "canScan",
                  "licences", "exempt", "canDeclare")
ID_CARD_MATERIALS = {"id_card", "idcard", "sfz", "resident_id", "jmsfz"}
ID_CARD_SOURCES = {"chip", "qr", "eid"}  # read from the card's chip, an ID-card e-licence, an e-ID
RONGQUE_WORKING_DAYS = 5  # 容缺: the missing original is brought to the counter within this many working days


def is_id_card(m: Material) -> bool:
    return m.id.lower() in ID_CARD_MATERIALS or "居民身份证" in m.elicence or m.name_zh in ("居民身份证", "身份证")


def rongque_deadline(today: dt.date | None = None, days: int = RONGQUE_WORKING_DAYS) -> dt.date:
    """The last day to bring a 容缺 document: ``days`` working days (Monday–Friday) after today."""
    d = today or dt.date.today()
    left = days
    while left:
        d += dt.timedelta(days=1)
        if d.weekday() < 5:
            left -= 1
    return d


def deadline_text(lang: str, today: dt.date | None = None) -> str:
    d = rongque_deadline(today)
    return f"{d:%Y-%m-%d}" if lang == "en" else f"{d.year}年{d.month}月{d.day}日"


def material_state_text(s: dict[str, str], lang: str, m: Material) -> str:
    """A material's state in words: an optional one still open is "可不提交", never 待提交."""
    if m.state == "needed" and not m.required:
        return s["stateOptional"]
    if m.state == "missing":
        return s["stateMissingBy"].format(date=deadline_text(lang))
    return s[{"needed": "stateNeeded", "captured": "stateCaptured", "elicence": "stateElicence",
              "exempt": "stateExempt", "declared": "stateDeclared"}[m.state]]


@QmlElement
class MaterialsViewModel(ScreenViewModel):
    previewChanged = Signal()
    adviceChanged = Signal()

    def __init__(self, parent: QObject | None = None, session: JourneySession | None = None) -> None:
        super().__init__(parent, session)
        self._licence_row = -1  # the material waiting for an e-licence QR
        self._preview_no = 0
        self._advice = ("", True)  # the last photo's quality check in words (kiosk.journey.capture_advice)
        self.materials_model = RowListModel(MATERIAL_ROLES, self)
        js = self._js
        js.device_needs["materials"] = lambda: {"scan": self._licence_row >= 0, "document": True}
        js.applicationStarted.connect(self._fill)
        js.identityChanged.connect(self._exempt_read_documents)
        js.langChanged.connect(self._fill)
        js.wiped.connect(self._wiped)
        js.screenChanged.connect(self._screen_changed)
        if js.hw is not None:
            js.hw.codeDecoded.connect(self._on_code)
            js.hw.previewUpdated.connect(self._on_preview)

    @Property(QObject, constant=True)
    def materials(self) -> RowListModel:
        return self.materials_model

    @Property(int, notify=previewChanged)
    def previewFrame(self) -> int:
        return self._preview_no

    @Property(bool, notify=previewChanged)
    def waitingForLicence(self) -> bool:
        return self._licence_row >= 0

    @Property(bool, constant=True)
    def hasDocumentCamera(self) -> bool:
        return self._js.hw is not None and self._js.hw.has_document_camera

    @Property(str, notify=adviceChanged)
    def captureAdvice(self) -> str:
        return self._advice[0]

    @Property(bool, notify=adviceChanged)
    def captureAdviceOk(self) -> bool:
        return self._advice[1]

    def _set_advice(self, quality: Any) -> None:
        self._advice = capture_advice.advice(quality, self._js.s)
        self.adviceChanged.emit()
        if self._advice[0]:
            self._js.say(self._advice[0])

    @Property(str, notify=previewChanged)
    def rongqueText(self) -> str:
        """容缺 in plain words: what to bring, where and by when."""
        return self._js.s["rongqueExplain"].format(date=deadline_text(self._js.lang))

    @Slot(str, int)
    def _on_preview(self, role: str, frame_no: int) -> None:
        if role == DOCUMENT and self._js.screen == "materials":
            self._preview_no = frame_no
            self.previewChanged.emit()

    def _wiped(self) -> None:
        self._licence_row = -1
        self._advice = ("", True)
        self.materials_model.clear()
        self.previewChanged.emit()
        self.adviceChanged.emit()

    def _screen_changed(self) -> None:
        if self._js.screen != "materials" and self._licence_row >= 0:
            self._licence_row = -1
            self.previewChanged.emit()

    def state_text(self, m: Material) -> str:
        return material_state_text(self._js.s, self._js.lang, m)

    def _row(self, i: int) -> dict[str, Any]:
        js = self._js
        m = js.data.materials[i]
        thumb = f"image://camera/capture-{m.id}?{js.data.generation}-{i}-{int(time.monotonic() * 1000)}"
        return {"materialId": m.id, "name": m.name_en if js.lang == "en" else m.name_zh,
                "isRequired": m.required, "allowMissing": m.allow_missing, "mstate": m.state,
                "stateText": self.state_text(m), "thumb": thumb if m.state == "captured" else "",
                "canScan": bool(m.elicence) and js.hw is not None and js.hw.has_scanner,
                "licences": "、".join(m.elicence), "exempt": m.state == "exempt", "canDeclare": m.declarable}

    def _fill(self) -> None:
        self._exempt_read_documents(refill=False)
        self.materials_model.set_rows([self._row(i) for i in range(len(self._js.data.materials))])
        self.previewChanged.emit()

    def _exempt_read_documents(self, refill: bool = True) -> None:
        """免提交: the ID card the kiosk read from its chip (or an e-ID / ID-card e-licence) is not asked for."""
        ident = self._js.data.identity
        exempt = ident is not None and ident.source in ID_CARD_SOURCES
        changed = False
        for m in self._js.data.materials:
            if is_id_card(m) and exempt and m.state == "needed":
                m.state, changed = "exempt", True
        if changed and refill:
            self.materials_model.set_rows([self._row(i) for i in range(len(self._js.data.materials))])

    def _changed(self, i: int) -> None:
        self.materials_model.update_row(i, self._row(i))

    @Slot(int)
    def captureMaterial(self, row: int) -> None:
        js = self._js
        if not 0 <= row < len(js.data.materials) or js.hw is None or js.busy:
            return
        m = js.data.materials[row]
        generation = js.data.generation
        js.set_busy(True)

        def done(result: Any) -> None:
            js.set_busy(False)
            if generation != js.data.generation or row >= len(js.data.materials):
                return  # session wiped meanwhile
            if isinstance(result, bytes):
                m.photo, m.state, m.licence = result, "captured", ""
                self._changed(row)
                js.set_error("")
                self._set_advice(getattr(result, "quality", None))
            else:
                log.warning("document capture failed: %s", type(result).__name__)
                js.set_error(js.s["identifyFailed"])

        js.hw.capture_document(m.id, done)

    @Slot(int)
    def retakeMaterial(self, row: int) -> None:
        if 0 <= row < len(self._js.data.materials):
            m = self._js.data.materials[row]
            m.photo, m.state, m.licence = None, "needed", ""
            self._js.data.previews.clear(f"capture-{m.id}")
            self._changed(row)
            self._advice = ("", True)
            self.adviceChanged.emit()

    @Slot(int)
    def scanLicenceFor(self, row: int) -> None:
        if 0 <= row < len(self._js.data.materials):
            self._licence_row = row
            self._js.apply_devices()
            self.previewChanged.emit()

    @Slot(int)
    def toggleDeclared(self, row: int) -> None:
        """本人承诺代替 (证明事项告知承诺制): the resident declares instead of handing in the proof; again undoes it."""
        if not 0 <= row < len(self._js.data.materials):
            return
        m = self._js.data.materials[row]
        if not m.declarable:
            return
        if m.state == "declared":
            m.state = "needed"
        else:
            m.photo, m.licence, m.state = None, "", "declared"
            self._js.data.previews.clear(f"capture-{m.id}")
        self._changed(row)
        if m.state == "declared" or not any(x.required and x.state == "needed" for x in self._js.data.materials):
            self._js.set_error("")

    @Slot(int)
    def toggleMissing(self, row: int) -> None:
        if not 0 <= row < len(self._js.data.materials):
            return
        m = self._js.data.materials[row]
        if not m.allow_missing:
            return
        if m.state == "missing":
            m.state = "needed"
        else:
            m.photo, m.licence, m.state = None, "", "missing"
        self._changed(row)
        if m.state == "missing" or not any(x.required and x.state == "needed" for x in self._js.data.materials):
            self._js.set_error("")

    @Slot(str, object)
    def _on_code(self, role: str, code: DecodedCode) -> None:
        if role != SCANNER or self._js.screen != "materials" or self._licence_row < 0:
            return
        try:
            payload = parse_payload(code)
        except PayloadError as exc:
            log.info("code not used: %s", exc.reason)
            return
        if not isinstance(payload, ELicenceRef):
            return
        stale = freshness_problem(payload, time.time())
        if stale:  # an old screenshot or photo of a code: the resident refreshes it and shows it again
            log.info("e-licence code refused: %s", stale)
            text = self._js.s["errQrExpired" if stale == "expired" else "errQrClock"]
            self._js.set_error(text)
            self._js.say(text)
            return
        row = self._licence_row
        m = self._js.data.materials[row]
        if not licence_types.accepts(m.elicence, payload.type):  # e.g. the ID-card e-licence shown for the 户口簿
            lang = self._js.lang
            got = licence_types.licence_name(payload.type, lang) or self._js.s["otherLicence"]
            text = self._js.s["errLicenceType"].format(got=got, want=licence_types.wanted_names(m.elicence, lang))
            log.info("e-licence code refused: wrong type for the material")
            self._js.set_error(text)
            self._js.say(text)
            return
        m.state, m.licence, m.photo = "elicence", f"{payload.type}:{payload.issuer}:{payload.id}", None
        self._licence_row = -1
        self._js.apply_devices()
        self._changed(row)
        self._js.set_error("")
        self.previewChanged.emit()

    @Slot()
    def materialsNext(self) -> None:
        js = self._js
        for m in js.data.materials:
            if m.required and m.state == "needed":
                js.set_error(js.s["errMaterial"].format(label=m.name_en if js.lang == "en" else m.name_zh))
                return
        js.set_error("")
        self._licence_row = -1
        js.set_screen("delivery")
