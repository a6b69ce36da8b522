"""The journey's view-model: every decision of the resident flow lives here; QML only shows it.

attract -> home (categories, search) -> item (guidance) -> identify (ID card / QR / photo / by hand)
-> form (prefilled) -> materials (photo, e-licence, 容缺) -> delivery -> review -> done (receipt)
-> rating (好差评) -> attract. Also: complaint, status lookup, paused, maintenance.

Personal data lives in one :class:`~kiosk.session.ResidentSession` and is wiped at submit, at the
end of the session and after the idle countdown.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import re
import time
from typing import Any

from PySide6.QtCore import Property, QObject, QTimer, QUrl, Signal, Slot
from PySide6.QtQml import QmlElement

from drivers import idnumber
from drivers.codes.payloads import EIdToken, ELicenceRef, PayloadError, ReceiptNumber, parse_payload
from drivers.interfaces import DecodedCode, IdentityRecord
from kiosk import services
from kiosk.background import BackgroundRunner
from kiosk.camera.preview import PreviewStore
from kiosk.catalog.model import Catalog, CatalogError, FormField, ServiceItem, load_catalog
from kiosk.catalog.reload import newer_installed
from kiosk.hardware import DOCUMENT, SCANNER, Hardware
from kiosk.i18n import table
from kiosk.journey import catalog_view as cv
from kiosk.journey.config import JourneyConfig
from kiosk.journey.models import RowListModel
from kiosk.journey.status import ApplicationStatus, age_text, load_lookup_key, lookup, lookup_by_tag, tag_for
from kiosk.journey.submitter import MachineState, Submitter
from kiosk.journey.voice import Voice
from kiosk.session import ResidentSession
from sync.outbox.store import Attachment, OutboxFull, Receipt
from sync.protocol.ids import is_receipt_number
from sync.protocol.masking import mask_id_number

QML_IMPORT_NAME = "Kiosk"
QML_IMPORT_MAJOR_VERSION = 1

log = logging.getLogger("kiosk.journey")

SCREENS = ("attract", "home", "item", "identify", "form", "materials", "delivery", "review", "done",
           "rating", "complaint", "status", "thanks", "paused", "maintenance")
# Screens where nobody is in the middle of something: the machine state may replace them.
IDLE_SCREENS = ("attract", "paused", "maintenance")
BACK = {"home": "attract", "item": "home", "identify": "item", "form": "identify", "materials": "form",
        "delivery": "materials", "review": "delivery", "complaint": "home", "status": "home"}

# 好差评: the five national levels (国办发〔2019〕51号); 4 and 5 are 差评 and need a reason.
RATING_LEVELS = (
    (1, "very_satisfied", "rate1", 5),
    (2, "satisfied", "rate2", 4),
    (3, "basically_satisfied", "rate3", 3),
    (4, "dissatisfied", "rate4", 2),
    (5, "very_dissatisfied", "rate5", 1),
)
RATING_REASONS = ("reasonSlow", "reasonHard", "reasonUnclear", "reasonDevice", "reasonOther")
COMPLAINT_KINDS = ("complaint", "suggestion", "praise")
ID_CARD_LICENCE_TYPES = {"idcard", "sfz", "jmsfz", "resident_id"}

_PHONE = re.compile(r"1\d{10}")
_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
MAX_FIELD = 100
MAX_TEXT = 500


def _input_kind(kind: str) -> str:
    return {"id_number": "idnumber", "phone": "phone", "mobile": "phone", "number": "digits",
            "integer": "digits", "digits": "digits", "date": "date"}.get(kind, "text")


@QmlElement
class JourneyViewModel(QObject):
    screenChanged = Signal()
    langChanged = Signal()
    elderChanged = Signal()
    itemChanged = Signal()
    busyChanged = Signal()
    errorChanged = Signal()
    receiptChanged = Signal()
    onlineChanged = Signal()
    noticeChanged = Signal()
    identityChanged = Signal()
    catalogViewChanged = Signal()
    deliveryChanged = Signal()
    ratingChanged = Signal()
    statusChanged = Signal()
    idleChanged = Signal()
    previewChanged = Signal()
    thanksChanged = Signal()
    keyboardChanged = Signal()

    def __init__(self, parent: QObject | None = None, submitter: Submitter | None = None,
                 catalog: Catalog | None = None, hardware: Hardware | None = None,
                 config: JourneyConfig | None = None) -> None:
        super().__init__(parent)
        self._submitter = submitter or services.get(Submitter)
        self._catalog = catalog or _optional(Catalog) or load_catalog()
        self._hw = hardware if hardware is not None else _optional(Hardware)
        self._config = config or _optional(JourneyConfig) or JourneyConfig()
        previews = self._hw.previews if self._hw is not None else PreviewStore()
        self.session = ResidentSession.create(previews, self._config.keyboard_root)
        self._lang = self._config.language
        self._s = table(self._lang)
        self._elder = self._config.elder_mode
        self._item: ServiceItem = self._catalog.items[0]
        self._screen = "attract"
        self._busy = False
        self._error = ""
        self._receipt: Receipt | None = None
        self._submitted_online = False
        self._print_state = ""
        self._online = False
        self._notice = ""
        self._state: MachineState | None = None
        self._query = ""
        self._category = ""
        self._identify_status = ""
        self._identify_busy = False
        self._hints: list[str] = []
        self._licence_row = -1  # the material waiting for an e-licence QR
        self._rating_level = 0
        self._status: ApplicationStatus | None = None
        self._status_message = ""
        self._card_wait = False  # "我的申请" by ID card: waiting for a card on the reader / a photo
        self._card_busy = False
        self._thanks = ""
        self._idle_warning = False
        self._idle_left = 0
        self._idle_deadline = 0.0
        self._preview_no = 0
        self.items_model = RowListModel(("code", "name", "category", "department"), self)
        self.fields_model = RowListModel(("fieldId", "objName", "label", "kind", "inputKind", "isRequired",
                                          "value", "error", "locked", "shown", "options"), self)
        self.materials_model = RowListModel(("materialId", "name", "isRequired", "allowMissing", "mstate",
                                             "stateText", "thumb", "canScan", "licences"), self)
        self.review_model = RowListModel(("label", "value"), self)
        self.status_list_model = RowListModel(("serviceName", "receiptNo", "statusText", "dateText"), self)
        self._runner = BackgroundRunner(self)
        self._voice = Voice(self) if self._config.voice else None
        self._thanks_timer = QTimer(self, singleShot=True, interval=int(self._config.thanks_return_s * 1000))
        self._thanks_timer.timeout.connect(self.endSession)
        self._idle_timer = QTimer(self, singleShot=True, interval=int(self._config.idle_timeout_s * 1000))
        self._idle_timer.timeout.connect(self._idle_expired)
        self._tick = QTimer(self, interval=max(20, min(250, int(self._config.countdown_s * 250))))
        self._tick.timeout.connect(self._countdown_tick)
        self._status_timer = QTimer(self, interval=self._config.status_poll_ms)
        self._status_timer.timeout.connect(self.refreshStatus)
        self._status_timer.start()
        if self._hw is not None:
            self._hw.codeDecoded.connect(self._on_code)
            self._hw.previewUpdated.connect(self._on_preview)
            if self._hw.idcard is not None:
                self._hw.idcard.cardRead.connect(self._on_card)
        self._fill_items()
        self.refreshStatus()

    # == generic properties =========================================================================

    @Property(str, notify=screenChanged)
    def screen(self) -> str:
        return self._screen

    def _set_screen(self, screen: str) -> None:
        assert screen in SCREENS
        if screen == self._screen:
            return
        if (screen in IDLE_SCREENS) != (self._screen in IDLE_SCREENS):
            self._publish_session(screen not in IDLE_SCREENS)
        self._screen = screen
        self._apply_devices()
        if screen in IDLE_SCREENS:
            self._stop_idle()
        else:
            self._restart_idle()
        self.screenChanged.emit()
        self._speak_for(screen)

    def _pick_up_catalog(self) -> None:
        """Between sessions: a catalogue the central installed meanwhile replaces this one (catalog/reload.py)."""
        device = self._submitter.device
        newer = newer_installed(self._submitter.outbox, device.command_public_key if device else None,
                                self._catalog.version)
        if newer is not None:
            self._catalog = newer
            self._item = newer.items[0]

    def _publish_session(self, active: bool) -> None:
        """Software updates (sync.ota) switch releases only between residents' sessions: they read this."""
        try:
            self._submitter.outbox.set_states({"session_active": "1" if active else "0",
                                               "session_changed": str(time.time())})
        except Exception as exc:  # a busy database must not stop the resident
            log.warning("could not record the session state: %s", type(exc).__name__)

    @Property(str, notify=langChanged)
    def language(self) -> str:
        return self._lang

    @Property(dict, notify=langChanged)
    def s(self) -> dict[str, str]:
        """The screen texts of the current language: ``journey.s.welcome``."""
        return self._s

    @Property(bool, notify=elderChanged)
    def elderMode(self) -> bool:
        return self._elder

    @Property(bool, notify=busyChanged)
    def busy(self) -> bool:
        return self._busy

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit()

    @Property(str, notify=errorChanged)
    def errorText(self) -> str:
        return self._error

    def _set_error(self, text: str) -> None:
        if text != self._error:
            self._error = text
            self.errorChanged.emit()

    @Property(bool, notify=onlineChanged)
    def online(self) -> bool:
        return self._online

    @Property(str, notify=noticeChanged)
    def notice(self) -> str:
        """Why the machine is not taking applications (paused or maintenance screen)."""
        return self._notice

    def _set_notice(self, text: str) -> None:
        if text != self._notice:
            self._notice = text
            self.noticeChanged.emit()

    @Property(str, notify=keyboardChanged)
    def keyboardDataPath(self) -> str:
        """The virtual keyboard's user data folder of this session (wiped with the session)."""
        return QUrl.fromLocalFile(str(self.session.keyboard_dir)).toString()

    @Property(str, notify=keyboardChanged)
    def keyboardDataDir(self) -> str:
        return str(self.session.keyboard_dir)

    # == home: catalogue =============================================================================

    @Property(QObject, constant=True)
    def catalogItems(self) -> RowListModel:
        return self.items_model

    @Property(list, notify=catalogViewChanged)
    def categories(self) -> list[dict[str, str]]:
        """[{code, name}] for the category buttons."""
        return cv.categories(self._catalog, self._lang)

    @Property(str, notify=catalogViewChanged)
    def category(self) -> str:
        return self._category

    @Property(str, notify=catalogViewChanged)
    def query(self) -> str:
        return self._query

    @Slot(str)
    def setQuery(self, query: str) -> None:
        if query != self._query:
            self._query = query
            self._category = ""
            self._fill_items()

    @Slot(str)
    def setCategory(self, category: str) -> None:
        self._category = category
        self._query = ""
        self._fill_items()

    def _fill_items(self) -> None:
        if self._query.strip():
            items = cv.search(self._catalog, self._query)
        else:
            items = cv.by_category(self._catalog, self._category)
        self.items_model.set_rows([{"code": it.code, "name": cv.item_name(it, self._lang),
                                    "category": cv.item_category(it, self._lang),
                                    "department": cv.item_department(it, self._lang)} for it in items])
        self.catalogViewChanged.emit()

    # == item ========================================================================================

    @Property(str, notify=itemChanged)
    def itemCode(self) -> str:
        return self._item.code

    @Property(str, notify=itemChanged)
    def itemName(self) -> str:
        return cv.item_name(self._item, self._lang)

    @Property(str, notify=itemChanged)
    def itemDepartment(self) -> str:
        return cv.item_department(self._item, self._lang)

    @Property(str, notify=itemChanged)
    def itemGuidance(self) -> str:
        return cv.item_guidance(self._item, self._lang)

    @Property(str, notify=itemChanged)
    def itemMaterials(self) -> str:
        names = [m.name_en if self._lang == "en" else m.name_zh for m in cv.item_materials(self._item)]
        return "、".join(names)

    @Property(str, notify=itemChanged)
    def fieldLabel(self) -> str:
        return cv.field_label(self._item.fields[0], self._lang) if self._item.fields else ""

    @Slot(str)
    def openItem(self, code: str) -> None:
        try:
            self._item = self._catalog.item(code)
        except CatalogError:  # a tile of an item the catalogue no longer has: stay where we are
            return
        self._set_error("")
        self.itemChanged.emit()
        self._set_screen("item")

    @Slot()
    def chooseItem(self) -> None:
        self._set_error("")
        self.session.materials = cv.item_materials(self._item)
        self.session.delivery = cv.item_delivery(self._item)[0]
        self.deliveryChanged.emit()
        self._fill_fields()
        self._fill_materials()
        if self.session.identity is not None:
            self._set_screen("form")
        else:
            self._set_identify_status("")
            self._set_screen("identify")

    # == identify ====================================================================================

    @Property(bool, notify=identityChanged)
    def identified(self) -> bool:
        return self.session.identity is not None

    @Property(str, notify=identityChanged)
    def identityName(self) -> str:
        ident = self.session.identity
        return ident.name if ident else ""

    @Property(str, notify=identityChanged)
    def identityIdMasked(self) -> str:
        """The ID number as shown on screen: first 6 and last 4 at most (the one masking policy)."""
        ident = self.session.identity
        return mask_id_number(ident.id_number) if ident and ident.id_number else ""

    @Property(str, notify=identityChanged)
    def identitySource(self) -> str:
        ident = self.session.identity
        return ident.source if ident else ""

    @Property(str, notify=identityChanged)
    def identifyStatus(self) -> str:
        return self._identify_status

    @Property(bool, notify=identityChanged)
    def identifyBusy(self) -> bool:
        return self._identify_busy

    @Property(list, notify=identityChanged)
    def hints(self) -> list[str]:
        return self._hints

    @Property(bool, constant=True)
    def hasIdCardReader(self) -> bool:
        return self._hw is not None and self._hw.has_idcard

    @Property(bool, constant=True)
    def hasScanner(self) -> bool:
        return self._hw is not None and self._hw.has_scanner

    @Property(bool, constant=True)
    def photoIdAvailable(self) -> bool:
        return self._hw is not None and self._hw.has_ocr

    @Property(bool, constant=True)
    def hasDocumentCamera(self) -> bool:
        return self._hw is not None and self._hw.has_document_camera

    def _set_identify_status(self, text: str, busy: bool = False) -> None:
        self._identify_status = text
        self._identify_busy = busy
        self.identityChanged.emit()

    @Slot()
    def identifyManual(self) -> None:
        """No card: the resident types everything (biometrics and cards are never the only way)."""
        if self._screen == "identify":
            self._set_screen("form")

    @Slot()
    def identifyByPhoto(self) -> None:
        if self._screen != "identify" or self._identify_busy:
            return
        if self._hw is None or not self._hw.has_ocr:
            self._set_identify_status(self._s["identifyPhotoUnavailable"])
            return
        self._set_identify_status(self._s["identifyReading"], busy=True)
        generation = self.session.generation
        self._hw.read_id_by_camera(lambda r: self._on_photo_id(r, generation))

    def _on_photo_id(self, result: Any, generation: int) -> None:
        if generation != self.session.generation or self._screen != "identify":
            return  # the session ended meanwhile: drop the result
        if isinstance(result, IdentityRecord):
            self._identified(result)
        else:
            log.info("camera ID read failed: %s", type(result).__name__)
            self._set_identify_status(self._s["identifyFailed"])

    @Slot(object)
    def _on_card(self, record: IdentityRecord) -> None:
        if self._screen == "identify":
            self._identified(record)
        elif self._screen == "status" and self._card_wait:
            self._status_by_identity(record)

    def _identified(self, record: IdentityRecord) -> None:
        self.session.identity = record
        self._hints = cv.eligibility_hints(self._catalog, record, self._lang)
        self._identify_status = self._s["identifyDone"]
        self._identify_busy = False
        self._fill_fields()
        self.identityChanged.emit()
        log.info("resident identified (source %s)", record.source)
        self._set_screen("form")

    def _identity_from_licence(self, ref: ELicenceRef) -> IdentityRecord | None:
        if ref.type.lower() not in ID_CARD_LICENCE_TYPES:
            return None
        try:
            info = idnumber.parse(ref.id)
        except ValueError:
            return None
        return IdentityRecord(name="", id_number=info.number, sex=info.sex, nation="",
                              birth_date=f"{info.birth_date:%Y%m%d}", address="", source="qr")

    # == form ========================================================================================

    @Property(QObject, constant=True)
    def formFields(self) -> RowListModel:
        return self.fields_model

    def _fill_fields(self) -> None:
        ident = self.session.identity
        rows = []
        name_done = False
        for f in self._item.fields:
            if f.id not in self.session.values:
                pre = cv.prefill_value(f, ident)
                if pre:
                    self.session.values[f.id] = pre
            value = self.session.values.get(f.id, "")
            # Read from a chip or a verified code: shown (masked) but not editable.
            locked = bool(ident and value and ((ident.source == "chip" and f.kind in ("id_number", "name"))
                                               or (ident.source == "qr" and f.kind == "id_number")))
            obj = f"field_{f.id}"
            if not name_done and (f.id == "applicant_name" or f.kind == "name"):
                obj, name_done = "nameField", True
            rows.append({"fieldId": f.id, "objName": obj, "label": cv.field_label(f, self._lang),
                         "kind": f.kind, "inputKind": _input_kind(f.kind), "isRequired": f.required,
                         "value": value, "error": "", "locked": locked,
                         "shown": mask_id_number(value) if f.kind == "id_number" and locked else value,
                         "options": cv.field_options(f, self._lang)})
        self.fields_model.set_rows(rows)

    @Slot(int, str)
    def setFieldValue(self, row: int, value: str) -> None:
        if not 0 <= row < len(self._item.fields):
            return
        f = self._item.fields[row]
        if self.fields_model.rows[row].get("locked"):
            return
        self.session.values[f.id] = value
        self.fields_model.rows[row]["value"] = value  # no dataChanged: the delegate holds the text
        if self.fields_model.rows[row].get("error"):
            self.fields_model.update_row(row, {"error": ""})

    def _field_error(self, f: FormField, value: str) -> str:
        label = cv.field_label(f, self._lang)
        own_check = getattr(f, "value_problem", None)
        if self._lang == "zh" and callable(own_check):
            problem = str(own_check(value))  # the catalogue's own rules (pattern, length, options)
            if problem:
                return problem
        if not value:
            if f.required:
                key = "errChoice" if cv.field_options(f) else "errRequired"
                return self._s[key].format(label=label)
            return ""
        if len(value) > MAX_FIELD:
            return self._s["errTooLong"].format(label=label)
        if f.kind == "id_number":
            try:
                idnumber.validate(value)
            except idnumber.IdNumberError as exc:
                zh, _, en = str(exc).partition(" / ")
                return en if self._lang == "en" else zh
        elif f.kind in ("phone", "mobile") and not _PHONE.fullmatch(value):
            return self._s["errPhone"].format(label=label)
        elif f.kind == "date":
            m = _DATE.fullmatch(value)
            try:
                if not m:
                    raise ValueError
                dt.date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                return self._s["errDate"].format(label=label)
        elif f.kind in ("number", "integer", "digits") and not value.isdigit():
            return self._s["errNumber"].format(label=label)
        options = [o["value"] for o in cv.field_options(f)]
        if options and value not in options:
            return self._s["errChoice"].format(label=label)
        return ""

    def _validate_form(self) -> bool:
        first_error = ""
        for row, f in enumerate(self._item.fields):
            value = self.session.values.get(f.id, "").strip()
            self.session.values[f.id] = value
            err = self._field_error(f, value)
            self.fields_model.update_row(row, {"error": err})
            first_error = first_error or err
        self._set_error(first_error)
        return not first_error

    @Slot()
    def formNext(self) -> None:
        if self._screen != "form" or not self._validate_form():
            return
        if self.session.delivery_address == "" and self.session.identity is not None:
            self.session.delivery_address = self.session.identity.address
            self.deliveryChanged.emit()
        self._set_screen("materials" if self.session.materials else "delivery")

    # == materials ===================================================================================

    @Property(QObject, constant=True)
    def materials(self) -> RowListModel:
        return self.materials_model

    @Property(int, notify=previewChanged)
    def previewFrame(self) -> int:
        return self._preview_no

    @Property(bool, notify=previewChanged)
    def waitingForLicence(self) -> bool:
        return self._licence_row >= 0

    @Slot(str, int)
    def _on_preview(self, role: str, frame_no: int) -> None:
        if role == DOCUMENT:
            self._preview_no = frame_no
            self.previewChanged.emit()

    def _state_text(self, state: str) -> str:
        return self._s[{"needed": "stateNeeded", "captured": "stateCaptured", "elicence": "stateElicence",
                        "missing": "stateMissing"}[state]]

    def _material_row(self, i: int) -> dict[str, Any]:
        m = self.session.materials[i]
        thumb = f"image://camera/capture-{m.id}?{self.session.generation}-{i}-{int(time.monotonic() * 1000)}"
        return {"materialId": m.id, "name": m.name_en if self._lang == "en" else m.name_zh,
                "isRequired": m.required, "allowMissing": m.allow_missing, "mstate": m.state,
                "stateText": self._state_text(m.state), "thumb": thumb if m.state == "captured" else "",
                "canScan": bool(m.elicence) and self._hw is not None and self._hw.has_scanner,
                "licences": "、".join(m.elicence)}

    def _fill_materials(self) -> None:
        self.materials_model.set_rows([self._material_row(i) for i in range(len(self.session.materials))])

    def _material_changed(self, i: int) -> None:
        self.materials_model.update_row(i, self._material_row(i))

    @Slot(int)
    def captureMaterial(self, row: int) -> None:
        if not 0 <= row < len(self.session.materials) or self._hw is None or self._busy:
            return
        m = self.session.materials[row]
        generation = self.session.generation
        self._set_busy(True)

        def done(result: Any) -> None:
            self._set_busy(False)
            if generation != self.session.generation or row >= len(self.session.materials):
                return  # session wiped meanwhile
            if isinstance(result, bytes):
                m.photo, m.state, m.licence = result, "captured", ""
                self._material_changed(row)
                self._set_error("")
            else:
                log.warning("document capture failed: %s", type(result).__name__)
                self._set_error(self._s["identifyFailed"])

        self._hw.capture_document(m.id, done)

    @Slot(int)
    def retakeMaterial(self, row: int) -> None:
        if 0 <= row < len(self.session.materials):
            m = self.session.materials[row]
            m.photo, m.state, m.licence = None, "needed", ""
            self.session.previews.clear(f"capture-{m.id}")
            self._material_changed(row)

    @Slot(int)
    def scanLicenceFor(self, row: int) -> None:
        if 0 <= row < len(self.session.materials):
            self._licence_row = row
            self._apply_devices()
            self.previewChanged.emit()

    @Slot(int)
    def toggleMissing(self, row: int) -> None:
        if not 0 <= row < len(self.session.materials):
            return
        m = self.session.materials[row]
        if not m.allow_missing:
            return
        if m.state == "missing":
            m.state = "needed"
        else:
            m.photo, m.licence, m.state = None, "", "missing"
        self._material_changed(row)

    @Slot()
    def materialsNext(self) -> None:
        for m in self.session.materials:
            if m.required and m.state == "needed":
                self._set_error(self._s["errMaterial"].format(label=m.name_en if self._lang == "en" else m.name_zh))
                return
        self._set_error("")
        self._licence_row = -1
        self._set_screen("delivery")

    # == delivery ====================================================================================

    @Property(str, notify=deliveryChanged)
    def deliveryMethod(self) -> str:
        return self.session.delivery

    @Property(str, notify=deliveryChanged)
    def deliveryAddress(self) -> str:
        return self.session.delivery_address

    @Property(str, notify=deliveryChanged)
    def deliveryPhone(self) -> str:
        return self.session.delivery_phone

    @Property(list, notify=itemChanged)
    def deliveryOptions(self) -> list[str]:
        return list(cv.item_delivery(self._item))

    @Slot(str)
    def setDelivery(self, method: str) -> None:
        if method in cv.item_delivery(self._item):
            self.session.delivery = method
            self._set_error("")
            self.deliveryChanged.emit()

    @Slot(str)
    def setDeliveryAddress(self, text: str) -> None:
        self.session.delivery_address = text  # no notify: the field holds the text

    @Slot(str)
    def setDeliveryPhone(self, text: str) -> None:
        self.session.delivery_phone = text

    @Slot()
    def deliveryNext(self) -> None:
        s = self.session
        if s.delivery == "post":
            s.delivery_address = s.delivery_address.strip()
            s.delivery_phone = s.delivery_phone.strip()
            if not s.delivery_address or len(s.delivery_address) > MAX_FIELD or not _PHONE.fullmatch(s.delivery_phone):
                self._set_error(self._s["errAddress"])
                return
        self._set_error("")
        self._fill_review()
        self._set_screen("review")

    # == review and submit ===========================================================================

    @Property(QObject, constant=True)
    def review(self) -> RowListModel:
        return self.review_model

    def _fill_review(self) -> None:
        rows = []
        for f in self._item.fields:
            value = self.session.values.get(f.id, "")
            shown = mask_id_number(value) if f.kind == "id_number" and value else value
            for o in cv.field_options(f, self._lang):
                if o["value"] == value:
                    shown = o["label"]
            rows.append({"label": cv.field_label(f, self._lang), "value": shown})
        for m in self.session.materials:
            rows.append({"label": m.name_en if self._lang == "en" else m.name_zh, "value": self._state_text(m.state)})
        s = self.session
        rows.append({"label": self._s["deliveryTitle"],
                     "value": self._s["deliveryPost"] if s.delivery == "post" else self._s["deliveryOnsite"]})
        if s.delivery == "post":
            rows.append({"label": self._s["deliveryAddress"], "value": s.delivery_address})
            rows.append({"label": self._s["deliveryPhone"], "value": s.delivery_phone})
        self.review_model.set_rows(rows)

    def _payload(self) -> tuple[list[dict[str, Any]], list[Attachment]]:
        s = self.session
        fields: list[dict[str, Any]] = [
            {"id": f.id, "kind": f.kind, "label": f.label_zh, "value": s.values.get(f.id, "")}
            for f in self._item.fields]
        if s.identity is not None:
            fields.append({"id": "identity_source", "kind": "meta", "label": "身份核验方式",
                           "value": s.identity.source})
        if s.extra.get("eid_token"):
            fields.append({"id": "eid_token", "kind": "token", "label": "电子身份证", "value": s.extra["eid_token"]})
        attachments: list[Attachment] = []
        for m in s.materials:
            entry: dict[str, Any] = {"id": f"material_{m.id}", "kind": "material", "label": m.name_zh,
                                     "value": m.state}
            if m.state == "captured" and m.photo:
                entry["file"] = len(attachments)
                attachments.append(Attachment(f"{m.id}.jpg", "image/jpeg", m.photo))
            elif m.state == "elicence":
                entry["licence"] = m.licence
            elif m.state == "missing":
                entry["rongque"] = True  # 容缺受理: to be handed in later
            fields.append(entry)
        fields.append({"id": "delivery_method", "kind": "choice", "label": "领取方式", "value": s.delivery})
        if s.delivery == "post":
            fields.append({"id": "delivery_address", "kind": "address", "label": "邮寄地址",
                           "value": s.delivery_address})
            fields.append({"id": "delivery_phone", "kind": "phone", "label": "联系电话", "value": s.delivery_phone})
        return fields, attachments

    @Slot()
    def submit(self) -> None:
        if self._busy or self._screen != "review":
            return
        self._set_error("")
        self._set_busy(True)
        fields, attachments = self._payload()
        code = self._item.code
        self._runner.run(lambda: self._submitter.submit(code, fields, attachments), self._submitted,
                         self._submit_failed)

    def _submitted(self, receipt: Receipt) -> None:
        self._set_busy(False)
        self._receipt = receipt
        self._submitted_online = self._online
        self._print_state = ""
        # Submitted: the resident's data is in the sealed outbox; forget it here at once.
        self._wipe_personal()
        self.receiptChanged.emit()
        log.info("submission queued (seq %d)", receipt.seq)
        self._set_screen("done")
        self._print(receipt)

    def _print(self, receipt: Receipt) -> None:
        if self._hw is None or not self._hw.has_printer:
            return
        zh = table("zh")
        when = dt.datetime.fromtimestamp(receipt.created_at).strftime("%Y-%m-%d %H:%M")
        lines = [f"{zh['receiptLabel']}：{receipt.receipt_no}", f"事项：{self._item.name_zh}",
                 f"时间：{when}", "凭此回执或扫描二维码查询办理进度。"]
        if not self._submitted_online:
            lines.append("本机离线，申请已保存，联网后自动提交。")

        def done(result: Any) -> None:
            self._print_state = "printed" if result is True else "failed"
            if result is not True:
                log.warning("receipt not printed: %s", getattr(result, "code", type(result).__name__))
            self.receiptChanged.emit()

        self._hw.print_receipt(lines, receipt.receipt_no, "受理回执", done)

    def _submit_failed(self, error: BaseException) -> None:
        self._set_busy(False)
        if isinstance(error, OutboxFull):
            log.warning("submission refused: %s", error.code)
            self._wipe_personal()  # it cannot be taken here: do not keep the resident's data either
            self._set_notice(error.message)
            self._set_screen("paused")
            return
        log.error("submission could not be queued: %s", type(error).__name__)
        self._set_error(self._s["errSave"])

    @Property(str, notify=receiptChanged)
    def receiptNumber(self) -> str:
        return self._receipt.receipt_no if self._receipt else ""

    @Property(str, notify=receiptChanged)
    def receiptQr(self) -> str:
        return f"image://qr/{self._receipt.receipt_no}" if self._receipt else ""

    @Property(bool, notify=receiptChanged)
    def submittedOnline(self) -> bool:
        return self._submitted_online

    @Property(str, notify=receiptChanged)
    def printState(self) -> str:
        return self._print_state

    @Slot()
    def finish(self) -> None:
        """The receipt was taken: ask for a rating (好差评)."""
        self._rating_level = 0
        self.ratingChanged.emit()
        self._set_screen("rating")

    # == rating (好差评) ==============================================================================

    @Property(list, notify=langChanged)
    def ratingLevels(self) -> list[dict[str, Any]]:
        return [{"level": n, "text": self._s[key], "bad": n >= 4} for n, _code, key, _score in RATING_LEVELS]

    @Property(list, notify=langChanged)
    def ratingReasons(self) -> list[dict[str, str]]:
        return [{"key": k, "text": self._s[k]} for k in RATING_REASONS]

    @Property(int, notify=ratingChanged)
    def ratingLevel(self) -> int:
        return self._rating_level

    @Property(bool, notify=ratingChanged)
    def ratingNeedsReason(self) -> bool:
        return self._rating_level >= 4

    @Slot(int)
    def rate(self, level: int) -> None:
        if self._screen != "rating" or not 1 <= level <= 5:
            return
        self._rating_level = level
        self._set_error("")
        self.ratingChanged.emit()
        if level < 4:
            self.submitRating([], "")

    @Slot("QStringList", str)
    def submitRating(self, reasons: list[str], text: str) -> None:
        level = self._rating_level
        if self._screen != "rating" or not 1 <= level <= 5:
            return
        reasons = [r for r in reasons if r in RATING_REASONS]
        text = text.strip()[:MAX_TEXT]
        if level >= 4 and not reasons and not text:
            self._set_error(self._s["errReason"])
            return
        _n, code, key, score = RATING_LEVELS[level - 1]
        meta = {"level": code, "level_zh": table("zh")[key], "score": score, "channel": "self_service_terminal",
                "service_code": self._item.code, "receipt_no": self.receiptNumber, "needs_followup": level >= 4}
        private = {"reason": text, "reasons": [table("zh")[r] for r in reasons]} if level >= 4 else None
        self._runner.run(lambda: self._submitter.event("rating", meta, private), lambda _id: None,
                         lambda e: log.error("rating not queued: %s", type(e).__name__))
        self._thank(self._s["rateThanks"])

    @Slot()
    def skipRating(self) -> None:
        self.endSession()

    # == complaint ===================================================================================

    @Property(list, notify=langChanged)
    def complaintKinds(self) -> list[dict[str, str]]:
        keys = {"complaint": "complaintKindComplaint", "suggestion": "complaintKindSuggestion",
                "praise": "complaintKindPraise"}
        return [{"key": k, "text": self._s[keys[k]]} for k in COMPLAINT_KINDS]

    @Slot()
    def openComplaint(self) -> None:
        self._set_error("")
        self._set_screen("complaint")

    @Slot(str, str, str)
    def submitComplaint(self, kind: str, text: str, phone: str) -> None:
        if self._screen != "complaint":
            return
        text, phone = text.strip(), phone.strip()
        if kind not in COMPLAINT_KINDS or not text:
            self._set_error(self._s["errComplaint"])
            return
        if phone and not _PHONE.fullmatch(phone):
            self._set_error(self._s["errPhone"].format(label=self._s["deliveryPhone"]))
            return
        meta = {"category": kind, "channel": "self_service_terminal"}
        private = {"text": text[:MAX_TEXT], "phone": phone}
        self._runner.run(lambda: self._submitter.event("complaint", meta, private), lambda _id: None,
                         lambda e: log.error("complaint not queued: %s", type(e).__name__))
        self._thank(self._s["complaintThanks"])

    # == status lookup ===============================================================================

    @Slot()
    def openStatus(self) -> None:
        self._status = None
        self._status_message = ""
        self._clear_card_lookup()
        self._set_error("")
        self.statusChanged.emit()
        self._set_screen("status")

    @Property(bool, notify=statusChanged)
    def statusFound(self) -> bool:
        return self._status is not None

    @Property(str, notify=statusChanged)
    def statusReceipt(self) -> str:
        return self._status.receipt_no if self._status else ""

    @Property(str, notify=statusChanged)
    def statusText(self) -> str:
        if self._status is None:
            return self._status_message
        return self._s[self._status.text_key] if self._status.text_key else self._status.state

    @Property(str, notify=statusChanged)
    def statusAge(self) -> str:
        if self._status is None:
            return ""
        return f"{self._s['statusAsOf']} {age_text(time.time() - self._status.updated_at, self._lang)}"

    @Slot(str)
    def lookupStatus(self, receipt_no: str) -> None:
        number = receipt_no.strip().upper()
        if not is_receipt_number(number):
            self._set_error(self._s["errReceipt"])
            return
        self._set_error("")
        self._clear_card_lookup()
        self._apply_devices()
        outbox = self._submitter.outbox
        self._runner.run(lambda: lookup(outbox, number), self._status_result,
                         lambda e: self._set_error(self._s["errSave"]))

    def _status_result(self, status: ApplicationStatus | None) -> None:
        self._status = status
        self._status_message = "" if status else self._s["statusNotFound"]
        self.statusChanged.emit()

    def _clear_card_lookup(self) -> None:
        self._card_wait = False
        self._card_busy = False
        self.status_list_model.clear()

    @Property(QObject, constant=True)
    def statusList(self) -> RowListModel:
        """The applications found by ID card: serviceName, receiptNo, statusText, dateText."""
        return self.status_list_model

    @Property(bool, notify=statusChanged)
    def statusCardWaiting(self) -> bool:
        return self._card_wait

    @Slot()
    def statusByCard(self) -> None:
        """List the applications of the ID card the resident puts on the reader (or photographs).

        Needs the site lookup key (``secrets/lookup_key``) and a way to read the card; the card's ID
        number only becomes a lookup tag and is dropped; the screen shows it masked."""
        self._status = None
        self._clear_card_lookup()
        self._set_error("")
        key = load_lookup_key(self._submitter.outbox.path.parent)
        readable = self._hw is not None and (self._hw.has_idcard or self._hw.has_ocr)
        if key is None or not readable:
            self._status_message = self._s["statusByCardUnavailable"]
        else:
            self._card_wait = True
            self._status_message = self._s["statusCardWaiting"]
        self._apply_devices()
        self.statusChanged.emit()

    @Slot()
    def statusByPhoto(self) -> None:
        if self._screen != "status" or not self._card_wait or self._card_busy:
            return
        if self._hw is None or not self._hw.has_ocr:
            self._status_message = self._s["identifyPhotoUnavailable"]
            self.statusChanged.emit()
            return
        self._card_busy = True
        self._status_message = self._s["statusCardReading"]
        self.statusChanged.emit()
        generation = self.session.generation
        self._hw.read_id_by_camera(lambda r: self._on_status_photo(r, generation))

    def _on_status_photo(self, result: Any, generation: int) -> None:
        if generation != self.session.generation or self._screen != "status" or not self._card_wait:
            return  # the session ended meanwhile: drop the result
        self._card_busy = False
        if isinstance(result, IdentityRecord):
            self._status_by_identity(result)
        else:
            log.info("camera ID read for the status lookup failed: %s", type(result).__name__)
            self._status_message = self._s["statusCardFailed"]
            self.statusChanged.emit()

    def _status_by_identity(self, record: IdentityRecord) -> None:
        key = load_lookup_key(self._submitter.outbox.path.parent)
        try:
            if key is None:
                raise ValueError("no lookup key")
            tag = tag_for(key, record.id_number)
        except ValueError:
            self._status_message = self._s["statusCardFailed"]
            self.statusChanged.emit()
            return
        masked = mask_id_number(record.id_number)
        del record  # only the tag and the masked number go on; nothing of the card is kept
        self._card_wait = False
        self._card_busy = True
        self._status_message = self._s["statusCardReading"]
        self._apply_devices()
        self.statusChanged.emit()
        outbox, generation = self._submitter.outbox, self.session.generation
        self._runner.run(lambda: lookup_by_tag(outbox, tag), lambda rows: self._card_result(rows, masked, generation),
                         lambda e: self._set_error(self._s["errSave"]))

    def _card_result(self, rows: list[ApplicationStatus], masked: str, generation: int) -> None:
        if generation != self.session.generation or self._screen != "status":
            return
        self._card_busy = False
        self.status_list_model.set_rows([{
            "serviceName": self._service_name(r.service_code), "receiptNo": r.receipt_no,
            "statusText": self._s[r.text_key] if r.text_key else r.state,
            "dateText": f"{dt.datetime.fromtimestamp(r.updated_at):%Y-%m-%d} · "
                        f"{age_text(time.time() - r.updated_at, self._lang)}"} for r in rows])
        self._status_message = (self._s["statusCardFound"].format(masked=masked, n=len(rows)) if rows
                                else self._s["statusCardNone"])
        self.statusChanged.emit()

    def _service_name(self, code: str) -> str:
        try:
            return cv.item_name(self._catalog.item(code), self._lang)
        except Exception:  # an item this kiosk's catalogue does not have: its code is all there is
            return code

    # == codes from the scanner ======================================================================

    @Slot(str, object)
    def _on_code(self, role: str, code: DecodedCode) -> None:
        if role != SCANNER:
            return
        try:
            payload = parse_payload(code)
        except PayloadError as exc:
            log.info("code not used: %s", exc.reason)
            return
        if self._screen == "identify":
            if isinstance(payload, ELicenceRef):
                record = self._identity_from_licence(payload)
                if record is not None:
                    self._identified(record)
                else:
                    self._set_identify_status(self._s["identifyFailed"])
            elif isinstance(payload, EIdToken):
                # Verified online by the central; nothing to prefill from the token itself.
                self.session.extra["eid_token"] = payload.token
                self._identified(IdentityRecord("", "", "", "", "", "", source="eid"))
        elif self._screen == "materials" and isinstance(payload, ELicenceRef) and self._licence_row >= 0:
            row = self._licence_row
            m = self.session.materials[row]
            m.state, m.licence, m.photo = "elicence", f"{payload.type}:{payload.issuer}:{payload.id}", None
            self._licence_row = -1
            self._apply_devices()
            self._material_changed(row)
            self.previewChanged.emit()
        elif self._screen == "status" and isinstance(payload, ReceiptNumber):
            self.lookupStatus(str(payload))

    # == navigation, session, idle ===================================================================

    @Slot()
    def start(self) -> None:
        if self._screen != "attract":
            return
        # Decide on the freshest state: refuse up front rather than after the resident has typed.
        self._runner.run(self._submitter.state, self._start_with_state, lambda _e: self._set_screen("home"))

    def _start_with_state(self, state: MachineState) -> None:
        self._apply_state(state)
        if self._screen == "attract":
            self._set_screen("home")

    @Slot()
    def back(self) -> None:
        self._set_error("")
        if self._screen == "delivery" and not self.session.materials:
            target = "form"
        elif self._screen == "form" and self.session.identity is not None:
            target = "item"  # going back past identification starts again with a new card
            self._wipe_personal()
        else:
            target = BACK.get(self._screen, "attract")
        if self._screen == "materials":
            self._licence_row = -1
        if target == "attract":
            self.endSession()
        else:
            self._set_screen(target)

    @Slot()
    def goHome(self) -> None:
        self._wipe_personal()
        self._set_error("")
        self._set_screen("home")

    @Slot()
    def toggleLanguage(self) -> None:
        self._lang = "en" if self._lang == "zh" else "zh"
        self._s = table(self._lang)
        self._fill_items()
        if self._item.fields and self.fields_model.rows:
            self._fill_fields()
        if self.session.materials:
            self._fill_materials()
        if self._screen == "review":
            self._fill_review()
        self.langChanged.emit()
        self.itemChanged.emit()
        self.statusChanged.emit()

    @Slot()
    def toggleElderMode(self) -> None:
        self._elder = not self._elder
        if self._voice is not None:
            self._voice.enabled = True
        self.elderChanged.emit()

    def _thank(self, text: str) -> None:
        self._thanks = text
        self.thanksChanged.emit()
        self._set_screen("thanks")
        self._thanks_timer.start()

    @Property(str, notify=thanksChanged)
    def thanksText(self) -> str:
        return self._thanks

    def _wipe_personal(self) -> None:
        had_keyboard = self.session.keyboard_dir
        self.session.wipe()
        self._hints = []
        self._identify_status = ""
        self._identify_busy = False
        self._licence_row = -1
        self.fields_model.clear()
        self.materials_model.clear()
        self.review_model.clear()
        self.identityChanged.emit()
        self.deliveryChanged.emit()
        self.previewChanged.emit()
        if had_keyboard != self.session.keyboard_dir:
            self.keyboardChanged.emit()

    @Slot()
    def endSession(self) -> None:
        """End the resident's session: forget everything and go back to the attract screen."""
        self._thanks_timer.stop()
        self._wipe_personal()
        self._receipt = None
        self._submitted_online = False
        self._print_state = ""
        self._rating_level = 0
        self._status = None
        self._status_message = ""
        self._clear_card_lookup()
        self._query = ""
        self._category = ""
        self._pick_up_catalog()
        self._fill_items()
        self.receiptChanged.emit()
        self.ratingChanged.emit()
        self.statusChanged.emit()
        self._set_error("")
        self._set_idle_warning(False)
        self._reset_preferences()
        self._set_screen("attract")
        if self._state is not None:
            self._apply_state(self._state)

    def _reset_preferences(self) -> None:
        """The next resident starts in the kiosk's own language and text size, not the last one's."""
        if self._lang != self._config.language:
            self.toggleLanguage()
        if self._elder != self._config.elder_mode:
            self.toggleElderMode()

    @Property(bool, notify=idleChanged)
    def idleWarning(self) -> bool:
        return self._idle_warning

    @Property(int, notify=idleChanged)
    def idleSecondsLeft(self) -> int:
        return self._idle_left

    @Property(str, notify=idleChanged)
    def idleText(self) -> str:
        return self._s["idleText"].format(n=self._idle_left)

    def _set_idle_warning(self, on: bool) -> None:
        if on != self._idle_warning:
            self._idle_warning = on
            if not on:
                self._tick.stop()
            self.idleChanged.emit()

    @Slot()
    def touch(self) -> None:
        """Any touch: the resident is here. Dismisses the countdown and restarts the idle timer."""
        if self._screen in IDLE_SCREENS:
            return
        self._set_idle_warning(False)
        self._restart_idle()

    def _restart_idle(self) -> None:
        self._idle_timer.start()

    def _stop_idle(self) -> None:
        self._idle_timer.stop()
        self._set_idle_warning(False)

    def _idle_expired(self) -> None:
        if self._screen in IDLE_SCREENS:
            return
        self._idle_deadline = time.monotonic() + self._config.countdown_s
        self._idle_left = math.ceil(self._config.countdown_s)
        self._set_idle_warning(True)
        self._tick.start()
        if self._voice is not None:
            self._voice.say(self._s["idleTitle"])

    def _countdown_tick(self) -> None:
        left = self._idle_deadline - time.monotonic()
        if left <= 0:
            log.info("session ended after the idle countdown")
            self.endSession()
            return
        n = math.ceil(left)
        if n != self._idle_left:
            self._idle_left = n
            self.idleChanged.emit()

    # == devices =====================================================================================

    def _apply_devices(self) -> None:
        if self._hw is None:
            return
        screen = self._screen
        if screen == "identify":
            self._hw.use(scan=True, card=True, document=self._hw.has_ocr)
        elif screen == "materials":
            self._hw.use(scan=self._licence_row >= 0, document=True)
        elif screen == "status":
            self._hw.use(scan=True, card=self._card_wait, document=self._card_wait and self._hw.has_ocr)
        else:
            self._hw.use()

    def _speak_for(self, screen: str) -> None:
        if self._voice is None:
            return
        key = {"home": "chooseService", "identify": "identifyCard", "form": "fillForm",
               "materials": "materialsHint", "delivery": "deliveryTitle", "review": "reviewTitle",
               "rating": "rateTitle", "status": "statusHint"}.get(screen)
        if screen == "done":
            self._voice.say(self._s["doneOnline"] if self._submitted_online else self._s["doneOffline"])
        elif key:
            self._voice.say(self._s[key])

    # == machine state ===============================================================================

    @Slot()
    def refreshStatus(self) -> None:
        self._runner.run(self._submitter.state, self._apply_state, lambda _e: self._set_online(False))

    def _apply_state(self, state: MachineState) -> None:
        self._state = state
        self._set_online(state.online)
        if state.maintenance:
            # Never interrupt a resident mid-application; the next one sees the maintenance screen.
            if self._screen in IDLE_SCREENS:
                self._set_notice(state.maintenance_message or self._s["maintenanceDefault"])
                self._set_screen("maintenance")
        elif state.refusal_code:
            if self._screen in ("attract", "home", "item", "maintenance"):
                self._set_notice(state.refusal_message)
                self._wipe_personal()
                self._set_screen("paused")
        elif self._screen in ("paused", "maintenance"):
            self._set_notice("")
            self._set_screen("attract")

    def _set_online(self, online: bool) -> None:
        if online != self._online:
            self._online = online
            self.onlineChanged.emit()

    @property
    def runner(self) -> BackgroundRunner:
        return self._runner

    @property
    def hardware(self) -> Hardware | None:
        return self._hw

    def apply_settings(self, *, idle_timeout_s: float, language: str, elder_mode: bool) -> None:
        """New settings from the technician's screen, without a restart: the idle time-out at once;
        language and text size only while nobody is in a session (never under a resident's hands)."""
        self._config = dataclasses.replace(self._config, idle_timeout_s=idle_timeout_s, language=language,
                                           elder_mode=elder_mode)
        self._idle_timer.setInterval(int(idle_timeout_s * 1000))
        if self._screen in IDLE_SCREENS:
            if self._lang != language:
                self.toggleLanguage()
            if self._elder != elder_mode:
                self.toggleElderMode()

    def shutdown(self) -> None:
        self._status_timer.stop()
        self._thanks_timer.stop()
        self._idle_timer.stop()
        self._tick.stop()
        if self._voice is not None:
            self._voice.stop()
        if self._hw is not None:
            self._hw.use()
        self._runner.shutdown()
        self.session.close()


def _optional(kind: type) -> Any:
    try:
        return services.get(kind)
    except services.MissingService:
        return None
