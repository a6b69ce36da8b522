"""“我的申请” by ID card, asked of the central: the card's applications from every kiosk of the platform.

The kiosk queues a ``card_lookup`` event (``meta``: a fresh query id; sealed for the central: the lookup
tag, HMAC-SHA256 of the ID number under the site key — never the number) and the sync daemon sends it at
once (events go before photos). The central answers with a signed ``app_status`` command carrying the
query id (central/card_lookup.py); the daemon files the entries under the tag in ``application_status``
and records the answer in the outbox state ``card_lookup_answer`` (sync/daemon/app_status.py). The
screen then lists :func:`kiosk.journey.status.lookup_by_tag` again. Offline, nothing is asked: the screen
lists this machine's applications and says so.
"""

from __future__ import annotations

import json
import time
import uuid

from sync.daemon.app_status import CARD_LOOKUP_ANSWER
from sync.device import DeviceConfig
from sync.outbox.status import daemon_connected
from sync.outbox.store import Outbox
from sync.protocol.card_lookup import EVENT

ANSWER_WAIT_S = 8.0  # how long the screen waits for the central before it shows what this machine knows


def online(outbox: Outbox, now: float | None = None) -> bool:
    """Whether the sync daemon is connected to the central now (a question would reach it)."""
    return daemon_connected(outbox.states(), now)


def ask_central(outbox: Outbox, device: DeviceConfig, tag: str) -> str:
    """Queue the question for ``tag``; returns its query id."""
    query = str(uuid.uuid4())
    outbox.enqueue_event(device, EVENT, {"query": query}, {"tag": tag})
    return query


def answered(outbox: Outbox, query: str) -> int | None:
    """How many applications the central found for ``query``, or None while it has not answered."""
    try:
        answer = json.loads(outbox.states().get(CARD_LOOKUP_ANSWER) or "{}")
    except ValueError:
        return None
    if isinstance(answer, dict) and answer.get("query") == query:
        return int(answer.get("n") or 0)
    return None


def waited_too_long(asked_at: float, now: float | None = None) -> bool:
    return (time.monotonic() if now is None else now) - asked_at > ANSWER_WAIT_S
