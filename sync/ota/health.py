"""Is the release now running healthy? Its own check script, then a mark that says so.

A release may carry an executable ``health`` script at its top (the packaging's smoke check: the
bundle starts, its database migrates, its drivers answer). It runs with the release folder as working
directory and a time limit; exit status 0 is healthy. With no script, reaching the broker is the check.
``releases/<version>/.healthy`` is written once the version was confirmed, for technicians and the guard.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

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


def write_mark(release_dir: Path) -> None:
    with contextlib.suppress(OSError):
        (release_dir / HEALTH_MARK).write_text(f"{time.time():.3f}\n", encoding="ascii")


def has_mark(release_dir: Path) -> bool:
    return (release_dir / HEALTH_MARK).exists()


__all__ = ["HEALTH_MARK", "HEALTH_SCRIPT", "has_mark", "run_health_script", "write_mark"]
