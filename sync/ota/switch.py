"""The ``current`` link and the update's state file, both replaced atomically.

Switching writes a new symlink beside the old one and renames it over ``current`` (``rename(2)`` is
atomic), then fsyncs the folder: after a power cut ``current`` names the old release or the new one.

``ota_state.json`` remembers an update across the restart into the new version: which command, from
which version to which, by when the new one must be healthy, and whether the result was reported.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from sync.runtime.files import fsync_dir

DEFAULT_ROOT = Path("/opt/street-kiosk")
ROOT_ENV = "KIOSK_OTA_ROOT"
RELEASES = "releases"
CURRENT = "current"
STATE_FILE = "ota_state.json"
PREVIOUS_FILE = "previous"  # the release before `current`, the one kept for a rollback besides it

SWITCHED = "switched"  # current points at the new version; waiting for it to report healthy
HEALTHY = "healthy"
ROLLED_BACK = "rolled_back"
REFUSED = "refused"
# The rollback could not take the outbox back to the old release's schema without losing rows
# (sync.ota.schema): the new release stays, automatic rollback stops, the result says why.
HELD = "held"


def ota_root(arg: str | os.PathLike[str] | None = None) -> Path:
    """The OTA root: the argument, else ``$KIOSK_OTA_ROOT``, else ``/opt/street-kiosk``."""
    if arg:
        return Path(arg)
    env = os.environ.get(ROOT_ENV)
    return Path(env) if env else DEFAULT_ROOT


@dataclass
class UpdateState:
    command_id: str | None
    version: str
    previous: str | None
    phase: str
    deadline: float  # epoch seconds by which the new version must be healthy
    switched_at: float
    reported: bool = False
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Releases:
    """The release folders and the ``current`` link under one OTA root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / RELEASES
        self.current_link = root / CURRENT
        self.state_path = root / STATE_FILE

    def path(self, version: str) -> Path:
        return self.dir / version

    def installed(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.name for p in self.dir.iterdir() if p.is_dir() and not p.name.startswith("."))

    def current_version(self) -> str | None:
        """The release ``current`` points at (its folder name), or None when there is no link."""
        try:
            target = os.readlink(self.current_link)
        except OSError:
            return None
        return Path(target).name or None

    def switch_to(self, version: str) -> str | None:
        """Point ``current`` at ``releases/version`` atomically; return the version it pointed at before."""
        if not self.path(version).is_dir():
            raise FileNotFoundError(f"release {version} is not installed")
        previous = self.current_version()
        tmp = self.root / f".{CURRENT}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(Path(RELEASES) / version, tmp)  # relative: the root may be moved or mounted elsewhere
        os.replace(tmp, self.current_link)
        fsync_dir(self.root)
        return previous

    def previous_version(self) -> str | None:
        """The release that ran before ``current`` (recorded when ``current`` was confirmed healthy)."""
        try:
            name = (self.root / PREVIOUS_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return name or None

    def record_previous(self, version: str | None) -> None:
        tmp = self.root / f".{PREVIOUS_FILE}.tmp"
        tmp.write_text(f"{version or ''}\n", encoding="utf-8")
        os.replace(tmp, self.root / PREVIOUS_FILE)

    def prune(self, keep: set[str | None]) -> list[str]:
        """Delete every release folder but ``keep`` (and half-unpacked leftovers); never ``current``."""
        keep = {*keep, self.current_version()}
        removed: list[str] = []
        if not self.dir.is_dir():
            return removed
        for path in sorted(self.dir.iterdir()):
            if path.name.startswith(".") and path.name.endswith(".unpacking"):
                shutil.rmtree(path, ignore_errors=True)
            elif path.is_dir() and not path.name.startswith(".") and path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
        if removed:
            fsync_dir(self.dir)
        return removed

    # -- the update in progress ------------------------------------------------------------------

    def load_state(self) -> UpdateState | None:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            names = {f.name for f in fields(UpdateState)}  # a later release may have added fields
            return UpdateState(**{k: v for k, v in data.items() if k in names})
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError):
            return None

    def save_state(self, state: UpdateState) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(f".{STATE_FILE}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(asdict(state), f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)
        fsync_dir(self.root)




__all__ = ["CURRENT", "DEFAULT_ROOT", "HEALTHY", "HELD", "REFUSED", "RELEASES", "ROLLED_BACK", "ROOT_ENV", "STATE_FILE",
           "SWITCHED", "Releases", "UpdateState", "ota_root"]
