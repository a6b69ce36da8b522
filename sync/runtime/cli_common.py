"""Small pieces every command-line program here shares."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
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


def whole_number(lo: int, hi: int | None = None, unit: str = "") -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``lo`` to ``hi`` (no upper bound if None), with a clear error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < lo or (hi is not None and value > hi):
            span = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            raise argparse.ArgumentTypeError(f"give {span}{' ' + unit if unit else ''}")
        return value

    return parse
