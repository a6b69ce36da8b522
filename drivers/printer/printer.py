"""The kiosk's receipt printer: ESC/POS over any backend, with status in health."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from drivers.health import Health
from drivers.printer.backends import Backend, PrinterError, PrinterStatus
from drivers.printer.escpos import DEFAULT_WIDTH_CHARS, Receipt

log = logging.getLogger(__name__)


class EscPosPrinter:
    """A :class:`~drivers.interfaces.ReceiptPrinter`.

    ``print_receipt`` asks the printer for its status first (``check_status``) and refuses with a
    :class:`PrinterError` whose ``code`` says why (``printer_paper_out``, ``printer_unreachable``...)
    instead of sending a job into a printer that cannot print it. Receipt text is never logged.
    """

    kind = "escpos"

    def __init__(self, backend: Backend, name: str = "printer", *, encoding: str = "gb18030",
                 width_chars: int = DEFAULT_WIDTH_CHARS, check_status: bool = True,
                 qr_module_size: int = 6, cut_feed_dots: int = 48) -> None:
        self.name = name
        self.health = Health(name)
        self.backend = backend
        self.encoding = encoding
        self.width_chars = width_chars
        self.check_status = check_status
        self.qr_module_size = qr_module_size
        self.cut_feed_dots = cut_feed_dots
        self.last_status: PrinterStatus | None = None
        Receipt(encoding=encoding)  # validate the codec now, not at the first receipt

    # -- building ----------------------------------------------------------------------------
    def new_receipt(self) -> Receipt:
        """An initialised receipt (``ESC @`` + Chinese mode) for callers that want their own layout."""
        return Receipt(encoding=self.encoding, width_chars=self.width_chars).init()

    def build_receipt(self, lines: Sequence[str], qr: str | None = None, *, title: str | None = None,
                      footer: Sequence[str] = ()) -> Receipt:
        r = self.new_receipt()
        if title:
            r.align("center").bold(True).size(2, 2).line(title).size(1, 1).bold(False).align("left")
            r.rule()
        for text in lines:
            r.line(text)
        if qr:
            r.feed(1).align("center").qr(qr, module_size=self.qr_module_size).line().align("left")
        if footer:
            r.align("center")
            for text in footer:
                r.line(text)
            r.align("left")
        return r.feed(2).cut(self.cut_feed_dots)

    # -- ReceiptPrinter --------------------------------------------------------------------------
    def print_receipt(self, lines: Sequence[str], qr: str | None = None, *, title: str | None = None,
                      footer: Sequence[str] = ()) -> None:
        """Print ``lines`` (and a QR of ``qr``); raises :class:`PrinterError` with a code on failure."""
        self.print_raw(bytes(self.build_receipt(lines, qr, title=title, footer=footer)))

    def print_raw(self, job: bytes | Receipt) -> None:
        data = bytes(job)
        if self.check_status:
            status = self.query_status()
            if status.state == "failed":
                raise PrinterError(status.error_code or "printer_unreachable")
        try:
            self.backend.send(data)
        except PrinterError as exc:
            self.health.failed(exc.code)
            log.warning("printer %s: job failed: %s", self.name, exc.code)
            raise
        if self.last_status is None or self.last_status.state == "ok" or not self.check_status:
            self.health.ok()

    def query_status(self) -> PrinterStatus:
        """Ask the printer (``DLE EOT`` where the transport can answer); update and return health."""
        status = self.backend.status()
        self.last_status = status
        code = status.error_code
        if status.state == "failed":
            self.health.failed(code or "printer_unreachable")
        elif status.state == "degraded":
            self.health.degraded(code or "printer_degraded")
        else:
            self.health.ok()
        return status

    def selftest(self, print_test_page: bool = False) -> dict[str, Any]:
        """Query status; print a test page only when ``print_test_page`` is asked for."""
        status = self.query_status()
        details: dict[str, Any] = {"ok": status.state != "failed", "kind": self.kind,
                                   "transport": self.backend.describe(), "status": status.as_dict(),
                                   "printed": False}
        if print_test_page and details["ok"]:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            try:
                self.print_receipt(["打印机自检 Printer self-test", f"时间 {stamp}",
                                    "中文测试：街道便民服务中心"], qr="selftest", title="自检")
                details["printed"] = True
            except PrinterError as exc:
                details.update(ok=False, error=exc.code)
        return details

    def close(self) -> None:
        self.backend.close()
