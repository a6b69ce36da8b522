"""The touchscreen UI's liveness, as the sync daemon and the update's health gate see it.

The UI (``kiosk run``, :mod:`kiosk.liveness`) keeps one small record in the kiosk's home, written from its
*UI thread* only, so a frozen UI stops writing it::

    {home}/ui-liveness.json   {"pid", "release", "started_at", "beat_at", "attract_at", "probe",
                               "starts": [epoch, ...], "selftest": {driver: ok} | null}

- ``beat_at``: the last beat (every :data:`BEAT_S` seconds);
- ``attract_at``: when the attract screen was first drawn by this process (a frame swapped while the journey
  showed it) — a UI whose QML cannot load never sets it;
- ``probe``: the last nonce the UI thread read from ``{home}/ui-probe`` and echoed (:func:`probe`): a
  question answered by the UI thread itself, not by a helper thread that would go on while the UI hangs;
- ``starts``: the UI's start times in the last hour (each start adds one), for the repeated-restart alarm;
- ``selftest``: the drivers' self-test at the UI's start (``{name: ok}``), once it has finished.

No personal data ever goes in this file. Both processes run as the kiosk user and share the home.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LIVENESS_FILE = "ui-liveness.json"
PROBE_FILE = "ui-probe"
BEAT_S = 5.0  # the record's beat; the probe is answered within PROBE_POLL_S
PROBE_POLL_S = 1.0
STALE_S = 30.0  # no beat for this long: the UI is frozen or gone
STARTS_KEPT_S = 3600.0
RESTART_WINDOW_S = 600.0
RESTART_ALARM_STARTS = 3  # this many UI starts within RESTART_WINDOW_S: the UI is restarting over and over


def read_record(home: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((home / LIVENESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_record(home: Path, record: dict[str, Any]) -> None:
    """Atomically (a temp file renamed over the record): a reader never sees half a record."""
    path = home / LIVENESS_FILE
    tmp = path.with_name(f".{LIVENESS_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def read_probe(home: Path) -> str | None:
    try:
        return (home / PROBE_FILE).read_text(encoding="ascii").strip()[:64] or None
    except (OSError, UnicodeDecodeError):
        return None


def probe(home: Path, timeout_s: float = 3 * PROBE_POLL_S + 2.0, *, poll_s: float = 0.1,
          stop: Callable[[float], bool] | None = None) -> bool:
    """Ask the UI thread a question (a fresh nonce in ``ui-probe``) and wait for it to echo it."""
    nonce = secrets.token_hex(8)
    path = home / PROBE_FILE
    tmp = path.with_name(f".{PROBE_FILE}.{os.getpid()}.tmp")
    try:
        tmp.write_text(nonce, encoding="ascii")
        os.replace(tmp, path)
    except OSError:
        return False
    deadline = time.monotonic() + timeout_s
    wait = stop or _sleep
    while time.monotonic() < deadline:
        record = read_record(home)
        if record is not None and record.get("probe") == nonce:
            return True
        if wait(poll_s):
            return False
    return False


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def starts_within(record: dict[str, Any] | None, now: float, window_s: float = RESTART_WINDOW_S) -> int:
    if not record:
        return 0
    return sum(1 for t in record.get("starts") or () if isinstance(t, int | float) and now - t <= window_s)


def summary(home: Path, now: float | None = None) -> dict[str, Any] | None:
    """What the heartbeat says about the UI (None: this kiosk never ran a UI)."""
    record = read_record(home)
    if record is None:
        return None
    now = time.time() if now is None else now
    beat = float(record.get("beat_at") or 0)
    alive = now - beat <= STALE_S and _pid_alive(record.get("pid"))
    return {"alive": alive, "beat_age_s": round(max(0.0, now - beat), 1), "release": record.get("release"),
            "attract": bool(record.get("attract_at")), "started_at": record.get("started_at"),
            "starts_10min": starts_within(record, now)}


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RestartAlarm:
    """Raised once while the UI keeps restarting (:data:`RESTART_ALARM_STARTS` starts within
    :data:`RESTART_WINDOW_S`), cleared once it has stopped: :meth:`update` says ``"raise"``, ``"clear"`` or None."""

    CODE = "ui_restarting"

    def __init__(self) -> None:
        self.raised = False

    def update(self, ui: dict[str, Any] | None) -> str | None:
        restarting = bool(ui) and int(ui.get("starts_10min") or 0) >= RESTART_ALARM_STARTS  # type: ignore[union-attr]
        if restarting == self.raised:
            return None
        self.raised = restarting
        return "raise" if restarting else "clear"

    @staticmethod
    def detail(ui: dict[str, Any]) -> str:
        return (f"the touchscreen UI started {ui.get('starts_10min')} times in {RESTART_WINDOW_S / 60:.0f} minutes "
                f"(release {ui.get('release') or '?'}; alive: {'yes' if ui.get('alive') else 'no'})")


def clear_probe(home: Path) -> None:
    with contextlib.suppress(OSError):
        (home / PROBE_FILE).unlink()


__all__ = ["BEAT_S", "LIVENESS_FILE", "PROBE_FILE", "PROBE_POLL_S", "RESTART_ALARM_STARTS", "RESTART_WINDOW_S",
           "STALE_S", "STARTS_KEPT_S", "RestartAlarm", "clear_probe", "probe", "read_probe", "read_record",
           "starts_within", "summary", "write_record"]
