"""What every service page's view-model shares: the service-mode shell it belongs to (kiosk/service_mode/
viewmodel.py), which holds the technician's session, the screen's language, its status line and the
background runners. A page reaches the shell, never another page's internals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

if TYPE_CHECKING:
    from kiosk.service_mode.viewmodel import ServiceModeViewModel


class ServicePage(QObject):
    """Base of one service page's view-model; QML reaches it as a property of the shell."""

    def __init__(self, shell: ServiceModeViewModel) -> None:
        super().__init__(shell)
        self.shell = shell

    @property
    def s(self) -> dict[str, str]:
        """The service texts in the screen's language."""
        return self.shell.strings

    def say(self, text: str, ok: bool = True) -> None:
        """The shell's status line."""
        self.shell.set_message(text, ok)
