"""Logging for the command-line programs. Messages never carry personal data by construction:
modules log ids, counts and error kinds only."""

from __future__ import annotations

import logging
import os


def setup_logging(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else getattr(logging, os.environ.get("KIOSK_LOG_LEVEL", "INFO"), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("paho").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
