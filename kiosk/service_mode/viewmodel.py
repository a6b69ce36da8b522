"""The technician's service mode: the shell that holds its session and one view-model per page.

The shell (this module) keeps what all pages share: the mode (closed, PIN pad, first run, service pages,
the enrolment's final screen), the page shown, the language, the status line, "busy", the session timer
and the background runners. Each page's own state and actions live in its view-model, reached from QML
as a property of the shell (``service.networkPage.retryNow()``):

- ``pinPage`` (pin_page.py): the PIN pad, back-off, lock-out alarm, and setting a PIN in first run;
- ``enrolPage`` (enrol_page.py): provisioning and the enrolment's final screen;
- ``hardwareUse`` (hardware_use.py): the camera preview, scanner and card reader the pages switch on;
- ``selftestPage``, ``networkPage``, ``devicePage``, ``configPage``, ``logsPage``, ``dataPage``.

Entry: five taps in the top-right corner within 3 s end the resident's session (wiping it) and open
the PIN pad. The service session closes after ``session_timeout_s`` without a touch and the kiosk
returns to the attract screen. A kiosk without a device identity opens in first run: set the PIN,
then provision; it leaves first run only when the central confirmed the enrolment.

Everything blocking (argon2, provisioning, self-tests, the broker probe, exports) runs off the UI
thread. Nothing here logs or shows personal data.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import Property, QObject, QTimer, Signal, Slot
from PySide6.QtQml import QmlElement

from kiosk import services
from kiosk.background import BackgroundRunner
from kiosk.hardware import Hardware
from kiosk.journey.control import JourneyControl
from kiosk.journey.submitter import Submitter
from kiosk.service_mode.config_page import ConfigPageViewModel
from kiosk.service_mode.control import ControlServer
from kiosk.service_mode.data_page import DataPageViewModel
from kiosk.service_mode.device_page import DevicePageViewModel
from kiosk.service_mode.enrol_page import EnrolPageViewModel
from kiosk.service_mode.hardware_use import HardwareUseViewModel
from kiosk.service_mode.logs_page import LogsPageViewModel
from kiosk.service_mode.network_page import NetworkPageViewModel
from kiosk.service_mode.pin import PinPolicy, PinStore
from kiosk.service_mode.pin_page import LOCKOUT_ALARM_STATE, PinPageViewModel
from kiosk.service_mode.selftest_page import SelftestPageViewModel
from kiosk.service_mode.strings import service_table as table
from kiosk.service_mode.sync_control import ExternalSync, SyncControl
from sync.device import DeviceConfig, DeviceConfigError

QML_IMPORT_NAME = "Kiosk"
QML_IMPORT_MAJOR_VERSION = 1

log = logging.getLogger("kiosk.service")

MODES = ("closed", "pin", "firstrun", "service", "done")
PAGES = ("home", "device", "selftest", "network", "config", "logs", "data")
__all__ = ["LOCKOUT_ALARM_STATE", "MODES", "PAGES", "ServiceModeViewModel", "ServiceSettings"]


@dataclass(frozen=True)
class ServiceSettings:
    """How the service mode behaves; the app provides one (tests use short times)."""

    session_timeout_s: float = 300.0
    gesture_taps: int = 5
    gesture_window_s: float = 3.0
    pin_policy: PinPolicy = field(default_factory=PinPolicy)
    log_lines: int = 200
    provision_timeout_s: float = 60.0
    selftest_timeout_s: float = 5.0
    network_poll_ms: int = 3000
    online_poll_ms: int = 500  # the final screen of an enrolment watches the connection this often
    export_folder: str = ""  # suggested export folder (a USB stick's mount point)


def _optional(kind: type) -> Any:
    try:
        return services.get(kind)
    except services.MissingService:
        return None


def load_device(home: Path) -> DeviceConfig | None:
    try:
        return DeviceConfig.load(home)
    except DeviceConfigError:
        return None


@QmlElement
class ServiceModeViewModel(QObject):
    modeChanged = Signal()
    pageChanged = Signal()
    langChanged = Signal()
    messageChanged = Signal()
    busyChanged = Signal()
    journeyChanged = Signal()
    exportFolderChanged = Signal()

    def __init__(self, parent: QObject | None = None, submitter: Submitter | None = None,
                 hardware: Hardware | None = None, settings: ServiceSettings | None = None) -> None:
        super().__init__(parent)
        self.submitter = submitter or services.get(Submitter)
        self.hw: Hardware | None = hardware if hardware is not None else _optional(Hardware)
        self.settings = settings or _optional(ServiceSettings) or ServiceSettings()
        self.home = self.submitter.outbox.path.parent
        self.pins = PinStore(self.home, self.settings.pin_policy)
        self.device = load_device(self.home)
        if self.device is not None and self.submitter.device is None:
            self.submitter.device = self.device
        self.sync: SyncControl = _optional(SyncControl) or ExternalSync()
        self._journey: QObject | None = None
        self._lang = "zh"
        self.strings = table(self._lang)
        self._mode = "firstrun" if self.device is None else "closed"
        self._page = "home"
        self._message = ""
        self._message_ok = True
        self._busy = False
        self._taps: deque[float] = deque()
        self._export_folder = self.settings.export_folder
        self.runner = BackgroundRunner(self)  # quick work: argon2, probes, exports
        self.slow = BackgroundRunner(self)  # provisioning, self-tests, printing
        self._session_timer = QTimer(self, singleShot=True, interval=int(self.settings.session_timeout_s * 1000))
        self._session_timer.timeout.connect(self._session_expired)
        self.pin_page = PinPageViewModel(self)
        self.enrol_page = EnrolPageViewModel(self)
        self.selftest_page = SelftestPageViewModel(self)
        self.hardware_use = HardwareUseViewModel(self)
        self.network_page = NetworkPageViewModel(self)
        self.device_page = DevicePageViewModel(self)
        self.config_page = ConfigPageViewModel(self)
        self.logs_page = LogsPageViewModel(self)
        self.data_page = DataPageViewModel(self)
        if self._mode == "firstrun":
            self.set_message(self.strings["svcPinNew"])
        # `kiosk selftest` tests the drivers this app runs, through a socket in the home (control.py).
        self._control = ControlServer(self.home, self.selftest_page.remote_selftest, self)

    # == the pages ===================================================================================

    @Property(QObject, constant=True)
    def pinPage(self) -> PinPageViewModel:
        return self.pin_page

    @Property(QObject, constant=True)
    def enrolPage(self) -> EnrolPageViewModel:
        return self.enrol_page

    @Property(QObject, constant=True)
    def hardwareUse(self) -> HardwareUseViewModel:
        return self.hardware_use

    @Property(QObject, constant=True)
    def selftestPage(self) -> SelftestPageViewModel:
        return self.selftest_page

    @Property(QObject, constant=True)
    def networkPage(self) -> NetworkPageViewModel:
        return self.network_page

    @Property(QObject, constant=True)
    def devicePage(self) -> DevicePageViewModel:
        return self.device_page

    @Property(QObject, constant=True)
    def configPage(self) -> ConfigPageViewModel:
        return self.config_page

    @Property(QObject, constant=True)
    def logsPage(self) -> LogsPageViewModel:
        return self.logs_page

    @Property(QObject, constant=True)
    def dataPage(self) -> DataPageViewModel:
        return self.data_page

    # == shared state ================================================================================

    @Property(QObject, notify=journeyChanged)
    def journey(self) -> QObject | None:
        return self._journey

    @journey.setter  # type: ignore[no-redef]
    def journey(self, vm: QObject | None) -> None:
        self._journey = vm
        self.journeyChanged.emit()

    def journey_control(self) -> JourneyControl | None:
        """The journey as service mode may use it: the typed JourneyControl (kiosk/journey/control.py)."""
        return self._journey if isinstance(self._journey, JourneyControl) else None

    def reload_device(self) -> None:
        """The identity on disk now (a new enrolment's, or the one restored after a refusal)."""
        self.device = load_device(self.home)
        if self.device is not None:
            self.submitter.device = self.device

    def end_resident_session(self) -> None:
        control = self.journey_control()
        if control is not None:
            control.end_session()

    @Property(str, notify=modeChanged)
    def mode(self) -> str:
        return self._mode

    @Property(bool, notify=modeChanged)
    def firstRun(self) -> bool:
        return self._mode == "firstrun"

    def set_mode(self, mode: str) -> None:
        assert mode in MODES
        if mode == self._mode:
            return
        self._mode = mode
        if mode in ("pin", "service", "done"):
            self._session_timer.start()
        else:
            self._session_timer.stop()
        if mode != "service":
            self.network_page.stop_polling()
            self.hardware_use.stop()
        if mode != "done":
            self.enrol_page.stop_polling()
        if mode != "pin":
            self.pin_page.stop_polling()
        self.modeChanged.emit()

    @Property(str, notify=pageChanged)
    def page(self) -> str:
        return self._page

    @Property(dict, notify=langChanged)
    def s(self) -> dict[str, str]:
        return self.strings

    @property
    def lang(self) -> str:
        return self._lang

    @Property(str, notify=messageChanged)
    def message(self) -> str:
        return self._message

    @Property(bool, notify=messageChanged)
    def messageOk(self) -> bool:
        return self._message_ok

    def set_message(self, text: str, ok: bool = True) -> None:
        self._message, self._message_ok = text, ok
        self.messageChanged.emit()

    @Property(bool, notify=busyChanged)
    def busy(self) -> bool:
        return self._busy

    def set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit()

    @Property(str, notify=exportFolderChanged)
    def exportFolder(self) -> str:
        """The folder last typed for an export (logs or data): a USB stick's mount point."""
        return self._export_folder

    def remember_export_folder(self, folder: str) -> None:
        self._export_folder = folder
        self.exportFolderChanged.emit()

    @Property(int, constant=True)
    def sessionTimeoutS(self) -> int:
        return int(self.settings.session_timeout_s)

    @Slot()
    def toggleLanguage(self) -> None:
        self._lang = "en" if self._lang == "zh" else "zh"
        self.strings = table(self._lang)
        self.langChanged.emit()
        self.selftest_page.relabel()  # the advice lines in the new language

    # == entry: gesture, session, pages ==============================================================

    @Slot()
    def cornerTap(self) -> None:
        """One tap in the hidden corner; enough of them in the window open the PIN pad."""
        if self._mode != "closed":
            return
        now = time.monotonic()
        self._taps.append(now)
        while self._taps and now - self._taps[0] > self.settings.gesture_window_s:
            self._taps.popleft()
        if len(self._taps) >= self.settings.gesture_taps:
            self._taps.clear()
            self.end_resident_session()  # nothing of a resident stays in memory behind the service screens
            self.pin_page.open()

    def enter_service(self) -> None:
        """The PIN was accepted (or set anew after a reset by the central): the service pages open."""
        log.info("service mode opened")
        self._page = "home"
        self.pageChanged.emit()
        self.set_message("")
        self.set_mode("service")
        self.data_page.refresh()

    @Slot()
    def touch(self) -> None:
        """Any touch while the service mode is open keeps its session alive."""
        if self._mode in ("pin", "service"):
            self._session_timer.start()

    def _session_expired(self) -> None:
        if self._mode in ("pin", "service", "done"):
            log.info("service session timed out")
            self.close()

    @Slot()
    def close(self) -> None:
        """Leave the service mode: back to the resident's attract screen, nothing kept."""
        if self._mode == "firstrun":
            return
        self.pin_page.clear()
        self.set_message("")
        self.set_mode("closed")
        self._page = "home"
        self.pageChanged.emit()
        self.end_resident_session()

    @Slot(str)
    def openPage(self, page: str) -> None:
        if self._mode != "service" or page not in PAGES:
            return
        self.touch()
        self.hardware_use.stop()
        self._page = page
        self.set_message("")
        self.pageChanged.emit()
        if page == "network":
            self.network_page.start_polling()
        else:
            self.network_page.stop_polling()
        if page == "device":
            self.device_page.refreshDevice()
        elif page == "config":
            self.config_page.reload()
        elif page == "logs":
            self.logs_page.refreshLogs()
        elif page == "data":
            self.data_page.refresh()
        elif page == "selftest":
            self.selftest_page.run_once()

    # == life cycle ==================================================================================

    def shutdown(self) -> None:
        self._control.close()
        self._session_timer.stop()
        self.network_page.stop_polling()
        self.enrol_page.stop_polling()
        self.pin_page.stop_polling()
        self.hardware_use.stop()
        self.runner.shutdown()
        self.slow.shutdown()
