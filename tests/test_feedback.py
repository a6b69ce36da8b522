"""好差评 at ingest and the rectification tickets (差评整改), on SQLite and PostgreSQL: each rating becomes a
row linked to its receipt, bad ratings and complaints open a ticket due in 15 working days (weekends, public
holidays and make-up working days as configured), a ticket closes only with a response and a contact record,
and the lists filter by state and by overdue."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from central import console_settings, feedback
from central.feedback_models import Rating, Ticket
from central.keys import CentralKeys
from central.store import CentralStore
from central.workdays import CST, Calendar, deadline, local_date, working_days_left
from tests.test_fleet import Kiosk, pg_server, store  # noqa: F401  (fixtures: SQLite and PostgreSQL)


def _at(day: str, hour: int = 10) -> float:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), CST).timestamp()


def test_working_days_skip_weekends_holidays_and_count_makeup_days() -> None:
    # Friday 2026-09-25 + 15 working days, weekends only: Friday 2026-10-16.
    due = deadline(_at("2026-09-25"), 15, Calendar())
    assert local_date(due) == dt.date(2026, 10, 16)
    assert dt.datetime.fromtimestamp(due, CST).time() == dt.time(23, 59, 59)
    # 国庆 2026: 10-01..10-07 off (five weekdays), Sunday 09-27 and Saturday 10-10 worked (调休).
    national_day = Calendar.of([f"2026-10-0{d}" for d in range(1, 8)], ["2026-09-27", "2026-10-10"])
    assert local_date(deadline(_at("2026-09-25"), 15, national_day)) == dt.date(2026, 10, 21)
    assert local_date(deadline(_at("2026-09-25"), 1, national_day)) == dt.date(2026, 9, 27)  # the make-up Sunday
    assert working_days_left(_at("2026-10-19"), due, Calendar()) == 0  # overdue
    assert working_days_left(_at("2026-10-12"), due, Calendar()) == 4
    with pytest.raises(ValueError, match="not a date"):
        Calendar.of(["2026-13-01"])


def test_ratings_become_rows_and_bad_ones_open_tickets(store: CentralStore, central_keys: CentralKeys) -> None:  # noqa: F811
    k = Kiosk(store, central_keys, "k-fb1", "东湖街道")
    k.status("online", 1)
    k.event("rating", level="very_satisfied", score=5, service_code="HJ-001", receipt_no="R-1")
    k.event("rating", level="dissatisfied", score=2, service_code="HJ-001", receipt_no="R-2", needs_followup=True)
    k.event("rating", level="非常不满意", service_code="SB-002", receipt_no="R-3")  # older kiosks: the word
    k.event("rating", level="很好", service_code="SB-002")  # not a level: neither row nor ticket
    k.event("complaint", category="complaint", channel="self_service_terminal")
    k.event("complaint", category="suggestion")  # read, not rectified
    with store.session() as s:
        ratings = {r.receipt_no: r for r in s.scalars(select(Rating))}
        tickets = s.scalars(select(Ticket).order_by(Ticket.id)).all()
    assert set(ratings) == {"R-1", "R-2", "R-3"}
    assert ratings["R-2"].site == "东湖街道" and ratings["R-2"].negative and ratings["R-2"].score == 2
    assert ratings["R-3"].level == "very_dissatisfied" and not ratings["R-1"].negative
    assert [(t.source, t.category, t.receipt_no, t.state) for t in tickets] == [
        ("rating", "dissatisfied", "R-2", "open"), ("rating", "very_dissatisfied", "R-3", "open"),
        ("complaint", "complaint", "", "open")]
    for t in tickets:
        assert local_date(t.deadline_at) == local_date(deadline(t.opened_at, 15, Calendar()))


def test_a_resent_rating_counts_once(store: CentralStore, central_keys: CentralKeys) -> None:  # noqa: F811
    from central.messages import parse
    from sync.protocol import topics
    from sync.protocol.envelope import Envelope
    from sync.protocol.ids import new_message_id
    from tests.test_fleet import TEST_KEYRING

    k = Kiosk(store, central_keys, "k-fb2")
    env = Envelope(id=new_message_id(), seq=1, device_id=k.device_id, kind="event", created_at=1000.0,
                   meta={"type": "rating", "level": "dissatisfied", "receipt_no": "R-9"})
    raw = k.signer.sign(env).to_bytes()
    for _ in range(2):
        store.apply([parse(central_keys, topics.parse(topics.up(k.device_id, "event")), raw, TEST_KEYRING)])
    with store.session() as s:
        assert len(s.scalars(select(Rating)).all()) == 1 and len(s.scalars(select(Ticket)).all()) == 1


def test_the_deadline_follows_the_settings(store: CentralStore, central_keys: CentralKeys) -> None:  # noqa: F811
    with store.session() as s, s.begin():
        console_settings.put(s, console_settings.TICKET_DAYS, "5", actor="admin", now=1.0)
        console_settings.put(s, console_settings.HOLIDAYS, "2026-10-01, 2026-10-02", actor="admin", now=1.0)
        with pytest.raises(ValueError, match="1-60"):
            console_settings.put(s, console_settings.TICKET_DAYS, "0", actor="admin", now=1.0)
        with pytest.raises(ValueError, match="not a date"):
            console_settings.put(s, console_settings.WORKDAYS, "tomorrow", actor="admin", now=1.0)
    with store.session() as s, s.begin():
        t = feedback.record_complaint(s, channel="phone", summary="窗口人员态度差", site="东湖街道",
                                      actor="wang", now=_at("2026-09-28"))  # Monday
    # 29, 30, (1, 2 holidays, 3, 4 weekend), 5, 6, 7: the fifth working day is Wednesday 10-07.
    assert local_date(t.deadline_at) == dt.date(2026, 10, 7)


def test_a_ticket_closes_with_a_response_and_a_contact_and_the_lists_filter(store: CentralStore) -> None:  # noqa: F811
    now = _at("2026-09-28")
    with store.session() as s, s.begin():
        a = feedback.record_complaint(s, channel="counter", summary="等候时间太长", receipt_no="R-7",
                                      actor="wang", now=now)
        b = feedback.record_complaint(s, channel="phone", summary="材料清单不清楚", actor="wang", now=now)
        with pytest.raises(feedback.TicketError, match="channel"):
            feedback.record_complaint(s, channel="pigeon", summary="x", actor="wang", now=now)
        with pytest.raises(feedback.TicketError, match="empty"):
            feedback.record_complaint(s, channel="phone", summary="  ", actor="wang", now=now)
    with store.session() as s, s.begin():
        feedback.assign(s, a.id, "zhang", actor="wang", now=now)
        with pytest.raises(feedback.TicketError, match="response first"):
            feedback.close(s, a.id, actor="wang", now=now)
        feedback.respond(s, a.id, "已增加高峰时段窗口", actor="zhang", now=now + 60)
        with pytest.raises(feedback.TicketError, match="contact"):
            feedback.close(s, a.id, actor="zhang", now=now + 60)
        feedback.record_contact(s, a.id, "phone", "居民表示认可", actor="zhang", now=now + 120)
        closed = feedback.close(s, a.id, actor="zhang", now=now + 180)
        assert (closed.state, closed.owner, closed.closed_by) == ("closed", "zhang", "zhang")
        with pytest.raises(feedback.TicketError, match="closed"):
            feedback.respond(s, a.id, "again", actor="zhang", now=now + 200)
    late = b.deadline_at + 1
    with store.session() as s:
        assert feedback.counts(s, late) == {"open": 1, "responded": 0, "closed": 1, "overdue": 1}
        assert feedback.counts(s, now) ["overdue"] == 0
        n, rows = feedback.list_tickets(s, feedback.TicketFilter(overdue=True), late)
        assert n == 1 and [r.id for r in rows] == [b.id]
        n, rows = feedback.list_tickets(s, feedback.TicketFilter(state="closed"), late)
        assert [r.id for r in rows] == [a.id]
        n, rows = feedback.list_tickets(s, feedback.TicketFilter(state="active"), now)
        assert [r.id for r in rows] == [b.id]


def test_the_migration_copies_ratings_stored_before_it(store: CentralStore,  # noqa: F811
                                                       central_keys: CentralKeys) -> None:
    from pathlib import Path

    import central
    from sync.runtime.upgrade import guarded_downgrade

    k = Kiosk(store, central_keys, "k-fb9", "东湖街道")
    k.status("online", 1)
    k.event("rating", level="不满意", service_code="HJ-001", receipt_no="R-old")
    k.event("rating", level="nonsense")
    url = store.engine.url.render_as_string(hide_password=False)
    guarded_downgrade(store.engine, Path(central.__file__).parent / "migrations", "c0012", keep_table="events")
    store.close()
    again = CentralStore(url)  # upgrades to head: c0013 copies the two events' ratings it can read
    try:
        with again.session() as s:
            [row] = s.scalars(select(Rating)).all()
            assert (row.receipt_no, row.level, row.site, row.negative) == ("R-old", "dissatisfied", "东湖街道", True)
            assert s.scalars(select(Ticket)).all() == []  # old ratings open no tickets
    finally:
        again.close()
