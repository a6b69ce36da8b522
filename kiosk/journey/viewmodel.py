"""The journey's view-model: every decision of the resident flow lives here; QML only shows it."""

from __future__ import annotations

import logging

from PySide6.QtCore import Property, QObject, QTimer, Signal, Slot
from PySide6.QtQml import QmlElement

from kiosk import services
from kiosk.background import BackgroundRunner
from kiosk.catalog.model import Catalog, ServiceItem, load_catalog
from kiosk.journey.submitter import MachineState, Submitter
from sync.outbox.store import OutboxFull, Receipt

QML_IMPORT_NAME = "Kiosk"
QML_IMPORT_MAJOR_VERSION = 1

log = logging.getLogger("kiosk.journey")

SCREENS = ("attract", "item", "form", "done", "paused", "maintenance")
DONE_SCREEN_RETURN_MS = 30_000
STATUS_POLL_MS = 2_000


@QmlElement
class JourneyViewModel(QObject):
    screenChanged = Signal()
    itemChanged = Signal()
    busyChanged = Signal()
    errorChanged = Signal()
    receiptChanged = Signal()
    onlineChanged = Signal()
    noticeChanged = Signal()

    def __init__(self, parent: QObject | None = None, submitter: Submitter | None = None,
                 catalog: Catalog | None = None) -> None:
        super().__init__(parent)
        self._submitter = submitter or services.get(Submitter)
        self._catalog = catalog or load_catalog()
        self._item: ServiceItem = self._catalog.items[0]
        self._screen = "attract"
        self._busy = False
        self._error = ""
        self._receipt: Receipt | None = None
        self._submitted_online = False
        self._online = False
        self._notice = ""
        self._state: MachineState | None = None
        self._runner = BackgroundRunner(self)
        self._done_timer = QTimer(self, singleShot=True, interval=DONE_SCREEN_RETURN_MS)
        self._done_timer.timeout.connect(self.finish)
        self._status_timer = QTimer(self, interval=STATUS_POLL_MS)
        self._status_timer.timeout.connect(self.refreshStatus)
        self._status_timer.start()
        self.refreshStatus()

    # -- properties --------------------------------------------------------------------------------

    @Property(str, notify=screenChanged)
    def screen(self) -> str:
        return self._screen

    def _set_screen(self, screen: str) -> None:
        assert screen in SCREENS
        if screen != self._screen:
            self._screen = screen
            self.screenChanged.emit()

    @Property(str, notify=itemChanged)
    def itemName(self) -> str:
        return self._item.name_zh

    @Property(str, notify=itemChanged)
    def itemDepartment(self) -> str:
        return self._item.department_zh

    @Property(str, notify=itemChanged)
    def itemGuidance(self) -> str:
        return self._item.guidance_zh

    @Property(str, notify=itemChanged)
    def fieldLabel(self) -> str:
        return self._item.fields[0].label_zh

    @Property(bool, notify=busyChanged)
    def busy(self) -> bool:
        return self._busy

    @Property(str, notify=errorChanged)
    def errorText(self) -> str:
        return self._error

    def _set_error(self, text: str) -> None:
        if text != self._error:
            self._error = text
            self.errorChanged.emit()

    @Property(str, notify=receiptChanged)
    def receiptNumber(self) -> str:
        return self._receipt.receipt_no if self._receipt else ""

    @Property(bool, notify=receiptChanged)
    def submittedOnline(self) -> bool:
        return self._submitted_online

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

    # -- actions -------------------------------------------------------------------------------------

    @Slot()
    def start(self) -> None:
        if self._screen != "attract":
            return
        # Decide on the freshest state: refuse up front rather than after the resident has typed.
        self._runner.run(self._submitter.state, self._start_with_state, lambda _e: self._set_screen("item"))

    def _start_with_state(self, state: MachineState) -> None:
        self._apply_state(state)
        if self._screen == "attract":
            self._set_screen("item")

    @Slot()
    def chooseItem(self) -> None:
        self._set_error("")
        self._set_screen("form")

    @Slot()
    def back(self) -> None:
        self._set_error("")
        self._set_screen({"form": "item", "item": "attract"}.get(self._screen, "attract"))

    @Slot(str)
    def submit(self, value: str) -> None:
        if self._busy:
            return
        value = value.strip()
        field = self._item.fields[0]
        if field.required and not value:
            self._set_error(f"请填写{field.label_zh}")
            return
        if len(value) > 50:
            self._set_error(f"{field.label_zh}过长，请检查")
            return
        self._set_error("")
        self._busy = True
        self.busyChanged.emit()
        fields = [{"id": field.id, "kind": field.kind, "label": field.label_zh, "value": value}]
        code = self._item.code
        self._runner.run(lambda: self._submitter.submit(code, fields), self._submitted, self._submit_failed)

    def _submitted(self, receipt: Receipt) -> None:
        self._busy = False
        self.busyChanged.emit()
        self._receipt = receipt
        self._submitted_online = self._online
        self.receiptChanged.emit()
        log.info("submission queued (seq %d)", receipt.seq)
        self._set_screen("done")
        self._done_timer.start()

    def _submit_failed(self, error: BaseException) -> None:
        self._busy = False
        self.busyChanged.emit()
        if isinstance(error, OutboxFull):
            log.warning("submission refused: %s", error.code)
            self._set_notice(error.message)
            self._set_screen("paused")
            return
        log.error("submission could not be queued: %s", type(error).__name__)
        self._set_error("暂时无法保存您的申请，请联系工作人员")

    @Slot()
    def finish(self) -> None:
        """End the resident's session: forget everything and go back to the attract screen."""
        self._done_timer.stop()
        self._receipt = None
        self._submitted_online = False
        self.receiptChanged.emit()
        self._set_error("")
        self._set_screen("attract")

    @Slot()
    def refreshStatus(self) -> None:
        self._runner.run(self._submitter.state, self._apply_state, lambda _e: self._set_online(False))

    def _apply_state(self, state: MachineState) -> None:
        self._state = state
        self._set_online(state.online)
        if state.maintenance:
            # Never interrupt a resident mid-application; the next one sees the maintenance screen.
            if self._screen in ("attract", "paused", "maintenance"):
                self._set_notice(state.maintenance_message or "设备维护中，请到人工窗口办理")
                self._set_screen("maintenance")
        elif state.refusal_code:
            if self._screen in ("attract", "item", "maintenance"):
                self._set_notice(state.refusal_message)
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

    def shutdown(self) -> None:
        self._status_timer.stop()
        self._done_timer.stop()
        self._runner.shutdown()
