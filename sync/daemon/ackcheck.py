"""The kiosk's gate for ``down/ack``: only an ack signed by the central's command key for this kiosk is
acted on (sync.protocol.acksign). Anything else changes nothing in the outbox; it is counted, logged by
reason (never its content) and reported to the central as a ``forged_ack`` alarm, at most once per
:data:`ALARM_REPEAT_S` per reason, so a flood of forgeries cannot flood the outbox with alarms."""

from __future__ import annotations

import logging
import time
from collections import Counter

from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol.acksign import MALFORMED, AckRefused, verify_ack
from sync.protocol.envelope import Ack, EnvelopeError

log = logging.getLogger("kiosk.syncd")

ALARM_CODE = "forged_ack"
ALARM_REPEAT_S = 600.0
CLOCK_NOTE_S = 86400.0  # an ack stamped further than this from the kiosk's clock is noted in the log


class AckGate:
    def __init__(self, outbox: Outbox, device: DeviceConfig) -> None:
        self.outbox = outbox
        self.device = device
        self.refused: Counter[str] = Counter()  # reason code -> acks refused
        self.alarms_raised = 0
        self._alarmed_at: dict[str, float] = {}

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    def check(self, payload: bytes) -> Ack | None:
        """The ack to act on, or None (refused: counted, logged, alarmed)."""
        try:
            ack = verify_ack(self.device.command_public_key, Ack.from_bytes(payload), self.device.device_id)
        except EnvelopeError:
            self._refuse(MALFORMED)
            return None
        except AckRefused as exc:
            self._refuse(exc.code)
            return None
        if abs(ack.ts - time.time()) > CLOCK_NOTE_S:
            log.info("a signed ack is stamped %.0f s from this clock (is it right?)", ack.ts - time.time())
        return ack

    def _refuse(self, code: str) -> None:
        self.refused[code] += 1
        log.warning("refused an ack (%s): nothing marked acked, refused or resent", code)
        now = time.monotonic()
        last = self._alarmed_at.get(code)
        if last is not None and now - last < ALARM_REPEAT_S:
            return
        self._alarmed_at[code] = now
        try:
            self.outbox.enqueue_alarm(self.device, ALARM_CODE, code, "critical")
            self.alarms_raised += 1
        except Exception as exc:  # a full or broken outbox must not stop the daemon
            log.error("could not queue the forged-ack alarm: %s", type(exc).__name__)
