"""The self-test page's view-model: every driver's state in plain words with a remedy, and each one's own
check (a camera's live preview, a scan, a card read, a printed test page). The card check shows the masked
number only, the scan check the code's format and size only."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Property, Signal, Slot

from drivers.interfaces import DecodedCode, IdentityRecord
from drivers.registry import selftest_all
from kiosk.hardware import SCANNER
from kiosk.service_mode.explain import driver_label, explain, printer_problem
from kiosk.service_mode.page_base import ServicePage
from sync.protocol.masking import mask_id_number

if TYPE_CHECKING:
    from kiosk.service_mode.viewmodel import ServiceModeViewModel

log = logging.getLogger("kiosk.service")


class SelftestPageViewModel(ServicePage):
    driversChanged = Signal()

    def __init__(self, shell: ServiceModeViewModel) -> None:
        super().__init__(shell)
        self._drivers: list[dict[str, Any]] = []
        self._reports: list[dict[str, Any]] = []  # the last self-test
        self._results: dict[str, str] = {}

    def remote_selftest(self, timeout_s: float, reply: Any) -> None:
        """`kiosk selftest` asks through the control socket: the drivers this app runs, off the UI thread."""
        hw = self.shell.hw
        drivers = hw.drivers if hw is not None else None
        if drivers is None or not drivers.entries:
            reply([])
            return
        log.info("self-test asked for by the command line")
        self.shell.slow.run(lambda: selftest_all(drivers, timeout_s=timeout_s), reply, lambda _e: reply([]))

    @Property(list, notify=driversChanged)
    def drivers(self) -> list[dict[str, Any]]:
        return self._drivers

    def run_once(self) -> None:
        """Opening the page runs the self-test unless it has results already."""
        if not self._drivers:
            self.runSelftest()

    @Slot()
    def runSelftest(self) -> None:
        shell = self.shell
        shell.touch()
        drivers = shell.hw.drivers if shell.hw is not None else None
        if drivers is None or not drivers.entries:
            self._drivers = []
            self.driversChanged.emit()
            self.say(self.s["svcNoHardware"], False)
            return
        shell.hardware_use.stop()
        self._results.clear()  # a new run: no line of the last one stays
        self.say("")
        shell.set_busy(True)
        timeout = shell.settings.selftest_timeout_s
        shell.slow.run(lambda: selftest_all(drivers, timeout_s=timeout), self._selftested, self._selftest_error)

    def _selftested(self, reports: list[dict[str, Any]]) -> None:
        self.shell.set_busy(False)
        self._reports = reports
        self.relabel()

    def _selftest_error(self, exc: BaseException) -> None:
        self.shell.set_busy(False)
        log.warning("self-test failed: %s", type(exc).__name__)
        self.say(self.s["svcSelftestFailed"], False)

    def relabel(self) -> None:
        """The rows from the last reports and checks, in the screen's language."""
        lang = self.shell.lang
        rows = []
        for r in self._reports:
            name = str(r["driver"])
            error = str(r["last_error"] or "")
            rows.append({"name": name, "label": driver_label(name, lang), "kind": str(r["kind"]),
                         "ok": bool(r["ok"]), "state": str(r["state"]),
                         "lastError": error, "advice": explain(error, lang),
                         "result": self._results.get(name, ""),
                         "testable": name.startswith("camera.") or name in ("idcard", "printer")})
        self._drivers = rows
        self.driversChanged.emit()

    def _report_of(self, name: str) -> dict[str, Any] | None:
        return next((r for r in self._reports if r["driver"] == name), None)

    def _set_report(self, name: str, ok: bool, error: str | None) -> None:
        """One driver's own check decides its line: a pass clears the failure the last run showed."""
        report = self._report_of(name)
        if report is not None:
            report.update(ok=ok, state="ok" if ok else "failed", last_error=None if ok else error)

    def _result(self, name: str, text: str, ok: bool, error: str | None = None, report: bool = True) -> None:
        self._results[name] = text
        if report:
            self._set_report(name, ok, error)
        self.say(text, ok)
        self.relabel()

    @Slot(str)
    def testDriver(self, name: str) -> None:
        """The per-driver check: a camera's live preview (+ scan for the scanner), a card read, a test page."""
        shell = self.shell
        shell.touch()
        hw = shell.hw
        if hw is None:
            return
        shell.hardware_use.stop()
        report = self._report_of(name)
        if name.startswith("camera."):
            role = name.split(".", 1)[1]
            if report is not None and not report["ok"]:
                # No scan request while the camera is absent: say what to do instead.
                advice = explain(str(report["last_error"] or "camera_unplugged"), shell.lang)
                self._result(name, advice, False, report=False)
                return
            shell.hardware_use.show_camera(role, scan=role == SCANNER, purpose="test" if role == SCANNER else "")
            self._results[name] = self.s["svcScanWaiting"] if role == SCANNER else self.s["svcPreviewOn"]
        elif name == "idcard" and hw.idcard is not None:
            shell.hardware_use.read_card()
            self._results[name] = self.s["svcCardWaiting"]
        elif name == "printer" and hw.printer is not None:
            printer = hw.printer
            self._results[name] = "…"
            shell.slow.run(lambda: printer.selftest(print_test_page=True),  # type: ignore[call-arg]
                           self._printed, self._print_error)
        self.say(self._results.get(name, ""))
        self.relabel()

    def scan_checked(self, code: DecodedCode) -> None:
        self._result("camera.scanner", self.s["svcScanOk"].format(fmt=code.format, n=len(code.raw)), True)

    def card_checked(self, record: IdentityRecord) -> None:
        self._result("idcard", self.s["svcCardOk"].format(id=mask_id_number(record.id_number)), True)

    def card_failed(self, error: str) -> None:
        self._result("idcard", self.s["svcCardFail"].format(e=explain(error, self.shell.lang)), False,
                     report=False)

    def _printed(self, report: dict[str, Any]) -> None:
        ok = bool(report.get("ok")) and bool(report.get("printed"))
        problem = printer_problem(report) or "printer_unreachable"
        text = self.s["svcPrintOk"] if ok else self.s["svcPrintFail"].format(e=explain(problem, self.shell.lang))
        self._result("printer", text, ok, None if ok else problem)

    def _print_error(self, exc: BaseException) -> None:
        code = str(getattr(exc, "code", "") or "printer_unreachable")
        self._result("printer", self.s["svcPrintFail"].format(e=explain(code, self.shell.lang)), False, code)

    @Slot()
    def stopTests(self) -> None:
        self.shell.hardware_use.stop()
