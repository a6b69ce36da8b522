"""A release the package manager installed, switched to through the same health gate as an over-the-air update.

The ``.deb``'s postinst runs ``street-kiosk -m sync.ota adopt`` from the release it has just unpacked when the
release that runs now is still installed beside it: an over-the-air release dpkg does not own, or the package's
own earlier release, which preinst keeps (hard links) before dpkg deletes it and postinst moves back. Like
:class:`~sync.ota.manager.OtaManager` before it switches, this records in ``ota_state.json``:

- the kiosk as it was (:func:`sync.ota.health.baseline`): a live UI that had drawn the attract screen and the
  drivers' self-test, so the new release counts as healthy only once *its* UI draws the attract screen, answers
  the liveness probe and has no driver failing that passed before;
- the outbox's schema under the running release (:func:`sync.ota.schema.record`, from that release's own
  migration scripts, which a bundled release carries), so a rollback takes the outbox back to it keeping every row;

then switches ``current``. The restarted daemon confirms the release (phase ``healthy``) or rolls it back, and the
guard rolls back a release that cannot start, exactly as for an update; the result is reported with
``source: "dpkg"``.

When there is no release to go back to (a first install, or one that could not be kept), ``current`` is switched
and no gate is armed (:func:`adopt` returns None).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sync.device import OUTBOX_FILE
from sync.ota.health import baseline
from sync.ota.manager import BASELINE_KEY
from sync.ota.schema import STATE_KEY, record
from sync.ota.switch import SWITCHED, Releases, UpdateState

DPKG_HEALTH_TIMEOUT_S = 600.0  # a package upgrade may restart more than the kiosk's two services
SOURCE = "dpkg"
# Where a bundled release keeps its outbox migration scripts (PyInstaller's _internal, packaging/street-kiosk.spec).
BUNDLED_MIGRATIONS = Path("_internal") / "sync" / "outbox" / "migrations"


def schema_record(db: Path, release_dir: Path) -> dict[str, Any] | None:
    """What a rollback to ``release_dir`` needs: the outbox's head under that release's own scripts (None: it has
    none). Read from the scripts, never from the database: postinst runs as root, and opening the outbox would
    leave root-owned ``-wal``/``-shm`` files the kiosk user then cannot write."""
    scripts = release_dir / BUNDLED_MIGRATIONS
    return record(db, scripts) if (scripts / "env.py").is_file() else None


def adopt(releases: Releases, version: str, home: Path, *, timeout_s: float = DPKG_HEALTH_TIMEOUT_S,
          clock: Callable[[], float] = time.time) -> UpdateState | None:
    """Switch ``current`` to ``version``; arm the health gate when the running release can be gone back to."""
    previous = releases.current_version()
    if previous is None or previous == version or not releases.path(previous).is_dir():
        releases.switch_to(version)
        return None
    now = clock()
    state = UpdateState(command_id=None, version=version, previous=previous, phase=SWITCHED,
                        deadline=now + timeout_s, switched_at=now, reported=True, detail="installed by dpkg",
                        extra={"source": SOURCE, BASELINE_KEY: baseline(home, now)})
    schema = schema_record(home / OUTBOX_FILE, releases.path(previous))
    if schema is not None:
        state.extra[STATE_KEY] = schema
    releases.save_state(state)
    releases.switch_to(version)
    return state


__all__ = ["DPKG_HEALTH_TIMEOUT_S", "adopt", "schema_record"]
