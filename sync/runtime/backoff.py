"""Reconnect delays: exponential with full jitter (paho's own backoff has none, so a fleet that lost
its broker would reconnect in lockstep)."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, initial: float = 1.0, maximum: float = 60.0, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.maximum = maximum
        self._attempt = 0
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not crypto

    def next_delay(self) -> float:
        cap = min(self.maximum, self.initial * (2 ** self._attempt))
        self._attempt = min(self._attempt + 1, 30)
        return self._rng.uniform(self.initial / 2, cap)

    def reset(self) -> None:
        self._attempt = 0
