"""Which device the service pages have switched on, and where what it reads goes: a camera's live preview,
the scanner decoding (a self-test's scan check, or the central's enrolment QR) and the card reader
(the self-test's card check). One at a time; leaving a page or the service mode switches it off."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Property, Signal, Slot

from drivers.interfaces import DecodedCode, IdentityRecord
from kiosk.hardware import DOCUMENT, SCANNER
from kiosk.service_mode.page_base import ServicePage

if TYPE_CHECKING:
    from kiosk.service_mode.viewmodel import ServiceModeViewModel

TOKEN_PREFIX = "KIOSKPROV1:"  # noqa: S105 - the enrolment code's prefix, not a secret


class HardwareUseViewModel(ServicePage):
    previewChanged = Signal()

    def __init__(self, shell: ServiceModeViewModel) -> None:
        super().__init__(shell)
        self._role = ""
        self._frame_no = 0
        self.scan_purpose = ""  # "" | test | token
        self.card_test = False
        hw = shell.hw
        if hw is not None:
            hw.codeDecoded.connect(self._on_code)
            hw.previewUpdated.connect(self._on_preview)
            if hw.idcard is not None:
                hw.idcard.cardRead.connect(self._on_card)
                hw.idcard.failed.connect(self._on_card_failed)

    @Property(int, notify=previewChanged)
    def previewFrame(self) -> int:
        return self._frame_no

    @Property(str, notify=previewChanged)
    def previewRole(self) -> str:
        return self._role

    def show_camera(self, role: str, scan: bool = False, purpose: str = "") -> None:
        """A camera's live preview (and the scanner's decoding, for ``purpose``)."""
        hw = self.shell.hw
        if hw is None:
            return
        self._role = role
        self._frame_no = 0
        self.scan_purpose = purpose
        hw.use(scan=scan or role == SCANNER, document=role == DOCUMENT)
        self.previewChanged.emit()

    def read_card(self) -> None:
        """The card reader on, for the self-test's card check."""
        hw = self.shell.hw
        if hw is not None and hw.idcard is not None:
            self.card_test = True
            hw.use(card=True)

    def stop(self) -> None:
        self.scan_purpose = ""
        self.card_test = False
        hw = self.shell.hw
        if hw is not None and self._role:
            hw.use()
        if self._role:
            self._role = ""
            self._frame_no = 0
            self.previewChanged.emit()

    @Slot(str, int)
    def _on_preview(self, role: str, frame_no: int) -> None:
        if self.shell.mode != "closed" and role == self._role:
            self._frame_no = frame_no
            self.previewChanged.emit()

    @Slot(str, object)
    def _on_code(self, role: str, code: DecodedCode) -> None:
        if role != SCANNER or not self.scan_purpose or self.shell.mode == "closed":
            return
        if self.scan_purpose == "test":
            self.scan_purpose = ""
            self.shell.selftest_page.scan_checked(code)
        elif self.scan_purpose == "token" and code.text and code.text.startswith(TOKEN_PREFIX):
            self.scan_purpose = ""
            self.shell.enrol_page.provisionToken(code.text)

    @Slot(object)
    def _on_card(self, record: IdentityRecord) -> None:
        if self.card_test:
            self.card_test = False
            self.shell.selftest_page.card_checked(record)

    @Slot(str)
    def _on_card_failed(self, error: str) -> None:
        if self.card_test:
            self.shell.selftest_page.card_failed(error)
