"""The form screen: the item's fields, prefilled from the identity, checked by the one validator
(:mod:`kiosk.journey.validation`) in every language."""

from __future__ import annotations

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement

from kiosk.journey import catalog_view as cv
from kiosk.journey import validation
from kiosk.journey.models import RowListModel
from kiosk.journey.session_service import JourneySession, ScreenViewModel
from sync.protocol.masking import mask_id_number

QML_IMPORT_NAME = "Kiosk"
QML_IMPORT_MAJOR_VERSION = 1

FIELD_ROLES = ("fieldId", "objName", "label", "kind", "inputKind", "isRequired", "value", "error", "locked",
               "shown", "options", "limit")


def input_kind(kind: str) -> str:
    """Which keyboard a field gets: ``idnumber`` is the 0–9 + X pad (IdPad.qml)."""
    return {"id_number": "idnumber", "phone": "phone", "mobile": "phone", "number": "digits",
            "integer": "digits", "digits": "digits", "date": "date"}.get(kind, "text")


@QmlElement
class FormViewModel(ScreenViewModel):
    identityChanged = Signal()

    def __init__(self, parent: QObject | None = None, session: JourneySession | None = None) -> None:
        super().__init__(parent, session)
        self._hints: list[str] = []
        self.fields_model = RowListModel(FIELD_ROLES, self)
        js = self._js
        js.applicationStarted.connect(self._fill_fields)
        js.identityChanged.connect(self._identity_changed)
        js.langChanged.connect(self._relabel)
        js.wiped.connect(self._wiped)

    # == identity banner =============================================================================

    @Property(bool, notify=identityChanged)
    def identified(self) -> bool:
        return self._js.data.identity is not None

    @Property(str, notify=identityChanged)
    def identityName(self) -> str:
        ident = self._js.data.identity
        return ident.name if ident else ""

    @Property(str, notify=identityChanged)
    def identityIdMasked(self) -> str:
        """The ID number as shown on screen: first 6 and last 4 at most (the one masking policy)."""
        ident = self._js.data.identity
        return mask_id_number(ident.id_number) if ident and ident.id_number else ""

    @Property(str, notify=identityChanged)
    def identitySource(self) -> str:
        ident = self._js.data.identity
        return ident.source if ident else ""

    @Property(list, notify=identityChanged)
    def hints(self) -> list[str]:
        """Other items the resident may be eligible for (never the one they are applying for)."""
        return self._hints

    def _identity_changed(self) -> None:
        js = self._js
        self._hints = cv.eligibility_hints(js.catalog, js.data.identity, js.lang, exclude=js.item.code)
        if js.data.identity is not None and self.fields_model.rows:
            self._fill_fields()
        self.identityChanged.emit()

    def _wiped(self) -> None:
        self._hints = []
        self.fields_model.clear()
        self.identityChanged.emit()

    def _relabel(self) -> None:
        if self.fields_model.rows:
            errors = {r["fieldId"]: bool(r["error"]) for r in self.fields_model.rows}
            self._fill_fields()
            for row, f in enumerate(self._js.item.fields):  # shown errors follow the language
                if errors.get(f.id):
                    self.fields_model.update_row(row, {"error": self._check(row)})
        js = self._js
        self._hints = cv.eligibility_hints(js.catalog, js.data.identity, js.lang, exclude=js.item.code)
        self.identityChanged.emit()

    # == the fields ==================================================================================

    @Property(QObject, constant=True)
    def formFields(self) -> RowListModel:
        return self.fields_model

    def _fill_fields(self) -> None:
        js = self._js
        ident = js.data.identity
        rows = []
        name_done = False
        for f in js.item.fields:
            if f.id not in js.data.values:
                pre = cv.prefill_value(f, ident)
                if pre:
                    js.data.values[f.id] = pre
            value = js.data.values.get(f.id, "")
            locked = is_locked(js, f.kind, value)
            obj = f"field_{f.id}"
            if not name_done and (f.id == "applicant_name" or f.kind == "name"):
                obj, name_done = "nameField", True
            rows.append({"fieldId": f.id, "objName": obj, "label": cv.field_label(f, js.lang),
                         "kind": f.kind, "inputKind": input_kind(f.kind), "isRequired": f.required,
                         "value": value, "error": "", "locked": locked,
                         "shown": mask_id_number(value) if f.kind == "id_number" and locked else value,
                         "options": cv.field_options(f, js.lang), "limit": validation.field_limit(f)})
        self.fields_model.set_rows(rows)

    def _check(self, row: int) -> str:
        f = self._js.item.fields[row]
        return validation.check_text(f, self._js.data.values.get(f.id, ""), self._js.lang)

    @Slot(int, str)
    def setFieldValue(self, row: int, value: str) -> None:
        js = self._js
        if not 0 <= row < len(js.item.fields) or row >= len(self.fields_model.rows):
            return
        f = js.item.fields[row]
        if self.fields_model.rows[row].get("locked"):
            return
        if f.kind == "id_number":
            value = validation.id_pad_filter(value)
        js.data.values[f.id] = value
        self.fields_model.rows[row]["value"] = value  # no dataChanged: the delegate holds the text
        if self.fields_model.rows[row].get("error"):
            # Shown errors follow the value: gone as soon as it is right, else say what is still wrong.
            self.fields_model.update_row(row, {"error": self._check(row) if value else ""})
            # The line above the buttons names the first problem still there, never one just fixed
            # ("请填写申请人姓名" stayed under a filled-in name while other fields still had errors).
            js.set_error(next((r["error"] for r in self.fields_model.rows if r["error"]), ""))

    @Slot(int, result=str)
    def fieldValue(self, row: int) -> str:
        """The value the field holds after the form's own rules (an ID number: digits and X only)."""
        if 0 <= row < len(self._js.item.fields):
            return self._js.data.values.get(self._js.item.fields[row].id, "")
        return ""

    def validate(self) -> bool:
        js = self._js
        first_error = ""
        for row, f in enumerate(js.item.fields):
            js.data.values[f.id] = validation.normalise(f, js.data.values.get(f.id, ""))
            err = self._check(row)
            if row < len(self.fields_model.rows):
                self.fields_model.update_row(row, {"error": err})
            first_error = first_error or err
        js.set_error(first_error)
        return not first_error

    @Slot()
    def formNext(self) -> None:
        js = self._js
        if js.screen != "form" or not self.validate():
            return
        if js.data.delivery_address == "" and js.data.identity is not None:
            js.data.delivery_address = js.data.identity.address
            js.deliveryChanged.emit()
        js.set_screen("materials" if js.data.materials else "delivery")


def is_locked(js: JourneySession, kind: str, value: str) -> bool:
    """Read from a chip or a verified code: shown (masked) but not editable, and masked on review."""
    ident = js.data.identity
    return bool(ident and value and ((ident.source == "chip" and kind in ("id_number", "name"))
                                     or (ident.source == "qr" and kind == "id_number")))
