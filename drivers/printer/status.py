"""A printer's status: the ESC/POS real-time status replies (``DLE EOT n``, n = 1..4, see
``drivers.printer.backends``) read into :class:`PrinterStatus`, whose ``problems`` carry the error codes
listed there."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEGRADED_CODES = frozenset({"printer_paper_near_end", "printer_recoverable_error"})


@dataclass
class PrinterStatus:
    """The outcome of a status query. ``raw`` holds the DLE EOT reply bytes by ``n``."""

    reachable: bool
    queried: bool = False  # False where the transport cannot answer DLE EOT
    online: bool | None = None
    paper: str = "unknown"  # ok | near_end | out | unknown
    cover_open: bool | None = None
    problems: list[str] = field(default_factory=list)
    raw: dict[int, int] = field(default_factory=dict)

    @property
    def state(self) -> str:
        """``ok``, ``degraded`` (usable, attention soon) or ``failed`` (cannot print)."""
        if any(p not in DEGRADED_CODES for p in self.problems):
            return "failed"
        return "degraded" if self.problems else "ok"

    @property
    def error_code(self) -> str | None:
        """The most important problem: a failing one before a degrading one."""
        failing = [p for p in self.problems if p not in DEGRADED_CODES]
        ranked = failing or self.problems
        return ranked[0] if ranked else None

    def as_dict(self) -> dict[str, Any]:
        return {"reachable": self.reachable, "queried": self.queried, "online": self.online,
                "paper": self.paper, "cover_open": self.cover_open, "problems": list(self.problems),
                "state": self.state, "raw": {str(k): f"0x{v:02x}" for k, v in self.raw.items()}}


def _valid(byte: int) -> bool:
    return (byte & 0x93) == 0x12


def parse_status(replies: dict[int, int]) -> PrinterStatus:
    """Turn DLE EOT replies {n: byte} into a :class:`PrinterStatus` (pure; unit-testable)."""
    st = PrinterStatus(reachable=True, queried=True, raw=dict(replies))
    for n, byte in replies.items():
        if not _valid(byte):
            st.problems.append("printer_bad_reply")
            return st
        if n == 1:
            st.online = not byte & 0x08
            if not st.online:
                st.problems.append("printer_offline")
        elif n == 2:
            st.cover_open = bool(byte & 0x04)
            if st.cover_open:
                st.problems.append("printer_cover_open")
            if byte & 0x20:
                st.paper = "out"
        elif n == 3:
            if byte & 0x08:
                st.problems.append("printer_cutter_error")
            if byte & 0x20:
                st.problems.append("printer_unrecoverable_error")
            if byte & 0x40:
                st.problems.append("printer_recoverable_error")
        elif n == 4:
            if byte & 0x60:
                st.paper = "out"
            elif byte & 0x0C:
                st.paper = "near_end" if st.paper != "out" else "out"
            elif st.paper == "unknown":
                st.paper = "ok"
    if st.paper == "out":
        st.problems.insert(0, "printer_paper_out")
    elif st.paper == "near_end":
        st.problems.append("printer_paper_near_end")
    # "offline" is the consequence when the cause is known: report the cause first
    if "printer_offline" in st.problems and len(st.problems) > 1:
        st.problems.remove("printer_offline")
        st.problems.append("printer_offline")
    return st
