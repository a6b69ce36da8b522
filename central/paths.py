"""Where the central keeps its files: its home folder (keys, CA, staged downloads, the SQLite database when no
URL is given). Every command and the dashboard's CLI helpers resolve it here."""

from __future__ import annotations

import os
from pathlib import Path


def central_home(arg: str | None) -> Path:
    """``--home`` if given, else ``$KIOSK_CENTRAL_HOME``, else ``~/.local/share/kiosk-central``."""
    if arg:
        return Path(arg)
    if os.environ.get("KIOSK_CENTRAL_HOME"):
        return Path(os.environ["KIOSK_CENTRAL_HOME"])
    return Path.home() / ".local" / "share" / "kiosk-central"


def default_db(home: Path) -> str:
    """The database URL when none is given: SQLite in the home folder."""
    return f"sqlite:///{home / 'central.db'}"
