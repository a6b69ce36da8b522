"""Sets of sequence numbers as sorted, disjoint, inclusive ``[lo, hi]`` ranges.

A kiosk numbers its messages 1, 2, 3, ... (one counter across submissions, attachment chunks and events;
telemetry has its own). The central keeps, per kiosk, the highest number below which it has everything
and the ranges it has seen beyond it; the gaps between are what it asks the kiosk to send again. Ranges
keep that small whatever order messages arrive in (a backlog sends submissions before events).
"""

from __future__ import annotations

from collections.abc import Iterable

Range = tuple[int, int]


def compress(seqs: Iterable[int]) -> list[Range]:
    """Sorted disjoint ranges covering exactly ``seqs``."""
    out: list[Range] = []
    for n in sorted(set(seqs)):
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def merge(ranges: Iterable[Range]) -> list[Range]:
    """Sorted disjoint ranges covering the union of ``ranges`` (adjacent ones joined)."""
    out: list[Range] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def absorb(contiguous: int, ranges: Iterable[Range]) -> tuple[int, list[Range]]:
    """Fold ranges that touch ``contiguous`` into it; drop what lies at or below it."""
    rest: list[Range] = []
    for lo, hi in merge(ranges):
        if hi <= contiguous:
            continue
        if lo <= contiguous + 1:
            contiguous = hi
        else:
            rest.append((max(lo, contiguous + 1), hi))
    return contiguous, rest


def missing(contiguous: int, ranges: Iterable[Range]) -> list[Range]:
    """The gaps: numbers above ``contiguous`` and below the highest seen that are in no range."""
    out: list[Range] = []
    expect = contiguous + 1
    for lo, hi in merge(ranges):
        if lo > expect:
            out.append((expect, lo - 1))
        expect = max(expect, hi + 1)
    return out


def count(ranges: Iterable[Range]) -> int:
    return sum(hi - lo + 1 for lo, hi in ranges)


def contains(ranges: Iterable[Range], n: int) -> bool:
    return any(lo <= n <= hi for lo, hi in ranges)
