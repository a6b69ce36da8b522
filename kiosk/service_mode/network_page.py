"""The network & sync page's view-model: the broker, its reachability and TLS, the daemon's connection, what
waits in the outbox, and "retry now". Polled while the page is open."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Property, QTimer, Signal, Slot

from kiosk.service_mode import network
from kiosk.service_mode.page_base import ServicePage
from kiosk.service_mode.sync_control import InProcessSync

if TYPE_CHECKING:
    from kiosk.service_mode.viewmodel import ServiceModeViewModel


class NetworkPageViewModel(ServicePage):
    networkChanged = Signal()

    def __init__(self, shell: ServiceModeViewModel) -> None:
        super().__init__(shell)
        self._network: dict[str, Any] = {}
        self._timer = QTimer(self, interval=shell.settings.network_poll_ms)
        self._timer.timeout.connect(self.refreshNetwork)

    def start_polling(self) -> None:
        self.refreshNetwork()
        self._timer.start()

    def stop_polling(self) -> None:
        self._timer.stop()

    @Property(dict, notify=networkChanged)
    def networkInfo(self) -> dict[str, Any]:
        return self._network

    @Slot()
    def refreshNetwork(self) -> None:
        outbox, device = self.shell.submitter.outbox, self.shell.device
        self.shell.runner.run(lambda: network.report(outbox, device), self._network_report, lambda _e: None)

    def _network_report(self, r: network.NetworkReport) -> None:
        s = self.s
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
            "reason": "" if r.connected or r.connect_error is None else network.explain_connect_error(r.connect_error),
        }
        self.networkChanged.emit()

    @Slot()
    def retryNow(self) -> None:
        """Retry now: the running daemon skips its back-off; one that is not running is started when this
        process runs it (--sim), else the screen says it is not running rather than claiming a retry."""
        self.shell.touch()
        outbox, device, sync = self.shell.submitter.outbox, self.shell.device, self.shell.sync

        def retry() -> str:
            network.request_retry(outbox)
            if sync.running(outbox):
                return "svcRetryAsked"
            if device is not None and isinstance(sync, InProcessSync):
                sync.release(outbox, device)
                return "svcDaemonStarted"
            return "svcDaemonDownHint"

        self.shell.runner.run(retry, self._retry_asked, lambda _e: None)

    def _retry_asked(self, key: str) -> None:
        self.say(self.s[key], key != "svcDaemonDownHint")
        self.refreshNetwork()
