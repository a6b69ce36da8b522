"""Between residents, the UI switches to a catalogue the central installed meanwhile.

``kiosk-syncd`` executes the central's ``catalog_update`` command: it verifies the signed catalogue,
writes ``{home}/catalog.json`` atomically and sets the outbox state ``catalog_version``. The UI does not
swap catalogues under a resident's fingers: when a session ends it calls :func:`newer_installed`, which
reads that state and, only when it names another version, loads and re-verifies the installed file.
"""

from __future__ import annotations

import logging
from pathlib import Path

from kiosk.catalog.model import Catalog, version_key
from kiosk.catalog.update import installed_catalog
from sync.outbox.store import Outbox

log = logging.getLogger("kiosk.catalog")


def newer_installed(outbox: Outbox, public_key: bytes | None, current_version: str) -> Catalog | None:
    """The installed catalogue if it is newer than ``current_version`` (signature re-checked with
    ``public_key`` when given); None when nothing changed or anything cannot be read."""
    try:
        announced = outbox.states().get("catalog_version")
        if not announced or announced == current_version:
            return None
        found = installed_catalog(Path(outbox.path).parent, public_key)
    except Exception as exc:  # a busy database or an unreadable file: keep the catalogue in use
        log.warning("could not look for a new catalogue: %s", type(exc).__name__)
        return None
    if found.source != "installed" or version_key(found.catalog.version) <= version_key(current_version):
        return None
    log.info("catalogue %s replaces %s between sessions", found.catalog.version, current_version)
    return found.catalog


__all__ = ["newer_installed"]
