"""The outbox's ledger: what a replaced outbox must not lose, in a small file beside it.

``{home}/outbox-ledger.json`` holds the highest sequence number the kiosk may have used (a *ceiling*,
reserved in blocks so the file is written once per :data:`SEQ_BLOCK` numbers, not per submission) and what
became of every quarantined outbox file (rows salvaged, alarm reported). It is written atomically
(``sync.runtime.files.write_private``: temporary file, fsync, rename, folder fsync), only while the outbox's SQLite
write lock is held, so the UI and the daemon never overwrite each other's update. Factory reset leaves it in
place: sequence and receipt numbers never go backwards over a device's whole life, whatever happens to
``outbox.db``. It holds no personal data.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.runtime.files import write_private

log = logging.getLogger("kiosk.outbox")

LEDGER_FILE = "outbox-ledger.json"
SEQ_BLOCK = 1000  # numbers reserved per ledger write; at most this many are skipped when an outbox is replaced


@dataclass
class Ledger:
    seq_ceiling: int = 0
    # quarantined file name -> {"salvaged": rows, "complete": bool, "reported": bool}
    quarantines: dict[str, dict[str, Any]] = field(default_factory=dict)
    readable: bool = True  # False: the file was there but could not be read (see ``read``)


def read(home: Path) -> Ledger:
    """The ledger in ``home``; an empty one if there is none yet.

    An unreadable ledger (it is written atomically, so only a damaged disk makes one) is moved aside and
    reported as ``readable=False``: the caller then jumps a block ahead rather than trust a smaller number."""
    path = home / LEDGER_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Ledger()
    try:
        data = json.loads(raw)
        ceiling = int(data["seq_ceiling"])
        quarantines = {str(k): dict(v) for k, v in dict(data.get("quarantines") or {}).items()}
        if ceiling < 0:
            raise ValueError("negative ceiling")
        return Ledger(ceiling, quarantines)
    except (ValueError, TypeError, KeyError, AttributeError):
        aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
        with contextlib.suppress(OSError):
            path.replace(aside)
        log.error("the outbox ledger was unreadable; moved aside as %s", aside.name)
        return Ledger(readable=False)


def write(home: Path, ledger: Ledger) -> None:
    """Replace the ledger atomically (raises OSError, e.g. on a full disk: the caller's transaction fails)."""
    data = {"seq_ceiling": ledger.seq_ceiling, "quarantines": ledger.quarantines}
    write_private(home / LEDGER_FILE, json.dumps(data, sort_keys=True).encode("utf-8"))
