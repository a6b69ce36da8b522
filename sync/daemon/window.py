"""How many bytes the sync daemon keeps in flight: about a second of what the link carries, no more.

Bytes published and not yet PUBACKed sit in paho's queue, the socket, the modem's buffer. A new application can
only go out behind them, so on a thin link they are the wait a resident sees on the done screen; too few, and the
link idles between PUBACKs. The limit is :data:`HORIZON_S` of the rate measured from PUBACKs while the daemon had
more to send (an idle link says nothing about its rate), between :data:`FLOOR_BYTES` and the daemon's ceiling
(``--window-bytes``). Until a rate is known it is the ceiling. On 8 Mbit/s that is the ceiling (512 KiB, ~0.5 s);
on 1 Mbit/s ~125 KB instead of 4 s of photos (docs/BENCHMARKS.md, "A kiosk on a thin link").

The limit stays above the link's bandwidth-delay product as long as the round trip is under HORIZON_S: with a
round trip r, a window of HORIZON_S x rate carries rate x HORIZON_S / r >= rate per second.
"""

from __future__ import annotations

from collections import deque

HORIZON_S = 1.0
FLOOR_BYTES = 64 * 1024
SPAN_S = 2.0  # PUBACKs of the last two seconds make the rate
MIN_SPAN_S = 0.5  # ... once they span at least this long


class ByteWindow:
    def __init__(self, ceiling: int, floor: int = FLOOR_BYTES, horizon_s: float = HORIZON_S) -> None:
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.horizon_s = horizon_s
        self.rate: float | None = None  # bytes per second, measured
        self._acks: deque[tuple[float, int]] = deque()

    def limit(self) -> int:
        if self.rate is None:
            return self.ceiling
        return int(min(self.ceiling, max(self.floor, self.rate * self.horizon_s)))

    def acked(self, nbytes: int, now: float, busy: bool) -> None:
        """A PUBACK for ``nbytes`` of payload; ``busy``: the daemon had more waiting to go."""
        if not busy:
            self._acks.clear()  # what follows an idle spell starts a new measurement
            return
        self._acks.append((now, nbytes))
        while self._acks and now - self._acks[0][0] > SPAN_S:
            self._acks.popleft()
        span = now - self._acks[0][0]
        if span >= MIN_SPAN_S:
            # the first PUBACK of the span only marks its start: the bytes after it arrived within the span
            self.rate = sum(n for _, n in list(self._acks)[1:]) / span

    def reset(self) -> None:
        """A new connection: the next link may be another (Wi-Fi, 4G); start from the ceiling."""
        self.rate = None
        self._acks.clear()
