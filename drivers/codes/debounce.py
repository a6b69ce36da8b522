"""``Debouncer``: the same code held in front of the camera is reported once per hold time."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable

from drivers.interfaces import DecodedCode


class Debouncer:
    """Report the same payload once per ``hold_s`` seconds while it stays in front of the camera.

    Keys are keyed BLAKE2 hashes of format and bytes (a per-instance random key), so the debouncer
    never holds a payload. ``clock`` is injectable for tests (default ``time.monotonic``).
    """

    def __init__(self, hold_s: float = 3.0, clock: Callable[[], float] = time.monotonic) -> None:
        if hold_s < 0:
            raise ValueError("hold_s must be >= 0")
        self.hold_s = hold_s
        self._clock = clock
        self._key = os.urandom(16)
        self._last: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def _digest(self, code: DecodedCode) -> bytes:
        h = hashlib.blake2b(key=self._key, digest_size=16)
        h.update(code.format.encode())
        h.update(b"\0")
        h.update(code.raw)
        return h.digest()

    def accept(self, code: DecodedCode) -> bool:
        """True if ``code`` should be reported now."""
        d = self._digest(code)
        with self._lock:
            now = self._clock()
            last = self._last.get(d)
            if last is not None and now - last < self.hold_s:
                return False
            self._last[d] = now
            if len(self._last) > 256:  # forget payloads not seen for a while
                self._last = {k: v for k, v in self._last.items() if now - v < self.hold_s}
            return True

    def filter(self, codes: Iterable[DecodedCode]) -> list[DecodedCode]:
        return [c for c in codes if self.accept(c)]

    def reset(self) -> None:
        with self._lock:
            self._last.clear()
