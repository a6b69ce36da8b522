"""Small pieces every command-line program here shares."""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Any, NoReturn


def not_yet_available(what: str) -> NoReturn:
    print(f"{what}: not yet available in this version", file=sys.stderr)
    raise SystemExit(3)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=None))


def stop_on_signals(stop: threading.Event | Any) -> None:
    """SIGTERM/SIGINT ask the loop to finish cleanly (``stop`` has ``set()`` or ``request_stop()``)."""

    def handler(_signum: int, _frame: Any) -> None:
        (getattr(stop, "request_stop", None) or stop.set)()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
