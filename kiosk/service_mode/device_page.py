"""The "this kiosk" page's view-model: device id, site, display name, version, addresses, broker and
certificate (kiosk/service_mode/device_info.py gathers them off the UI thread)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Property, Signal, Slot

from kiosk.service_mode.device_info import device_info
from kiosk.service_mode.page_base import ServicePage

if TYPE_CHECKING:
    from kiosk.service_mode.viewmodel import ServiceModeViewModel


class DevicePageViewModel(ServicePage):
    deviceInfoChanged = Signal()

    def __init__(self, shell: ServiceModeViewModel) -> None:
        super().__init__(shell)
        self._info: dict[str, Any] = {}

    @Property(dict, notify=deviceInfoChanged)
    def deviceInfo(self) -> dict[str, Any]:
        return self._info

    @Slot()
    def refreshDevice(self) -> None:
        from PySide6.QtNetwork import QAbstractSocket, QNetworkInterface

        addresses = [a.toString() for a in QNetworkInterface.allAddresses()
                     if not a.isLoopback() and a.protocol() == QAbstractSocket.NetworkLayerProtocol.IPv4Protocol]
        home, device, outbox = self.shell.home, self.shell.device, self.shell.submitter.outbox
        self.shell.runner.run(lambda: device_info(home, device, outbox.states(), addresses), self._loaded,
                              lambda _e: None)

    def _loaded(self, info: dict[str, Any]) -> None:
        self._info = info
        self.deviceInfoChanged.emit()
