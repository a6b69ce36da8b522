"""Each kiosk's peripherals as an operator thinks of them, from the drivers' health in its telemetry: the ID
card reader, the cameras, the receipt printer and its paper, and the disk; and the alarms they call for.

The kiosk reports every driver's health in each heartbeat (``drivers``: name, state, last_error code; the
printer's paper sensor shows in its code, ``printer_paper_out`` / ``printer_paper_near_end``, see
``drivers.printer.backends``) and its free disk (``disk_free``). Nothing here is personal data.
"""

from __future__ import annotations

from typing import Any

PARTS = ("card_reader", "cameras", "printer", "disk")
_RANK = {"ok": 0, "unknown": 1, "degraded": 2, "failed": 3}
PAPER_OUT = "printer_paper_out"
PAPER_LOW = "printer_paper_near_end"


def _part(driver: str) -> str | None:
    if driver == "idcard" or driver.startswith("idcard."):
        return "card_reader"
    if driver.startswith("camera"):
        return "cameras"
    if driver == "printer" or driver.startswith("printer."):
        return "printer"
    return None


def summary(telemetry: dict[str, Any], disk_free_min: int) -> dict[str, Any]:
    """``{card_reader, cameras, printer, disk: ok|degraded|failed|unknown|absent, paper: ok|low|out|unknown,
    errors: {part: [codes]}}`` (``absent``: the kiosk has no such driver)."""
    states: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    paper = "unknown"
    drivers = telemetry.get("drivers")
    for d in drivers if isinstance(drivers, list) else []:
        if not isinstance(d, dict):
            continue
        part = _part(str(d.get("driver") or ""))
        if part is None:
            continue
        state = str(d.get("state") or "unknown")
        state = state if state in _RANK else "unknown"
        if _RANK[state] >= _RANK.get(states.get(part, "ok"), 0):
            states[part] = state
        code = d.get("last_error")
        if state != "ok" and isinstance(code, str) and code:
            errors.setdefault(part, []).append(code[:64])
        if part == "printer":
            paper = ("out" if code == PAPER_OUT and state != "ok" else "low" if code == PAPER_LOW and state != "ok"
                     else "ok" if state == "ok" else paper)
    out: dict[str, Any] = {p: states.get(p, "absent") for p in PARTS[:3]}
    disk = telemetry.get("disk_free")
    if isinstance(disk, int | float) and not isinstance(disk, bool):
        out["disk"] = "ok" if disk >= disk_free_min else "failed" if disk < disk_free_min / 4 else "degraded"
    else:
        out["disk"] = "unknown"
    out["paper"] = paper if "printer" in states else "unknown"
    out["errors"] = errors
    return out


def alarms(p: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """code -> (severity, detail) for the printer's paper (out: critical, near its end: warning)."""
    if p["paper"] == "out":
        return {"printer_paper_out": ("critical", "printer out of paper")}
    if p["paper"] == "low":
        return {"printer_paper_low": ("warning", "printer paper near its end")}
    return {}


def unhealthy(failed: list[str], p: dict[str, Any]) -> list[str]:
    """The failed drivers that call for ``driver_unhealthy``: all but a printer that is only out of paper
    (``printer_paper_out`` says so)."""
    if p["errors"].get("printer") == [PAPER_OUT]:
        return [d for d in failed if _part(d) != "printer"]
    return failed
