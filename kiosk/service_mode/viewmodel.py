"""The technician's service mode as one view-model: entry (hidden gesture + PIN pad), first run,
self-test, network & sync, settings, logs, data export and factory reset. QML only shows it.

Entry: five taps in the top-right corner within 3 s end the resident's session (wiping it) and open
the PIN pad. The service session closes after ``session_timeout_s`` without a touch and the kiosk
returns to the attract screen. A kiosk without a device identity opens in first run: set the PIN,
then provision; it leaves first run only when the central confirmed the enrolment.

Everything blocking (argon2, provisioning, self-tests, the broker probe, exports) runs off the UI
thread. Nothing here logs or shows personal data: the ID-card check shows the masked number only,
the scan check the code's format and size only.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import Property, QObject, QTimer, Signal, Slot
from PySide6.QtQml import QmlElement

from drivers.interfaces import DecodedCode, IdentityRecord
from drivers.registry import selftest_all
from kiosk import services
from kiosk.background import BackgroundRunner
from kiosk.hardware import DOCUMENT, SCANNER, Hardware
from kiosk.i18n import table
from kiosk.journey.submitter import Submitter
from kiosk.service_mode import data, devices, logs, network
from kiosk.service_mode.pin import Attempt, PinError, PinPolicy, PinStore
from kiosk.service_mode.provisioning import provision
from sync.device import OUTBOX_FILE, DeviceConfig, DeviceConfigError
from sync.kiosk_config import ConfigError, apply_updates, load_config
from sync.outbox.store import Outbox
from sync.protocol.masking import mask_id_number

QML_IMPORT_NAME = "Kiosk"
QML_IMPORT_MAJOR_VERSION = 1

log = logging.getLogger("kiosk.service")

MODES = ("closed", "pin", "firstrun", "service")
PAGES = ("home", "selftest", "network", "config", "logs", "data")
TOKEN_PREFIX = "KIOSKPROV1:"  # noqa: S105 - the enrolment code's prefix, not a secret


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
    export_folder: str = ""  # suggested export folder (a USB stick's mount point)


def _optional(kind: type) -> Any:
    try:
        return services.get(kind)
    except services.MissingService:
        return None


def _load_device(home: Path) -> DeviceConfig | None:
    try:
        return DeviceConfig.load(home)
    except DeviceConfigError:
        return None


@QmlElement
class ServiceModeViewModel(QObject):
    modeChanged = Signal()
    pageChanged = Signal()
    langChanged = Signal()
    pinChanged = Signal()
    messageChanged = Signal()
    busyChanged = Signal()
    driversChanged = Signal()
    previewChanged = Signal()
    networkChanged = Signal()
    configChanged = Signal()
    logsChanged = Signal()
    dataChanged = Signal()
    journeyChanged = Signal()

    def __init__(self, parent: QObject | None = None, submitter: Submitter | None = None,
                 hardware: Hardware | None = None, settings: ServiceSettings | None = None) -> None:
        super().__init__(parent)
        self._submitter = submitter or services.get(Submitter)
        self._hw = hardware if hardware is not None else _optional(Hardware)
        self.settings = settings or _optional(ServiceSettings) or ServiceSettings()
        self.home = self._submitter.outbox.path.parent
        self.pins = PinStore(self.home, self.settings.pin_policy)
        self._device = _load_device(self.home)
        if self._device is not None and self._submitter.device is None:
            self._submitter.device = self._device
        self._journey: QObject | None = None
        self._lang = "zh"
        self._s = table(self._lang)
        self._mode = "firstrun" if self._device is None else "closed"
        self._page = "home"
        self._pin = ""
        self._new_pin_hash: str | None = None  # first run: held until the central confirms
        self._first_step = "pin"  # first run: pin -> pinConfirm -> provision
        self._pin_first = ""
        self._message = ""
        self._message_ok = True
        self._busy = False
        self._taps: deque[float] = deque()
        self._drivers: list[dict[str, Any]] = []
        self._reports: list[dict[str, Any]] = []  # the last self-test
        self._results: dict[str, str] = {}
        self._preview_role = ""
        self._preview_no = 0
        self._scan_purpose = ""  # "" | test | token
        self._card_test = False
        self._network: dict[str, Any] = {}
        self._config: dict[str, Any] = load_config(self.home)
        self._log_text = ""
        self._undelivered = 0
        self._not_exported = 0
        self._export_folder = self.settings.export_folder
        self._runner = BackgroundRunner(self)  # quick work: argon2, probes, exports
        self._slow = BackgroundRunner(self)  # provisioning, self-tests, printing
        self._session_timer = QTimer(self, singleShot=True, interval=int(self.settings.session_timeout_s * 1000))
        self._session_timer.timeout.connect(self._session_expired)
        self._network_timer = QTimer(self, interval=self.settings.network_poll_ms)
        self._network_timer.timeout.connect(self.refreshNetwork)
        if self._hw is not None:
            self._hw.codeDecoded.connect(self._on_code)
            self._hw.previewUpdated.connect(self._on_preview)
            if self._hw.idcard is not None:
                self._hw.idcard.cardRead.connect(self._on_card)
                self._hw.idcard.failed.connect(self._on_card_failed)
        if self._mode == "firstrun":
            self._set_message(self._s["svcPinNew"])

    # == basics ======================================================================================

    @Property(QObject, notify=journeyChanged)
    def journey(self) -> QObject | None:
        return self._journey

    @journey.setter  # type: ignore[no-redef]
    def journey(self, vm: QObject | None) -> None:
        self._journey = vm
        self.journeyChanged.emit()

    @Property(str, notify=modeChanged)
    def mode(self) -> str:
        return self._mode

    def _set_mode(self, mode: str) -> None:
        assert mode in MODES
        if mode == self._mode:
            return
        self._mode = mode
        if mode in ("pin", "service"):
            self._session_timer.start()
        else:
            self._session_timer.stop()
        if mode != "service":
            self._network_timer.stop()
            self._stop_devices()
        self.modeChanged.emit()

    @Property(str, notify=pageChanged)
    def page(self) -> str:
        return self._page

    @Property(dict, notify=langChanged)
    def s(self) -> dict[str, str]:
        return self._s

    @Property(str, notify=messageChanged)
    def message(self) -> str:
        return self._message

    @Property(bool, notify=messageChanged)
    def messageOk(self) -> bool:
        return self._message_ok

    def _set_message(self, text: str, ok: bool = True) -> None:
        self._message, self._message_ok = text, ok
        self.messageChanged.emit()

    @Property(bool, notify=busyChanged)
    def busy(self) -> bool:
        return self._busy

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit()

    @Property(int, constant=True)
    def sessionTimeoutS(self) -> int:
        return int(self.settings.session_timeout_s)

    @Slot()
    def toggleLanguage(self) -> None:
        self._lang = "en" if self._lang == "zh" else "zh"
        self._s = table(self._lang)
        self.langChanged.emit()

    # == entry: gesture, PIN, session ================================================================

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
            self._open_pin()

    def _open_pin(self) -> None:
        self._end_resident_session()  # nothing of a resident stays in memory behind the service screens
        self._pin = ""
        self.pinChanged.emit()
        status = self.pins.status()
        self._set_message(self._pin_status_text(status), status.code == "ok")
        self._set_mode("pin")
        log.info("service PIN pad opened")

    def _end_resident_session(self) -> None:
        if self._journey is not None:
            self._journey.endSession()  # type: ignore[attr-defined]

    def _pin_status_text(self, a: Attempt) -> str:
        if a.code == "no_pin":
            return self._s["svcPinNone"]
        if a.code in ("locked", "locked_now"):
            return self._s["svcPinLocked"].format(m=max(1, round(a.wait_s / 60)))
        if a.code == "wait":
            return self._s["svcPinWait"].format(s=max(1, round(a.wait_s)))
        if a.code == "wrong":
            return self._s["svcPinWrong"].format(n=a.tries_left, s=max(1, round(a.wait_s)))
        return self._s["svcPinTitle"]

    @Property(int, notify=pinChanged)
    def pinLength(self) -> int:
        return len(self._pin)

    @Property(str, notify=pinChanged)
    def firstRunStep(self) -> str:
        return self._first_step

    @Property(bool, notify=modeChanged)
    def firstRun(self) -> bool:
        return self._mode == "firstrun"

    @Slot(str)
    def pinDigit(self, digit: str) -> None:
        self.touch()
        if digit.isdigit() and len(digit) == 1 and len(self._pin) < 12:
            self._pin += digit
            self.pinChanged.emit()

    @Slot()
    def pinBackspace(self) -> None:
        self.touch()
        self._pin = self._pin[:-1]
        self.pinChanged.emit()

    @Slot()
    def pinCancel(self) -> None:
        self._pin = ""
        self.pinChanged.emit()
        if self._mode == "pin":
            self.close()
        elif self._mode == "firstrun" and self._first_step == "pinConfirm":
            self._first_step = "pin"
            self._set_message(self._s["svcPinNew"])

    @Slot()
    def pinSubmit(self) -> None:
        pin, self._pin = self._pin, ""
        self.pinChanged.emit()
        if self._mode == "firstrun":
            self._first_run_pin(pin)
            return
        if self._mode != "pin" or self._busy:
            return
        status = self.pins.status()
        if status.code != "ok":
            self._set_message(self._pin_status_text(status), False)
            return
        self._set_busy(True)
        self._set_message(self._s["svcPinChecking"])
        self._runner.run(lambda: self._check_pin(pin), self._pin_checked, self._pin_error)

    def _check_pin(self, pin: str) -> Attempt:
        attempt = self.pins.check(pin)
        if attempt.code == "locked_now":
            log.warning("service PIN locked out after %d wrong tries", self.settings.pin_policy.max_tries)
            device = self._submitter.device
            if device is not None:
                self._submitter.outbox.enqueue_alarm(
                    device, "service_pin_lockout",
                    f"{self.settings.pin_policy.max_tries} wrong service PINs; locked for "
                    f"{int(self.settings.pin_policy.lockout_s)} s", "critical")
        elif attempt.code == "wrong":
            log.info("wrong service PIN (%d tries left)", attempt.tries_left)
        return attempt

    def _pin_checked(self, attempt: Attempt) -> None:
        self._set_busy(False)
        if attempt.ok:
            log.info("service mode opened")
            self._page = "home"
            self.pageChanged.emit()
            self._set_message("")
            self._set_mode("service")
            self._refresh_data()
        else:
            self._set_message(self._pin_status_text(attempt), False)

    def _pin_error(self, exc: BaseException) -> None:
        self._set_busy(False)
        self._set_message(self._s["svcPinWait"].format(s=1) + f" ({type(exc).__name__})", False)

    @Slot()
    def touch(self) -> None:
        """Any touch while the service mode is open keeps its session alive."""
        if self._mode in ("pin", "service"):
            self._session_timer.start()

    def _session_expired(self) -> None:
        if self._mode in ("pin", "service"):
            log.info("service session timed out")
            self.close()

    @Slot()
    def close(self) -> None:
        """Leave the service mode: back to the resident's attract screen, nothing kept."""
        if self._mode == "firstrun":
            return
        self._pin = ""
        self.pinChanged.emit()
        self._set_message("")
        self._set_mode("closed")
        self._page = "home"
        self.pageChanged.emit()
        self._end_resident_session()

    @Slot(str)
    def openPage(self, page: str) -> None:
        if self._mode != "service" or page not in PAGES:
            return
        self.touch()
        self._stop_devices()
        self._page = page
        self._set_message("")
        self.pageChanged.emit()
        if page == "network":
            self.refreshNetwork()
            self._network_timer.start()
        else:
            self._network_timer.stop()
        if page == "config":
            self._config = load_config(self.home)
            self.configChanged.emit()
        elif page == "logs":
            self.refreshLogs()
        elif page == "data":
            self._refresh_data()
        elif page == "selftest" and not self._drivers:
            self.runSelftest()

    # == first run ===================================================================================

    def _first_run_pin(self, pin: str) -> None:
        if self._first_step == "pin":
            try:
                self.pins.hash_pin(pin)  # only the rules here; hashed again on confirmation
            except PinError as exc:
                self._set_message(str(exc), False)
                return
            self._pin_first = pin
            self._first_step = "pinConfirm"
            self.pinChanged.emit()
            self._set_message(self._s["svcPinAgain"])
        elif self._first_step == "pinConfirm":
            first, self._pin_first = self._pin_first, ""
            if pin != first:
                self._first_step = "pin"
                self.pinChanged.emit()
                self._set_message(self._s["svcPinMismatch"], False)
                return
            self._set_busy(True)
            self._runner.run(lambda: self.pins.hash_pin(pin), self._first_run_hashed, self._pin_error)

    def _first_run_hashed(self, pin_hash: str) -> None:
        self._set_busy(False)
        self._new_pin_hash = pin_hash
        self._first_step = "provision"
        self.pinChanged.emit()
        self._set_message(self._s["svcFirstRunNote"])

    # == provisioning (first run and re-provisioning) =================================================

    @Slot()
    def scanToken(self) -> None:
        """Look for the enrolment QR with the scanner camera (live preview on)."""
        self.touch()
        if self._hw is None or not self._hw.has_scanner:
            self._set_message(self._s["svcNoHardware"], False)
            return
        self._scan_purpose = "token"
        self._show_camera(SCANNER, scan=True)
        self._set_message(self._s["svcScanToken"])

    @Slot(str)
    def provisionToken(self, token: str) -> None:
        self.touch()
        token = token.strip()
        if self._busy:
            return
        if self._mode == "firstrun" and self._first_step != "provision":
            return
        if not token:
            self._set_message(self._s["svcToken"] + "?", False)
            return
        self._stop_devices()
        self._set_busy(True)
        self._set_message(self._s["svcProvisioning"])
        self._slow.run(lambda: self._provision(token), self._provisioned, self._provision_error)

    def _provision(self, token: str) -> Any:
        outbox = self._submitter.outbox
        if self._mode == "service":  # re-provisioning: only what a verified export holds may go
            if data.not_exported(self.home, outbox):
                return data.DataError("undelivered", self._s["svcProvisionNeedsExport"])
            data.drop_exported(self.home, outbox)
        keep_pin = self.pins.stored_hash()
        try:
            return provision(self.home, token, timeout_s=self.settings.provision_timeout_s)
        finally:
            if keep_pin and not self.pins.has_pin():  # a refused enrolment rolls the secrets folder back
                self.pins.store_hash(keep_pin)

    def _provisioned(self, result: Any) -> None:
        self._set_busy(False)
        if isinstance(result, data.DataError):
            self._set_message(result.message, False)
            return
        if not result.ok:
            self._set_message(result.message, False)
            if self._mode == "firstrun":
                self._device = _load_device(self.home)  # "pending" keeps the identity; refusals do not
            return
        self._device = _load_device(self.home)
        self._submitter.device = cast(DeviceConfig, self._device)
        log.info("provisioned as %s", result.device_id)
        if self._mode == "firstrun":
            if self._new_pin_hash is not None:
                self.pins.store_hash(self._new_pin_hash)
                self._new_pin_hash = None
            self._first_step = "pin"
            self.pinChanged.emit()
            self._set_mode("closed")
            self._end_resident_session()
        self._set_message(result.message, True)
        self._refresh_data()

    def _provision_error(self, exc: BaseException) -> None:
        self._set_busy(False)
        log.warning("provisioning failed: %s", type(exc).__name__)
        self._set_message(f"开通失败（{type(exc).__name__}）", False)

    # == devices: previews, scan check, card check ===================================================

    @Property(int, notify=previewChanged)
    def previewFrame(self) -> int:
        return self._preview_no

    @Property(str, notify=previewChanged)
    def previewRole(self) -> str:
        return self._preview_role

    def _show_camera(self, role: str, scan: bool = False) -> None:
        if self._hw is None:
            return
        self._preview_role = role
        self._preview_no = 0
        self._hw.use(scan=scan or role == SCANNER, document=role == DOCUMENT)
        self.previewChanged.emit()

    def _stop_devices(self) -> None:
        self._scan_purpose = ""
        self._card_test = False
        if self._hw is not None and self._preview_role:
            self._hw.use()
        if self._preview_role:
            self._preview_role = ""
            self._preview_no = 0
            self.previewChanged.emit()

    @Slot(str, int)
    def _on_preview(self, role: str, frame_no: int) -> None:
        if self._mode != "closed" and role == self._preview_role:
            self._preview_no = frame_no
            self.previewChanged.emit()

    @Slot(str, object)
    def _on_code(self, role: str, code: DecodedCode) -> None:
        if role != SCANNER or not self._scan_purpose or self._mode == "closed":
            return
        if self._scan_purpose == "test":
            self._results["camera.scanner"] = self._s["svcScanOk"].format(fmt=code.format, n=len(code.raw))
            self._scan_purpose = ""
            self._set_message(self._results["camera.scanner"])
            self._fill_drivers()
        elif self._scan_purpose == "token" and code.text and code.text.startswith(TOKEN_PREFIX):
            self._scan_purpose = ""
            self.provisionToken(code.text)

    @Slot(object)
    def _on_card(self, record: IdentityRecord) -> None:
        if not self._card_test:
            return
        self._card_test = False
        self._results["idcard"] = self._s["svcCardOk"].format(id=mask_id_number(record.id_number))
        self._set_message(self._results["idcard"])
        self._fill_drivers()

    @Slot(str)
    def _on_card_failed(self, error: str) -> None:
        if self._card_test:
            self._results["idcard"] = self._s["svcCardFail"].format(e=error)
            self._fill_drivers()

    # == self-test ===================================================================================

    @Property(list, notify=driversChanged)
    def drivers(self) -> list[dict[str, Any]]:
        return self._drivers

    @Slot()
    def runSelftest(self) -> None:
        self.touch()
        drivers = self._hw.drivers if self._hw is not None else None
        if drivers is None or not drivers.entries:
            self._drivers = []
            self.driversChanged.emit()
            self._set_message(self._s["svcNoHardware"], False)
            return
        self._set_busy(True)
        timeout = self.settings.selftest_timeout_s
        self._slow.run(lambda: selftest_all(drivers, timeout_s=timeout), self._selftested, self._selftest_error)

    def _selftested(self, reports: list[dict[str, Any]]) -> None:
        self._set_busy(False)
        self._reports = reports
        self._fill_drivers()

    def _selftest_error(self, exc: BaseException) -> None:
        self._set_busy(False)
        self._set_message(f"自检失败（{type(exc).__name__}）", False)

    def _fill_drivers(self) -> None:
        rows = []
        for r in self._reports:
            name = str(r["driver"])
            rows.append({"name": name, "kind": str(r["kind"]), "ok": bool(r["ok"]), "state": str(r["state"]),
                         "lastError": str(r["last_error"] or ""), "result": self._results.get(name, ""),
                         "testable": name.startswith("camera.") or name in ("idcard", "printer")})
        self._drivers = rows
        self.driversChanged.emit()

    @Slot(str)
    def testDriver(self, name: str) -> None:
        """The per-driver check: a camera's live preview (+ scan for the scanner), a card read, a test page."""
        self.touch()
        if self._hw is None:
            return
        self._stop_devices()
        if name.startswith("camera."):
            role = name.split(".", 1)[1]
            self._show_camera(role, scan=role == SCANNER)
            if role == SCANNER:
                self._scan_purpose = "test"
                self._results[name] = self._s["svcScanWaiting"]
            else:
                self._results[name] = self._s["svcPreviewOn"]
        elif name == "idcard" and self._hw.idcard is not None:
            self._card_test = True
            self._hw.use(card=True)
            self._results[name] = self._s["svcCardWaiting"]
        elif name == "printer" and self._hw.printer is not None:
            printer = self._hw.printer
            self._results[name] = "…"
            self._slow.run(lambda: printer.selftest(print_test_page=True),  # type: ignore[call-arg]
                           self._printed, self._print_error)
        self._set_message(self._results.get(name, ""))
        self._fill_drivers()

    def _printed(self, report: dict[str, Any]) -> None:
        ok = bool(report.get("ok")) and bool(report.get("printed"))
        text = self._s["svcPrintOk"] if ok else self._s["svcPrintFail"].format(e=report.get("error") or "status")
        self._results["printer"] = text
        self._set_message(text, ok)
        self._fill_drivers()

    def _print_error(self, exc: BaseException) -> None:
        self._results["printer"] = self._s["svcPrintFail"].format(e=type(exc).__name__)
        self._set_message(self._results["printer"], False)
        self._fill_drivers()

    @Slot()
    def stopTests(self) -> None:
        self._stop_devices()

    # == network & sync ==============================================================================

    @Property(dict, notify=networkChanged)
    def networkInfo(self) -> dict[str, Any]:
        return self._network

    @Slot()
    def refreshNetwork(self) -> None:
        outbox, device = self._submitter.outbox, self._device
        self._runner.run(lambda: network.report(outbox, device), self._network_report, lambda _e: None)

    def _network_report(self, r: network.NetworkReport) -> None:
        s = self._s
        oldest = "—" if r.oldest_pending_s is None else f"{int(r.oldest_pending_s)} s"
        last = s["svcNever"] if r.last_delivery is None else time.strftime("%Y-%m-%d %H:%M:%S",
                                                                           time.localtime(r.last_delivery))
        reach = "" if r.reachable is None else (s["svcReachable"] if r.reachable
                                                else f"{s['svcUnreachable']} ({r.reach_error})")
        self._network = {
            "broker": r.broker, "reachable": bool(r.reachable), "reachText": reach, "tls": r.tls,
            "tlsText": s["svcTls"] if r.tls else s["svcNoTls"], "connected": r.connected,
            "connText": (s["svcConnected"] if r.connected else
                         s["svcDisconnected"] if r.daemon_running else s["svcDaemonDown"]),
            "lastDelivery": last, "oldest": oldest, "counts": dict(r.counts), "retryPending": r.retry_pending,
            "countsText": " · ".join(f"{k} {v}" for k, v in r.counts.items()),
        }
        self.networkChanged.emit()

    @Slot()
    def retryNow(self) -> None:
        self.touch()
        outbox = self._submitter.outbox
        self._runner.run(lambda: network.request_retry(outbox), lambda _r: self._retry_asked(), lambda _e: None)

    def _retry_asked(self) -> None:
        self._set_message(self._s["svcRetryAsked"])
        self.refreshNetwork()

    # == settings ====================================================================================

    @Property(dict, notify=configChanged)
    def config(self) -> dict[str, Any]:
        return self._config

    @Property(list, notify=configChanged)
    def hardwareSummary(self) -> list[str]:
        drivers = self._hw.drivers if self._hw is not None else None
        if drivers is None:
            return []
        return [f"{e.name}: {e.kind}" for e in drivers.entries]

    @Slot(dict)
    def saveConfig(self, values: dict[str, Any]) -> None:
        """Validate and write the changed settings (all or nothing), audit them, apply them live."""
        self.touch()
        current = load_config(self.home)
        updates = {k: v for k, v in values.items() if str(v) != str(current.get(k))}
        if not updates:
            self._set_message(self._s["svcNoChange"])
            return
        try:
            version, config = apply_updates(self.home, updates, source="technician")
        except ConfigError as exc:
            self._set_message(f"{exc}（未做任何修改）", False)
            return
        device = self._submitter.device
        if device is not None:
            self._submitter.outbox.enqueue_event(device, "config_changed", {
                "keys": sorted(updates), "source": "technician", "config_version": version})
        log.info("settings changed by the technician: %s", ", ".join(sorted(updates)))
        self._config = config
        self.configChanged.emit()
        if self._journey is not None and hasattr(self._journey, "apply_settings"):
            self._journey.apply_settings(idle_timeout_s=float(config["idle_timeout_s"]),
                                         language=str(config["language_default"]),
                                         elder_mode=bool(config["elder_mode_default"]))
        self._set_message(self._s["svcSavedRestart"] if "heartbeat_interval_s" in updates else self._s["svcSaved"])

    # == devices: camera, ID-card reader and printer choices (drivers.json) ==========================
    # The running drivers are wired into the resident's screens at start-up (signals, the ID-card thread),
    # so a change is written and audited now and the new devices are built when the kiosk restarts; the
    # page says so rather than pretending to apply it live.

    devicesChanged = Signal()
    dev_root = Path("/dev")  # tests point these at real files in a temporary folder
    sys_root = Path("/sys")
    _dev_roles: tuple[devices.RoleChoices, ...] = ()
    _dev_pick: tuple[tuple[str, str], ...] = ()  # role -> chosen key, as pairs
    _dev_note = ""

    @Property(list, notify=devicesChanged)
    def deviceRoles(self) -> list[dict[str, Any]]:
        pick = dict(self._dev_pick)
        return [{"role": rc.role, "label": rc.label, "selected": pick.get(rc.role, rc.selected),
                 "choices": [{"key": c.key, "label": c.label} for c in rc.choices]} for rc in self._dev_roles]

    @Property(str, notify=devicesChanged)
    def devicesNote(self) -> str:
        return self._dev_note

    @Slot()
    def refreshDevices(self) -> None:
        """List what is plugged in now and select the current setting of every role."""
        try:
            self._dev_roles = tuple(devices.choices(self.home, dev_root=self.dev_root, sys_root=self.sys_root))
        except devices.DevicesError as exc:
            self._dev_roles = ()
            self._set_message(str(exc), False)
        self._dev_pick = ()
        self.devicesChanged.emit()

    @Slot(str, str)
    def chooseDevice(self, role: str, key: str) -> None:
        self.touch()
        self._dev_pick = tuple({**dict(self._dev_pick), role: key}.items())
        self.devicesChanged.emit()

    @Slot()
    def saveDevices(self) -> None:
        """Validate (the device exists, the set builds) and write drivers.json atomically, then audit it."""
        self.touch()
        selection = {rc.role: dict(self._dev_pick).get(rc.role, rc.selected) for rc in self._dev_roles}
        try:
            changed = devices.change(self.home, selection, dev_root=self.dev_root, sys_root=self.sys_root)
        except devices.DevicesError as exc:
            self._set_message(str(exc), False)
            return
        if not changed:
            self._set_message(self._s["svcNoChange"])
            return
        device = self._submitter.device
        if device is not None:
            self._submitter.outbox.enqueue_event(device, "config_changed", {
                "keys": ["drivers"], "source": "technician", "drivers_changed": changed})
        log.info("devices changed by the technician: %s", ", ".join(changed))
        self.refreshDevices()
        self._dev_note = self._s["svcDevicesRestart"]
        self.devicesChanged.emit()
        self._set_message(self._s["svcDevicesSaved"])

    # == logs ========================================================================================

    @Property(str, notify=logsChanged)
    def logText(self) -> str:
        return self._log_text

    @Slot()
    def refreshLogs(self) -> None:
        lines = logs.tail(self.home, self.settings.log_lines)
        self._log_text = "\n".join(lines) if lines else self._s["svcNoLogs"]
        self.logsChanged.emit()

    @Property(str, notify=dataChanged)
    def exportFolder(self) -> str:
        return self._export_folder

    @Slot(str)
    def exportLogs(self, folder: str) -> None:
        self.touch()
        self._export_folder = folder
        home = self.home
        self._runner.run(lambda: logs.export_logs(home, folder),
                         lambda out: self._set_message(self._s["svcExported"].format(path=out)),
                         self._data_error)

    # == data: export, factory reset =================================================================

    @Property(int, notify=dataChanged)
    def undelivered(self) -> int:
        return self._undelivered

    @Property(int, notify=dataChanged)
    def notExported(self) -> int:
        return self._not_exported

    @Property(str, notify=dataChanged)
    def undeliveredText(self) -> str:
        return self._s["svcUndelivered"].format(n=self._undelivered, m=self._not_exported)

    def _refresh_data(self) -> None:
        outbox, home = self._submitter.outbox, self.home
        self._runner.run(lambda: (len(data.undelivered_ids(outbox)), data.not_exported(home, outbox)),
                         self._data_counts, lambda _e: None)

    def _data_counts(self, counts: tuple[int, int]) -> None:
        self._undelivered, self._not_exported = counts
        self.dataChanged.emit()

    @Slot(str)
    def exportUndelivered(self, folder: str) -> None:
        self.touch()
        self._export_folder = folder
        outbox, home, device = self._submitter.outbox, self.home, self._device
        self._set_busy(True)
        self._runner.run(lambda: data.export_undelivered(home, outbox, folder, device), self._exported,
                         self._data_error)

    def _exported(self, result: data.ExportResult) -> None:
        self._set_busy(False)
        self._set_message(self._s["svcExportedData"].format(n=result.count, k=result.submissions,
                                                            path=result.folder))
        self._refresh_data()

    def _data_error(self, exc: BaseException) -> None:
        self._set_busy(False)
        if isinstance(exc, data.DataError):
            self._set_message(exc.message, False)
        else:
            self._set_message(f"操作失败（{type(exc).__name__}）", False)

    @Slot()
    def factoryReset(self) -> None:
        """Confirmed on screen; refused while undelivered data is not exported."""
        self.touch()
        if self._busy:
            return
        outbox = self._submitter.outbox
        try:
            if data.not_exported(self.home, outbox):
                raise data.DataError("undelivered", "还有未送达的申请：请先导出到 U 盘，再恢复出厂设置")
            self._stop_devices()
            data.factory_reset(self.home, outbox)
        except data.DataError as exc:
            self._set_message(exc.message, False)
            self._refresh_data()
            return
        with contextlib.suppress(Exception):
            # The resident's side keeps a working (empty) outbox; it shows first run until provisioned.
            self._submitter.outbox = Outbox(self.home / OUTBOX_FILE)
        self._submitter.device = cast(DeviceConfig, None)
        self._device = None
        self._new_pin_hash = None
        self._first_step = "pin"
        self.pinChanged.emit()
        self._config = load_config(self.home)
        self.configChanged.emit()
        self._set_mode("firstrun")
        self._set_message(self._s["svcResetDone"] + "。" + self._s["svcPinNew"])
        self._refresh_data()

    # == life cycle ==================================================================================

    def shutdown(self) -> None:
        self._session_timer.stop()
        self._network_timer.stop()
        self._stop_devices()
        self._runner.shutdown()
        self._slow.shutdown()
