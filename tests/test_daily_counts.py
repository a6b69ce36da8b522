"""The daily counts behind the statistics and report pages (issue 19, ``central.daily_counts``), on SQLite and
PostgreSQL: applications stored by the real ingest (sealed, signed submissions through ``CentralStore.apply``),
moved by the real workflow (受理, 补正 and back to 受理, 办结, 不予受理, ``kiosk-central status``), rated through real
rating events, a kiosk moving to another site: after each step the report and the satisfaction statistics read
from the counts equal the direct aggregation over the stored rows, over a CST day boundary, and the overdue
figure follows the clock (due later today, due earlier today, due yesterday)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from central import catalogue, daily_counts, satisfaction
from central.applications import workdays
from central.applications.workflow import Decision, transition
from central.keys import CentralKeys
from central.messages import Incoming, parse
from central.models import Submission
from central.reports import BY, ReportRequest, report
from central.satisfaction import day_range
from central.status_push import set_status
from central.store import CentralStore
from central.workdays import CST, Calendar
from sync.protocol import topics
from sync.protocol.envelope import Envelope
from sync.protocol.ids import new_message_id
from sync.protocol.sealing import seal
from tests.helpers import TEST_KEYRING
from tests.test_fleet import Kiosk, pg_server, store  # noqa: F401  (fixtures: SQLite and PostgreSQL)

CAT = catalogue.load(None)
LIMITS = {code: item.time_limit_days for code, item in CAT.items.items()}
CODE = "MZ-LNYD-001"  # 老年人优待证申领, 3 working days
OTHER = sorted(c for c in CAT.items if c != CODE)[0]


def _at(day: str, hour: int = 10, minute: int = 0, second: float = 0) -> float:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), CST).timestamp() \
        + hour * 3600 + minute * 60 + second


def _submission(k: Kiosk, code: str, files: int = 0) -> Incoming:
    """A sealed, signed submission as a kiosk sends it (announcing ``files`` attachments), parsed by the ingest."""
    k.seq += 1
    message_id = new_message_id()
    body = json.dumps({"service_code": code, "fields": [{"id": "applicant_name", "kind": "name", "value": "钱七"}],
                       "attachments": []}).encode()
    env = Envelope(id=message_id, seq=k.seq, device_id=k.device_id, kind="submission", created_at=1.7e9 + k.seq,
                   sealed=seal(k.keys.seal.public_raw, body, aad=message_id.encode("ascii")),
                   meta={"service_code": code, "receipt_no": f"KR-{k.device_id[-4:].upper()}-{k.seq:04d}",
                         "attachments": [{"file": i, "chunks": 1} for i in range(files)]})
    topic = topics.parse(topics.up(k.device_id, "submission"))
    return parse(k.keys, topic, k.signer.sign(env).to_bytes(), TEST_KEYRING)


def _submit(k: Kiosk, code: str) -> str:
    """A submission through the ingest's parser and the store."""
    item = _submission(k, code)
    k.store.apply([item])
    assert item.envelope is not None
    return item.envelope.id


def _rate(k: Kiosk, level: str, code: str, at: float) -> None:
    k._envelope("event", {"type": "rating", "level": level, "service_code": code, "receipt_no": ""}, at)


def _seed_boundary(db: CentralStore) -> list[str]:
    """Applications received on either side of midnight CST, 30 Nov / 1 Dec 2026 (rows an older central stored)."""
    times = [_at("2026-11-30", 23, 59, 59), _at("2026-12-01", 0), _at("2026-11-30", 23, 59, 59.5),
             _at("2026-12-01", 0, 0, 1)]
    rows = [{"id": f"old-{i}", "device_id": "kiosk-east" if i % 2 == 0 else "kiosk-west", "seq": 100 + i,
             "service_code": CODE if i < 3 else OTHER, "receipt_no": f"KR-OLD-{i}", "created_at": t,
             "received_at": t, "fields_json": "[]", "attachments_expected": 0, "complete": True}
            for i, t in enumerate(times)]
    with db.engine.begin() as conn:
        conn.execute(insert(Submission), rows)
    return [str(r["id"]) for r in rows]


def _same(db: CentralStore, now: float, calendar: Calendar | None = None) -> dict[str, dict[str, Any]]:
    """Every report and statistic the pages ask, from the counts and directly: equal. The counted report by
    item over all time, for the test to read."""
    cal = calendar or Calendar()
    ranges = [day_range(None, None), day_range(date(2026, 11, 30), date(2026, 11, 30)),
              day_range(date(2026, 12, 1), None), day_range(date(2026, 11, 1), date(2026, 12, 31))]
    out: dict[str, dict[str, Any]] = {}
    for start, end in ranges:
        for by in BY:
            for period in ("day", "month"):
                req = ReportRequest(by=by, start=start, end=end, period=period, now=now)
                with db.session() as s:
                    counted = [r.to_json() for r in report(s, req, limits=LIMITS, calendar=cal)]
                with db.session() as s:
                    direct = [r.to_json() for r in report(s, req, limits=LIMITS, calendar=cal, counted=False)]
                assert counted == direct, (by, period, start, end)
                if by == "item" and start is None and end is None and period == "day":
                    out = {r["key"]: r for r in counted}
            with db.session() as s:
                for by in BY:
                    a = [r.to_json() for r in satisfaction.satisfaction(s, by=by, start=start, end=end, period="day")]
                    b = [r.to_json() for r in satisfaction.satisfaction(s, by=by, start=start, end=end, period="day",
                                                                         counted=False)]
                    assert a == b, (by, start, end)
                a2 = satisfaction.by_site_and_period(s, start=start, end=end, period="day")
                b2 = satisfaction.by_site_and_period(s, start=start, end=end, period="day", counted=False)
                assert {k: [r.to_json() for r in v] for k, v in a2.items()} == \
                    {k: [r.to_json() for r in v] for k, v in b2.items()}
    return out


def _counted_rules(db: CentralStore) -> str | None:
    with db.session() as s:
        return s.scalar(select(daily_counts.STATE.c.rules).where(daily_counts.STATE.c.name == "applications"))


def test_counts_follow_ingest_moves_ratings_and_the_clock(store: CentralStore,  # noqa: F811
                                                          central_keys: CentralKeys) -> None:
    east = Kiosk(store, central_keys, "kiosk-east", "东湖街道")
    west = Kiosk(store, central_keys, "kiosk-west", "西城街道")
    east.status("online", 1)
    west.status("online", 1)
    old = _seed_boundary(store)
    now = _at("2026-12-02", 9)
    assert _counted_rules(store) is None
    rows = _same(store, now)  # the first report builds the counts
    assert _counted_rules(store) is not None
    assert rows[CODE]["received"] == 3 and rows[OTHER]["received"] == 1

    # Ingest: new applications are counted in the batch's transaction (received today, real time).
    new = [_submit(east, CODE), _submit(west, CODE), _submit(west, OTHER)]
    rows = _same(store, now)
    assert rows[CODE]["received"] == 5 and rows[OTHER]["received"] == 2

    # Ratings either side of midnight, through the rating events.
    _rate(east, "very_satisfied", CODE, _at("2026-11-30", 23, 59, 59))
    _rate(east, "dissatisfied", CODE, _at("2026-12-01", 0))
    _rate(west, "satisfied", OTHER, _at("2026-12-01", 0, 0, 1))
    rows = _same(store, now)
    assert (rows[CODE]["ratings"], rows[CODE]["negative"], rows[OTHER]["ratings"]) == (2, 1, 1)

    def move(sid: str, d: Decision, at: float) -> None:
        transition(store, central_keys, CAT, sid, d, actor="wang", broker_url=None, now=at)

    # 补正 on 1 Dec (due at the end of 3 Dec), back to 受理 on 2 Dec, 办结 on 3 Dec: on time.
    move(old[1], Decision("supplement", missing=("photo",), deadline="2026-12-03"), _at("2026-12-01", 11))
    _same(store, now)
    supplement_due = workdays.end_of_day(date(2026, 12, 3))
    assert _same(store, supplement_due - 60)[CODE]["overdue_open"] == 0  # due later today
    assert _same(store, supplement_due + 0.5)[CODE]["overdue_open"] == 1  # due earlier "today" (same second+)
    assert _same(store, _at("2026-12-04", 10))[CODE]["overdue_open"] == 1  # due yesterday: from the counts
    move(old[1], Decision("accepted"), _at("2026-12-02", 15))  # 补正 -> 受理
    rows = _same(store, _at("2026-12-04", 10))
    assert rows[CODE]["overdue_open"] == 0  # 受理 on 2 Dec: 3 working days, due at the end of 7 Dec
    move(old[1], Decision("completed", result="approved", collect="counter"), _at("2026-12-03", 9))
    rows = _same(store, now)
    assert (rows[CODE]["finished"], rows[CODE]["finished_on_time"]) == (1, 1)

    # 受理 the one received at 23:59:59 on 30 Nov, 办结 late (on the next year's calendar, far later).
    move(old[0], Decision("accepted"), _at("2026-12-01", 10))
    assert _same(store, _at("2026-12-07", 10))[CODE]["overdue_open"] == 1  # due at the end of 4 Dec
    move(old[0], Decision("completed", result="approved", collect="counter"), _at("2026-12-09", 10))
    rows = _same(store, _at("2026-12-10", 10))
    assert (rows[CODE]["finished"], rows[CODE]["finished_on_time"], rows[CODE]["overdue_open"]) == (2, 1, 0)

    # 不予受理 one ingested today, and the back office's status command on another.
    move(new[2], Decision("rejected", reason="not_eligible"), _at("2026-12-05", 12))
    set_status(store, central_keys, "KR-WEST-0001", "processing", actor="office", broker_url=None,
               now=_at("2026-12-05", 13))
    _same(store, _at("2026-12-06", 10))

    # The west kiosk moves to another site: its applications are counted there.
    west.site = "南山街道"
    west.status("online", 2)
    _same(store, now)

    # Another calendar (a holiday on 3 Dec): the counts are rebuilt under it by the first reader.
    holiday = Calendar.of(["2026-12-03"])
    before = _counted_rules(store)
    _same(store, now, holiday)
    assert _counted_rules(store) != before


def test_the_report_counts_command_builds_them(tmp_path: Path, capsys: Any) -> None:
    from central.cli import main

    url = f"sqlite:///{tmp_path / 'central.db'}"
    db = CentralStore(url)
    _seed_boundary(db)
    db.close()
    assert main(["report-counts", "--home", str(tmp_path / "home"), "--db", url]) == 0
    out = json.loads(capsys.readouterr().out)
    # item rows: (CODE, 30 Nov), (CODE, 1 Dec), (OTHER, 1 Dec); site rows: ("" (no device row), each day)
    assert out["application_daily_counts"] == 3 + 2 and out["rating_daily_counts"] == 0
    db = CentralStore(url)
    try:
        assert _counted_rules(db) is not None
        rows = _same(db, _at("2026-12-02", 9))
        assert rows[CODE]["received"] == 3
    finally:
        db.close()


def test_concurrent_ingest_and_moves_keep_the_counts_exact(store: CentralStore,  # noqa: F811
                                                           central_keys: CentralKeys) -> None:
    """Two kiosks' batches and an operator's moves at once (same day, same item: the same count rows): every
    increment lands once, in the order the transactions commit."""
    import threading

    kiosks = [Kiosk(store, central_keys, f"kiosk-{n}", f"站点{n}") for n in ("aaaa", "bbbb")]
    for k in kiosks:
        k.status("online", 1)
    old = _seed_boundary(store)
    now = _at("2026-12-02", 9)
    _same(store, now)  # built
    errors: list[BaseException] = []

    def submit(k: Kiosk) -> None:
        try:
            for _ in range(15):
                _submit(k, CODE)
        except BaseException as exc:  # reported below
            errors.append(exc)

    def moves() -> None:
        try:
            for i, sid in enumerate(old):
                transition(store, central_keys, CAT, sid, Decision("accepted"), actor="wang", broker_url=None,
                           now=_at("2026-12-01", 12, i))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(k,)) for k in kiosks] + [threading.Thread(target=moves)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    rows = _same(store, _at("2026-12-10", 9))
    assert rows[CODE]["received"] == 3 + 30 and rows[CODE]["overdue_open"] == 3


def test_a_batch_mixing_plain_and_attachment_submissions_counts_each_once(store: CentralStore,  # noqa: F811
                                                                          central_keys: CentralKeys) -> None:
    """The store reads the counts' rules once per batch however often it counts in it (plain rows inserted in
    two runs around a submission with attachments, which is stored on its own): every application counted
    once, as the direct report counts them."""
    from sqlalchemy import event

    k = Kiosk(store, central_keys, "kiosk-mixd", "东湖街道")
    k.status("online", 1)
    _seed_boundary(store)
    _same(store, _at("2026-12-02", 9))  # built
    items = [_submission(k, CODE), _submission(k, OTHER, files=1), _submission(k, CODE)]
    reads: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        if "daily_counts_state" in statement:
            reads.append(statement)

    event.listen(store.engine, "before_cursor_execute", note)
    try:
        acks = store.apply(items)
    finally:
        event.remove(store.engine, "before_cursor_execute", note)
    assert len(reads) == 1
    assert acks[k.device_id] == [i.envelope.id for i in (items[0], items[2]) if i.envelope is not None]
    rows = _same(store, _at("2026-12-02", 9))
    assert rows[CODE]["received"] == 3 + 2 and rows[OTHER]["received"] == 1 + 1
