"""Is the release now running healthy? The whole kiosk's gate, the release's own check script, and a mark.

A new release counts as healthy only when every part of the kiosk says so (:func:`kiosk_gate`):

- **the sync daemon** has reached the broker since it started, or has tried and confirmed it is offline
  (a recorded connection error since its start) with its outbox open and writable;
- **the UI** (when the kiosk had a live UI before the switch): the UI process of *this* release has drawn
  the attract screen and its UI thread answered a liveness probe (:mod:`sync.ota.liveness`);
- **the drivers**: the new UI's start-up self-test has no driver failing that passed before the switch;
- **the release's** executable ``health`` script at its top (the build ships one: ``python -m sync.ota
  selfcheck``), run with the release folder as working directory and a time limit; exit status 0 passes.

``releases/<version>/.healthy`` is written once the version was confirmed, for technicians and the guard.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.ota import liveness

HEALTH_SCRIPT = "health"
HEALTH_MARK = ".healthy"
SCRIPT_TIMEOUT_S = 60.0


def run_health_script(release_dir: Path, timeout_s: float = SCRIPT_TIMEOUT_S) -> tuple[bool, str]:
    """(healthy, why). No script counts as healthy; one that fails, hangs or cannot run does not."""
    script = release_dir / HEALTH_SCRIPT
    if not script.exists():
        return True, "no health script"
    try:
        done = subprocess.run([str(script)], cwd=release_dir, capture_output=True, timeout=timeout_s,
                              check=False, env={**os.environ, "KIOSK_RELEASE_DIR": str(release_dir)})
    except subprocess.TimeoutExpired:
        return False, f"the health script did not finish in {timeout_s:.0f} s"
    except OSError as exc:
        return False, f"the health script could not run: {type(exc).__name__}"
    if done.returncode != 0:
        return False, f"the health script exited with status {done.returncode}"
    return True, "health script passed"


@dataclass(frozen=True)
class Verdict:
    """``ok``: healthy; ``final``: no point waiting (a check failed for good); ``why``: what is missing."""

    ok: bool
    final: bool
    why: str


def baseline(ui_home: Path | None, now: float | None = None) -> dict[str, Any]:
    """What the kiosk looked like before the switch, for "not worse" afterwards (saved in the update state)."""
    if ui_home is None:
        return {"ui": False, "selftest": None}
    ui = liveness.summary(ui_home, now)
    record = liveness.read_record(ui_home) or {}
    return {"ui": bool(ui and ui["alive"] and ui["attract"]), "selftest": record.get("selftest")}


def daemon_ready(states: dict[str, str], started_at: float) -> str | None:
    """None when the daemon reached the broker since ``started_at`` or confirmed it is offline; else why not."""
    try:
        since = float(states.get("connected_since") or 0)
    except ValueError:
        since = 0.0
    if states.get("connected") == "1" and since >= started_at:
        return None
    try:
        failed_at = float(json.loads(states.get("connect_error") or "{}").get("at") or 0)
    except (ValueError, AttributeError):
        failed_at = 0.0
    if failed_at >= started_at:
        return None  # offline, and it knows: the outbox was open to record it
    return "the sync daemon has neither reached the broker nor confirmed it is offline"


def ui_ready(ui_home: Path, version: str, switched_at: float,
             ask: Callable[[Path], bool] = liveness.probe) -> str | None:
    """None when this release's UI drew the attract screen and answered a probe; else why not."""
    record = liveness.read_record(ui_home)
    if record is None or record.get("release") != version or float(record.get("started_at") or 0) < switched_at:
        return f"the UI of release {version} has not started"
    if not record.get("attract_at"):
        return f"the UI of release {version} has not shown the attract screen"
    if not ask(ui_home):
        return f"the UI of release {version} did not answer the liveness probe"
    return None


def drivers_worse(before: dict[str, bool] | None, after: dict[str, bool] | None) -> list[str]:
    """Drivers that passed the self-test before the switch and fail it now."""
    if not before:
        return []
    after = after or {}
    return sorted(name for name, ok in before.items() if ok and after.get(name) is not True)


def kiosk_gate(*, states: dict[str, str], started_at: float, version: str, switched_at: float,
               before: dict[str, Any] | None, ui_home: Path | None,
               ask: Callable[[Path], bool] = liveness.probe) -> Verdict:
    """The gate's checks that need waiting for (not the release's script): see the module's docstring."""
    why = daemon_ready(states, started_at)
    if why:
        return Verdict(False, False, why)
    before = before or {}
    if before.get("ui") and ui_home is not None:
        why = ui_ready(ui_home, version, switched_at, ask)
        if why:
            return Verdict(False, False, why)
        if before.get("selftest"):
            now = (liveness.read_record(ui_home) or {}).get("selftest")
            if now is None:
                return Verdict(False, False, f"the UI of release {version} has not finished the drivers' self-test")
            worse = drivers_worse(before["selftest"], now)
            if worse:
                return Verdict(False, True, "the drivers' self-test got worse: " + ", ".join(worse) + " failing")
        return Verdict(True, True, "daemon up; UI showed the attract screen and answered; drivers not worse")
    return Verdict(True, True, "daemon up (no UI on this kiosk before the update)")


def write_mark(release_dir: Path) -> None:
    with contextlib.suppress(OSError):
        (release_dir / HEALTH_MARK).write_text(f"{time.time():.3f}\n", encoding="ascii")


def has_mark(release_dir: Path) -> bool:
    return (release_dir / HEALTH_MARK).exists()


__all__ = ["HEALTH_MARK", "HEALTH_SCRIPT", "Verdict", "baseline", "daemon_ready", "drivers_worse", "has_mark",
           "kiosk_gate", "run_health_script", "ui_ready", "write_mark"]
