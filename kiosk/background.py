"""Run blocking work (database, sealing, printing) off the UI thread; results come back on it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

log = logging.getLogger("kiosk.background")


class BackgroundRunner(QObject):
    _finished = Signal(object, object, object)  # callback, result, error

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # One worker keeps the UI's database writes in order.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiosk-bg")
        self._finished.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)
        self.pending = 0
        self._closed = False

    def run(self, work: Callable[[], Any], on_result: Callable[[Any], None],
            on_error: Callable[[BaseException], None] | None = None) -> None:
        self.pending += 1

        def job() -> None:
            try:
                result = work()
            except Exception as exc:  # handed back to the UI thread, never lost
                self._finished.emit(on_error, None, exc)
            else:
                self._finished.emit(on_result, result, None)

        self._pool.submit(job)

    @Slot(object, object, object)
    def _dispatch(self, callback: Callable[[Any], None] | None, result: Any, error: Any) -> None:
        self.pending -= 1
        if error is not None and callback is None:
            log.error("background work failed: %s", type(error).__name__)
            return
        if callback is None or self._closed:
            return  # shut down: whoever asked is going away, its answer is not wanted
        try:
            callback(error if error is not None else result)
        except RuntimeError as exc:
            # The QObject that asked was deleted while the work ran (a session ending mid-print).
            if "deleted" not in str(exc):
                raise
            log.debug("dropped a background result for a deleted object")

    def shutdown(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=True)
