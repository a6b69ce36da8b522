"""Per-kiosk sequence tracking at the central: gaps, resend requests, replays.

A kiosk numbers submissions, attachment chunks and events with one counter (telemetry has its own and is
not tracked: it is dropped oldest-first on the kiosk by design). The central records, in the same
transaction that stores a batch, which numbers it has accounted for (``DeviceSequence``): everything up to
``contiguous`` plus ranges beyond it. Numbers may arrive out of order (a backlog sends submissions before
events), so a gap is only a problem when it outlives ``timeout_s``: then :func:`due_gaps` opens the
``seq_gap`` alarm and returns the missing ranges for the ingest worker to ask the kiosk for (``resend`` in
``down/ack``). The kiosk sends again what it still has and answers with a ``resend_result`` event naming
what it had already delivered (acked) and what it no longer has (gone, e.g. a quarantined database):
:func:`apply_resend_result` closes those, and the alarm clears when nothing is missing.

A new message id carrying a number already accounted for is stored (it is signed by the kiosk's key: it
is the kiosk's) but counted in ``reused`` and alarmed (``seq_reused``): a kiosk whose outbox was reset
without re-enrolling, or a stolen key. A re-enrolment starts the count again at the enrol event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from central.alarms import close_alarm, open_alarm
from central.models import DeviceSequence
from sync.protocol import seqranges
from sync.protocol.envelope import MAX_RESEND_RANGES

log = logging.getLogger("kiosk.central.sequences")

DEFAULT_GAP_TIMEOUT_S = 600.0
TRACKED_KINDS = frozenset({"submission", "attachment", "event"})
MAX_RANGES = 10_000  # ranges kept beyond ``contiguous``; past this the oldest gap is declared lost


def _load(row: DeviceSequence) -> list[tuple[int, int]]:
    try:
        return [(int(lo), int(hi)) for lo, hi in json.loads(row.ranges_json or "[]")]
    except (ValueError, TypeError):
        return []


def _row(s: Session, device_id: str, now: float) -> DeviceSequence:
    row = s.scalar(select(DeviceSequence).where(DeviceSequence.device_id == device_id).with_for_update())
    if row is None:
        row = DeviceSequence(device_id=device_id, contiguous=0, ranges_json="[]", gap_since=None, resend_at=None,
                             alarmed=False, lost=0, reused=0, updated_at=now)
        s.add(row)
        s.flush()
    return row


def _save(s: Session, row: DeviceSequence, contiguous: int, ranges: list[tuple[int, int]], now: float) -> None:
    if len(ranges) > MAX_RANGES:
        # Pathological loss patterns must not grow the row without bound: the oldest gap is given up.
        dropped = seqranges.missing(contiguous, ranges[:1])
        row.lost += seqranges.count(dropped)
        contiguous, ranges = seqranges.absorb(ranges[0][1], ranges[1:])
    row.contiguous = contiguous
    row.ranges_json = json.dumps([[lo, hi] for lo, hi in ranges])
    row.updated_at = now
    if ranges:
        if row.gap_since is None:
            row.gap_since = now
    else:
        row.gap_since = None
        row.resend_at = None
        if row.alarmed:
            close_alarm(s, row.device_id, "seq_gap", now)
            row.alarmed = False
            log.info("the sequence gap of %s is closed", row.device_id)


def note(s: Session, device_id: str, seqs: Iterable[int], fresh: Iterable[int], now: float) -> int:
    """Account for ``seqs`` (every tracked message of this device in the batch); ``fresh`` are the numbers
    of messages whose id was new. Returns how many fresh ones reused an accounted number."""
    seqs = list(seqs)
    if not seqs:
        return 0
    row = _row(s, device_id, now)
    ranges = _load(row)
    reused = sum(1 for n in set(fresh) if n <= row.contiguous or seqranges.contains(ranges, n))
    contiguous, ranges = seqranges.absorb(row.contiguous, [*ranges, *((n, n) for n in seqs)])
    _save(s, row, contiguous, ranges, now)
    if reused:
        row.reused += reused
        open_alarm(s, device_id, "seq_reused", "critical",
                   f"{row.reused} new message(s) with sequence numbers already used", now)
    return reused


def restart(s: Session, device_id: str, enrol_seq: int, now: float) -> None:
    """A (re-)enrolment: numbering starts again at the enrol event (a new kiosk may reuse an old id)."""
    row = _row(s, device_id, now)
    row.lost = row.reused = 0
    _save(s, row, max(0, enrol_seq - 1), [], now)


def apply_resend_result(s: Session, device_id: str, meta: dict[str, Any], now: float) -> None:
    """The kiosk's answer to a resend request: numbers it had delivered (``acked``) or no longer has
    (``gone``) are closed; only numbers the central is actually missing are taken."""
    row = _row(s, device_id, now)
    ranges = _load(row)
    gaps = seqranges.missing(row.contiguous, ranges)
    acked = _intersect(_claimed(meta.get("acked")), gaps)
    gone = _intersect(_claimed(meta.get("gone")), gaps)
    if not acked and not gone:
        return
    if gone:
        row.lost += seqranges.count(gone)
        open_alarm(s, device_id, "seq_lost", "critical",
                   f"{row.lost} message number(s) the kiosk no longer has (see its db_quarantined alarm)", now)
    contiguous, ranges = seqranges.absorb(row.contiguous, [*ranges, *acked, *gone])
    _save(s, row, contiguous, ranges, now)


def _claimed(raw: Any) -> list[tuple[int, int]]:
    out = []
    if isinstance(raw, list):
        for pair in raw[:MAX_RESEND_RANGES]:
            if isinstance(pair, list) and len(pair) == 2 and all(type(v) is int for v in pair) \
                    and 0 < pair[0] <= pair[1] < 2**53:
                out.append((pair[0], pair[1]))
    return seqranges.merge(out)


def _intersect(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for lo, hi in a:
        for blo, bhi in b:
            if max(lo, blo) <= min(hi, bhi):
                out.append((max(lo, blo), min(hi, bhi)))
    return seqranges.merge(out)


def due_gaps(s: Session, now: float, timeout_s: float = DEFAULT_GAP_TIMEOUT_S,
             limit: int = 200) -> list[tuple[str, list[tuple[int, int]]]]:
    """Gaps older than ``timeout_s`` not asked about for ``timeout_s``: alarm them, mark them asked, and
    return ``(device_id, missing ranges)`` for the caller to send (after its commit)."""
    cutoff = now - timeout_s
    rows = s.scalars(select(DeviceSequence)
                     .where(DeviceSequence.gap_since.is_not(None), DeviceSequence.gap_since <= cutoff,
                            or_(DeviceSequence.resend_at.is_(None), DeviceSequence.resend_at <= cutoff))
                     .order_by(DeviceSequence.device_id).limit(limit).with_for_update(skip_locked=True)).all()
    out = []
    for row in rows:
        gaps = seqranges.missing(row.contiguous, _load(row))
        if not gaps:
            _save(s, row, row.contiguous, _load(row), now)
            continue
        row.resend_at = now
        detail = f"{seqranges.count(gaps)} message(s) missing after number {row.contiguous}; resend requested"
        open_alarm(s, row.device_id, "seq_gap", "warning", detail, now)
        row.alarmed = True
        out.append((row.device_id, gaps[:MAX_RESEND_RANGES]))
    return out


def state(s: Session, device_id: str) -> dict[str, Any] | None:
    row = s.get(DeviceSequence, device_id)
    if row is None:
        return None
    ranges = _load(row)
    return {"contiguous": row.contiguous, "ranges": ranges, "missing": seqranges.missing(row.contiguous, ranges),
            "gap_since": row.gap_since, "resend_at": row.resend_at, "alarmed": row.alarmed, "lost": row.lost,
            "reused": row.reused}
