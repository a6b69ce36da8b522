"""No message may stop a central service (issue 13 item 4): what the ingest workers and the certificate
service do when a handler fails on one message (a bug or a fault, not a refusal): refuse that message,
count it, raise a rate-limited ``message_failed`` alarm, and go on."""

from __future__ import annotations

import logging
import time

ALARM_REPEAT_S = 60.0  # the same (key, code) alarm is raised at most this often per service
MESSAGE_FAILED = "message_failed"


class AlarmThrottle:
    """Remembers when each (key, code) alarm was last raised; :meth:`due` says whether it may be again."""

    def __init__(self, repeat_s: float = ALARM_REPEAT_S, max_keys: int = 10_000) -> None:
        self.repeat_s = repeat_s
        self.max_keys = max_keys
        self._at: dict[tuple[str, str], float] = {}

    def due(self, key: str, code: str, now: float | None = None) -> bool:
        """True (and remembered) when this alarm was not raised within ``repeat_s``."""
        now = time.monotonic() if now is None else now
        if now - self._at.get((key, code), -self.repeat_s) < self.repeat_s:
            return False
        self._at[(key, code)] = now
        if len(self._at) > self.max_keys:  # junk from many ids must not grow this without bound
            self._at = {k: t for k, t in self._at.items() if now - t < self.repeat_s}
        return True


def handler_failed(log: logging.Logger, kind: str, device_id: str, exc: BaseException) -> tuple[str, str, str]:
    """Log that a handler failed on one ``kind`` message from ``device_id``; the alarm to raise as
    ``(code, severity, detail)``. Only the exception's type is logged: its text could quote the content."""
    log.error("refused a %s from %s: its handler failed (%s)", kind, device_id, type(exc).__name__)
    return MESSAGE_FAILED, "warning", f"a {kind} message could not be handled ({type(exc).__name__}); it was refused"
