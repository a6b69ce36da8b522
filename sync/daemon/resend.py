"""When an unacknowledged row is sent again: a timeout per row that doubles with its attempts.

A fixed timeout made an overloaded central's backlog worse: every row it had not acked within 60 s was
sent again, and again 60 s later, and every central restart sent everything unacked at once (soak: ~8.7k
resends for 3.3k submissions). Now a row sent ``attempts`` times is due again after

    min(cap_s, base_s * 2 ** (attempts - 1)) * jitter,   jitter in [1 - jitter, 1 + jitter]

The jitter is fixed per row (from its sequence number), so rows queued together spread out instead of
coming due in the same housekeeping pass, and the rule is one SQL statement over the ``sent`` rows (the
outbox keeps ``attempts`` and ``sent_at``). Nothing is ever given up on: a row is resent, at most every
``cap_s``, until the central acks it.

A new central epoch still requeues every unacked row at once (``Outbox.requeue_sent``), not only rows due:
the central's session is clean, so whatever the old central had not read was dropped with it, and rows
waiting for their backoff would only arrive minutes later. Tried and measured: with due-only requeueing,
tests/test_faults.py's broker restart and central kill -9 stall for a row's second timeout (2 x 60 s), because
rows resent into the gap before the central was back are due only after their doubled timeout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, update
from sqlalchemy.orm import Session

from sync.outbox.models import OutboxMessage, State
from sync.outbox.store import Outbox

JITTER_BUCKETS = 97  # rows spread over this many jitter steps by sequence number


@dataclass(frozen=True)
class ResendPolicy:
    base_s: float = 60.0
    cap_s: float = 600.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.base_s <= self.cap_s or not 0 <= self.jitter < 1:
            raise ValueError("resend policy needs 0 < base_s <= cap_s and 0 <= jitter < 1")

    def steps(self) -> list[float]:
        """Timeouts for attempts 1, 2, ... up to the first that reaches the cap."""
        out = [self.base_s]
        while out[-1] < self.cap_s:
            out.append(min(self.cap_s, out[-1] * 2))
        return out

    def timeout(self, attempts: int, seq: int) -> float:
        """Seconds after its last send that a row sent ``attempts`` times is due again."""
        steps = self.steps()
        return steps[min(max(attempts, 1), len(steps)) - 1] * self._factor(seq)

    def _factor(self, seq: int) -> float:
        return 1 - self.jitter + 2 * self.jitter * (seq % JITTER_BUCKETS) / (JITTER_BUCKETS - 1)

    def due_clause(self, now: float) -> ColumnElement[bool]:
        """SQL: the row's last send is older than its timeout."""
        steps = self.steps()
        base = case(*[(OutboxMessage.attempts <= i + 1, s) for i, s in enumerate(steps[:-1])], else_=steps[-1])
        factor = (1 - self.jitter) + (2 * self.jitter / (JITTER_BUCKETS - 1)) * (OutboxMessage.seq % JITTER_BUCKETS)
        return OutboxMessage.sent_at < now - base * factor


def requeue_due(outbox: Outbox, policy: ResendPolicy, now: float | None = None) -> int:
    """Rows ``sent`` whose resend is due go back to ``pending``; returns how many."""
    now = time.time() if now is None else now
    stmt = (update(OutboxMessage).where(OutboxMessage.state == State.SENT, policy.due_clause(now))
            .values(state=State.PENDING))
    with Session(outbox.engine) as s, s.begin():
        return int(s.execute(stmt).rowcount)  # type: ignore[attr-defined]
