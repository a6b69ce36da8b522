"""The logs page's view-model: the newest lines of the kiosk's log (no personal data is ever logged) and
their export to a USB stick."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Property, Signal, Slot

from kiosk.service_mode import logs
from kiosk.service_mode.page_base import ServicePage

if TYPE_CHECKING:
    from kiosk.service_mode.viewmodel import ServiceModeViewModel


class LogsPageViewModel(ServicePage):
    logsChanged = Signal()

    def __init__(self, shell: ServiceModeViewModel) -> None:
        super().__init__(shell)
        self._text = ""

    @Property(str, notify=logsChanged)
    def logText(self) -> str:
        return self._text

    @Slot()
    def refreshLogs(self) -> None:
        lines = logs.tail(self.shell.home, self.shell.settings.log_lines)
        self._text = "\n".join(lines) if lines else self.s["svcNoLogs"]
        self.logsChanged.emit()

    @Slot(str)
    def exportLogs(self, folder: str) -> None:
        shell = self.shell
        shell.touch()
        shell.remember_export_folder(folder)
        home = shell.home
        shell.runner.run(lambda: logs.export_logs(home, folder),
                         lambda out: self.say(self.s["svcExported"].format(path=out)),
                         shell.data_page.failed)
