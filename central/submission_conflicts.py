"""What an incoming submission may clash with in the central's store: an id stored with other content, or a
receipt number another submission holds. Each is decided inside the ingest transaction (``central.store``),
refused or stored, and told to an operator as an alarm."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, literal_column, select, union_all
from sqlalchemy.orm import Session

from central.messages import Incoming
from central.models import Submission
from sync.protocol.envelope import EnvelopeError

if TYPE_CHECKING:
    from central.store import Acks

log = logging.getLogger("kiosk.central.store")


def id_reused(s: Session, item: Incoming, now: float, acks: Acks) -> None:
    """A known id with other signed content: not a resend. Refused, and an operator is told."""
    from central.alarms import open_alarm

    env = item.envelope
    assert env is not None
    log.warning("refused a %s from %s: its id is stored with other content", env.kind, env.device_id)
    open_alarm(s, env.device_id, "id_reused", "critical", f"a {env.kind} id came again with other content", now)
    acks.rejected[env.device_id].append((env.id, "id already stored with other content"))


def _candidates(items: Sequence[Incoming]) -> list[Incoming]:
    """The batch's submissions that may be stored: the ones :func:`known_and_held` looks up."""
    return [i for i in items if i.topic.kind == "submission" and i.envelope is not None and i.refusal is None]


def _receipt_no_or_none(item: Incoming) -> str | None:
    assert item.envelope is not None
    try:
        return item.envelope.meta_str("receipt_no", 32)
    except EnvelopeError:
        return None


def _rows(tag: int, where: ColumnElement[bool]) -> Select[int, str, str | None, str, str]:
    return select(literal_column(str(tag), Integer), Submission.id, Submission.digest, Submission.device_id,
                  Submission.receipt_no).where(where)


# Built once (the ids and numbers bound per execution): building them cost more than running them.
_KNOWN = _rows(0, Submission.id.in_(bindparam("ids", expanding=True)))
_KNOWN_AND_HELD = union_all(_KNOWN, _rows(1, Submission.receipt_no.in_(bindparam("numbers", expanding=True))))


def known_and_held(s: Session, items: Sequence[Incoming]) -> tuple[dict[str, str | None], dict[str, tuple[str, str]]]:
    """In one query: which of this batch's submission ids are stored already (id -> stored digest), and which
    of the receipt numbers of its new submissions are held already (number -> (submission id, device id)).

    A receipt number names one application for a resident's lookup and an operator's status change,
    over the device's whole life: the kiosk never issues one twice (sync.outbox.ledger), and the
    central refuses a second submission id of the same device with a number it already holds
    (:func:`receipt_reused`).

    The numbers asked for are those of every candidate, since which ids are new is only known from the
    answer; rows for numbers only known ids carry are dropped here, so the result is what two queries (the
    ids, then the numbers of the ids not known) would return, one statement fewer per batch."""
    candidates = _candidates(items)
    known: dict[str, str | None] = {}
    if not candidates:
        return known, {}
    ids = [i.envelope.id for i in candidates if i.envelope is not None]
    numbers = sorted({n for n in map(_receipt_no_or_none, candidates) if n})
    rows: Sequence[Any] = (s.execute(_KNOWN_AND_HELD, {"ids": ids, "numbers": numbers}) if numbers
                           else s.execute(_KNOWN, {"ids": ids})).all()
    for tag, sub_id, digest, _device_id, _receipt_no in rows:
        if tag == 0:
            known[sub_id] = digest
    return known, _held(candidates, known, [(r[1], r[3], r[4]) for r in rows if r[0] == 1])


def _held(candidates: list[Incoming], known: dict[str, str | None],
          rows: Sequence[tuple[str, str, str]]) -> dict[str, tuple[str, str]]:
    """receipt number -> (submission id, device id) of ``rows`` (id, device id, number), for the numbers of the
    candidates not ``known``; the first row of a number wins."""
    numbers = {i.envelope.meta_str("receipt_no", 32) for i in candidates
               if i.envelope is not None and i.envelope.id not in known}
    numbers.discard("")
    held: dict[str, tuple[str, str]] = {}
    for sub_id, device_id, receipt_no in rows:
        if receipt_no in numbers:
            held.setdefault(receipt_no, (sub_id, device_id))
    return held


def receipt_collision(s: Session, item: Incoming, receipt_no: str, holder: tuple[str, str],
                       now: float) -> None:
    """Another kiosk holds this receipt number: receipt numbers carry only four characters of the device
    id (``sync.protocol.ids.device_short``), so two kiosks whose ids end alike issue the same numbers.
    Neither kiosk is at fault and refusing would leave a resident's application unprocessed: it is
    stored, and an operator is told to give one of the two kiosks another id."""
    from central.alarms import open_alarm

    env = item.envelope
    assert env is not None
    log.warning("a submission from %s has a receipt number another kiosk's submission holds", env.device_id)
    open_alarm(s, env.device_id, "receipt_collision", "critical",
               f"receipt number {receipt_no} is also held by kiosk {holder[1]} (submission {holder[0]}): "
               "their device ids end alike; give one of them another id", now)


def receipt_reused(s: Session, item: Incoming, receipt_no: str, holder: str, now: float, acks: Acks) -> None:
    """A new submission id with a receipt number another submission holds: refused (the kiosk keeps it
    for a technician's export), and an operator is told. A resend of the same id never comes here."""
    from central.alarms import open_alarm

    env = item.envelope
    assert env is not None
    log.warning("refused a submission from %s: its receipt number is held by another submission",
                env.device_id)
    open_alarm(s, env.device_id, "receipt_reused", "critical",
               f"receipt number {receipt_no} of submission {env.id} is held by submission {holder}", now)
    acks.rejected[env.device_id].append((env.id, "receipt number already held by another submission"))
