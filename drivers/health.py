"""The health record every driver keeps, which the sync daemon reports in telemetry."""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass, field


class HealthState(enum.StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass
class HealthSnapshot:
    driver: str
    state: HealthState
    last_error: str | None
    last_success: float | None  # epoch seconds
    changed_at: float

    def as_dict(self) -> dict[str, object]:
        return {
            "driver": self.driver,
            "state": self.state.value,
            "last_error": self.last_error,
            "last_success": self.last_success,
            "changed_at": self.changed_at,
        }


@dataclass
class Health:
    """Thread-safe, mutable health of one driver.

    ``last_error`` must never contain personal data: drivers put error kinds and codes here,
    never payloads.
    """

    driver: str
    _state: HealthState = HealthState.UNKNOWN
    _last_error: str | None = None
    _last_success: float | None = None
    _changed_at: float = field(default_factory=time.time)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ok(self) -> None:
        with self._lock:
            now = time.time()
            if self._state is not HealthState.OK:
                self._changed_at = now
            self._state = HealthState.OK
            self._last_success = now

    def degraded(self, error: str) -> None:
        self._set(HealthState.DEGRADED, error)

    def failed(self, error: str) -> None:
        self._set(HealthState.FAILED, error)

    def _set(self, state: HealthState, error: str) -> None:
        with self._lock:
            if self._state is not state:
                self._changed_at = time.time()
            self._state = state
            self._last_error = error

    def snapshot(self) -> HealthSnapshot:
        with self._lock:
            return HealthSnapshot(self.driver, self._state, self._last_error, self._last_success,
                                  self._changed_at)
