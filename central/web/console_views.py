"""What the 好差评, 差评整改 and report pages share: the query's date range, the catalogue's item names, and the
statistics cache."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from central import catalogue
from central.satisfaction import PERIODS, day_range
from central.web.deps import WebContext

T = TypeVar("T")


@dataclass(frozen=True)
class Range:
    """A page's ``from``/``to``/``period`` query (dates in China Standard Time); bad dates are dropped and said."""

    date_from: str
    date_to: str
    period: str
    start: float | None
    end: float | None
    bad: bool = False

    @classmethod
    def of(cls, date_from: str, date_to: str, period: str, default_period: str = "month") -> Range:
        period = period if period in PERIODS else default_period
        bad = False
        days: list[dt.date | None] = []
        for text in (date_from, date_to):
            try:
                days.append(dt.date.fromisoformat(text.strip()) if text.strip() else None)
            except ValueError:
                days.append(None)
                bad = True
        lo, hi = day_range(days[0], days[1])
        return cls(days[0].isoformat() if days[0] else "", days[1].isoformat() if days[1] else "", period, lo, hi, bad)


def item_names(web: WebContext, lang: str) -> Callable[[str], str]:
    """An item's name in ``lang`` for its code (the code itself for an item the catalogue does not know)."""
    cat = catalogue.load(web.keys_home)

    def name(code: str) -> str:
        return cat.name(code, "en" if lang == "en" else "zh") if code else "-"

    return name


def item_limits(web: WebContext) -> dict[str, int]:
    """承诺时限 in working days per item code, from the catalogue."""
    return {code: item.time_limit_days for code, item in catalogue.load(web.keys_home).items.items()}


def item_choices(web: WebContext, lang: str) -> list[tuple[str, str]]:
    """(code, name) of every catalogue item, by name, for a filter's drop-down."""
    return catalogue.load(web.keys_home).choices("en" if lang == "en" else "zh")


class StatsCache:
    """The statistics pages' aggregates, kept ``ttl_s`` seconds per question (store, page, filters).

    A year of a million applications takes seconds to count on PostgreSQL; counts a minute old are what a
    street office's statistics need, so each page says when its figures were counted ("统计于 … ，每分钟更新").
    Lists that must be current (the newest ratings, tickets) are never cached."""

    def __init__(self, ttl_s: float = 60.0, max_entries: int = 128) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: dict[tuple[Any, ...], tuple[float, float, Any]] = {}  # key -> (expires, computed, value)

    def get(self, key: tuple[Any, ...], compute: Callable[[], T], now: float) -> tuple[T, float]:
        """(the value, when it was computed): from the cache while fresh, else computed now."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] > now:
                return hit[2], hit[1]
        value = compute()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                for k in sorted(self._entries, key=lambda k: self._entries[k][0])[: self.max_entries // 4]:
                    del self._entries[k]
            self._entries[key] = (now + self.ttl_s, now, value)
        return value, now

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


STATS = StatsCache()
