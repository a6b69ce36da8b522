"""The card-lookup question a kiosk asks the central (“我的申请” by ID card across the platform): an ``up/event``
of type ``card_lookup`` whose ``meta`` holds a fresh query id and whose sealed part holds the lookup tag,
HMAC-SHA256(site lookup key, normalised ID number) — never the number. The answer is an ``app_status``
command with that query id (sync.protocol.commands). Kiosk: kiosk/journey/card_lookup.py; central:
central/card_lookup.py."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

EVENT = "card_lookup"
QUERY = re.compile(r"^[0-9A-Za-z-]{8,64}$")
TAG = re.compile(r"^[0-9a-f]{64}$")


def question(meta: Mapping[str, Any], opened: Mapping[str, Any]) -> tuple[str, str] | None:
    """(query, tag) of a ``card_lookup`` event, or None when it is malformed (then nothing is answered)."""
    query, tag = meta.get("query"), opened.get("tag")
    if isinstance(query, str) and QUERY.match(query) and isinstance(tag, str) and TAG.match(tag):
        return query, tag
    return None


__all__ = ["EVENT", "QUERY", "TAG", "question"]
