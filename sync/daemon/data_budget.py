"""The kiosk's monthly data budget: what the daemon moved over the network this month, and telemetry's pace.

A kiosk on a 4G plan has a finite month. The daemon counts every MQTT message it sends and receives (payload and
topic, plus the fixed header) and scales the sum by :data:`WIRE_FACTOR`, the ratio of bytes on the wire (TLS,
TCP, IP, Ethernet, acks) to stored envelope bytes that ``bench/link.py`` measured over the shipped mutual TLS.
It is an estimate for pacing, not a meter: the modem's own counter is the bill.

The setting ``data_budget_mb`` (``sync.kiosk_config``; 0: no budget) is the month's allowance. As it runs low,
heartbeats are sent less often (:meth:`DataBudget.heartbeat_factor`); residents' applications, their photos and
events never wait for the budget. The month's use is kept in the outbox's shared state (``data_use``), so it
survives restarts, and travels in every heartbeat as ``data`` (the central's device page shows it).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from sync.outbox.store import Outbox

STATE_KEY = "data_use"
WIRE_FACTOR = 1.08  # bench/link.py, 8 Mbit/s: wire bytes / stored payload 1.083 (docs/BENCHMARKS.md)
MQTT_OVERHEAD = 7  # fixed header, remaining length, topic length, packet id, properties length
# (share of the budget used, heartbeat interval multiplier): past 80 % a heartbeat every 4 intervals, past 95 %
# every 16, at or over the budget every 120 (an hour at the default 30 s): the fleet still sees the kiosk alive.
STEPS = ((1.0, 120), (0.95, 16), (0.8, 4))


def month_of(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m")  # the kiosk's own calendar month


class DataBudget:
    def __init__(self, outbox: Outbox, budget_mb: int = 0) -> None:
        self.outbox = outbox
        self.budget_mb = budget_mb
        self.month = ""
        self.used = 0  # estimated wire bytes this month, including what is not yet saved
        self._saved = 0
        self._load()

    @property
    def budget_bytes(self) -> int:
        return max(0, int(self.budget_mb)) * 1_000_000

    def _load(self) -> None:
        try:
            stored = json.loads(self.outbox.states().get(STATE_KEY) or "{}")
            month, used = str(stored.get("month", "")), int(stored.get("bytes", 0))
        except (ValueError, TypeError, AttributeError):
            month, used = "", 0
        self.month, self.used = month, max(0, used)
        self._saved = self.used

    def count(self, topic: str, payload_bytes: int, now: float) -> None:
        """One MQTT message sent or received."""
        month = month_of(now)
        if month != self.month:  # a new month starts from nothing
            self.month, self.used, self._saved = month, 0, -1
        self.used += round((payload_bytes + len(topic) + MQTT_OVERHEAD) * WIRE_FACTOR)

    def save(self) -> None:
        """Keep the month's count in the outbox (the daemon's housekeeping calls this every few seconds)."""
        if self.used != self._saved:
            self.outbox.set_states({STATE_KEY: json.dumps({"month": self.month, "bytes": self.used})})
            self._saved = self.used

    def share(self) -> float | None:
        """The month's use as a share of the budget; None without a budget."""
        budget = self.budget_bytes
        return None if budget <= 0 else self.used / budget

    def heartbeat_factor(self) -> int:
        """How many heartbeat intervals apart telemetry goes now (1: no budget, or plenty left)."""
        share = self.share()
        if share is None:
            return 1
        for limit, factor in STEPS:
            if share >= limit:
                return factor
        return 1

    def report(self) -> dict[str, Any]:
        """The heartbeat's ``data``: month, estimated bytes used, budget bytes (0: none), telemetry factor."""
        return {"month": self.month or month_of(time.time()), "used": self.used, "budget": self.budget_bytes,
                "telemetry_factor": self.heartbeat_factor()}
