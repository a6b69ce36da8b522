"""The applications console's core (issue 19): the state machine refuses illegal moves and decisions missing what
they need, audits each move, sets due times from the catalogue's 承诺时限; the list filters, sorts and pages with
keyset cursors on SQLite and on PostgreSQL; the decision's words reach a kiosk's status lookup."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, insert

from central import catalogue
from central.applications import listing, workdays, workflow
from central.applications.workflow import Decision, TransitionError, transition
from central.keys import CentralKeys
from central.models import Device, Submission
from central.store import CentralStore
from central.web import auth
from devtools.postgres import PrivatePostgres
from sync.outbox.store import Outbox
from sync.protocol.commands import CommandRefused, validate_app_status
from sync.protocol.ids import receipt_number
from tests.helpers import wait_until

FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "钱七"},
          {"id": "id_number", "kind": "id_number", "label": "身份证号", "value": "110101199003077777"}]
# 2026-12-02 10:00 CST, a Wednesday
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=workdays.CST).timestamp()
CAT = catalogue.load(None)  # the shipped catalogue: MZ-LNYD-001 老年人优待证申领, 3 working days


def _receipt(i: int) -> str:
    return receipt_number("k-ab12", i, datetime(2026, 12, 1))


def add_applications(store: CentralStore, n: int, *, start: float = NOW - 30 * 86400) -> list[str]:
    codes = ["MZ-LNYD-001", "GA-JZZ-007", "XX-UNKNOWN-001"]
    with store.engine.begin() as conn:
        conn.execute(insert(Device), [{"device_id": f"k-{j}", "site": f"街道{j % 2}", "status": "online", "conn": 1,
                                       "status_at": 1.0, "last_seen": 1.0, "version": "", "telemetry_json": "{}"}
                                      for j in range(4)])
        conn.execute(insert(Submission), [{
            "id": f"s-{i:05d}", "device_id": f"k-{i % 4}", "seq": i, "service_code": codes[i % 3],
            "receipt_no": _receipt(i), "created_at": start + i * 3600, "received_at": start + i * 3600 + (i % 2),
            "fields_json": json.dumps(FIELDS, ensure_ascii=False), "attachments_expected": 0, "complete": True}
            for i in range(n)])
    return [f"s-{i:05d}" for i in range(n)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CentralStore]:
    s = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    yield s
    s.close()


def _move(store: CentralStore, keys: CentralKeys, sid: str, d: Decision, now: float = NOW) -> workflow.Outcome:
    return transition(store, keys, CAT, sid, d, actor="wang", broker_url=None, now=now)


def test_the_state_machine_refuses_illegal_moves_and_short_decisions(store: CentralStore,
                                                                     central_keys: CentralKeys) -> None:
    ids = add_applications(store, 3)
    with pytest.raises(TransitionError) as exc:
        _move(store, central_keys, ids[0], Decision("completed", result="approved", collect="counter"))
    assert exc.value.key == "app.err.illegal" and exc.value.values["allowed"] == ("accepted", "rejected",
                                                                                 "supplement")
    with pytest.raises(TransitionError, match="needs a reason"):
        _move(store, central_keys, ids[0], Decision("rejected"))
    with pytest.raises(TransitionError, match="needs a note"):
        _move(store, central_keys, ids[0], Decision("rejected", reason="other"))
    with pytest.raises(TransitionError, match="deadline"):
        _move(store, central_keys, ids[0], Decision("supplement", missing=("photo",)))
    with pytest.raises(TransitionError, match="after today"):
        _move(store, central_keys, ids[0], Decision("supplement", missing=("photo",), deadline="2026-12-02"))
    with pytest.raises(TransitionError, match="missing materials"):
        _move(store, central_keys, ids[0], Decision("supplement", missing=("no-such",), deadline="2026-12-09"))
    with pytest.raises(TransitionError, match="no such"):
        _move(store, central_keys, "nope", Decision("accepted"))
    with store.session() as s:
        assert {r.app_status for r in s.query(Submission)} == {"received"}  # nothing stored by a refusal
    assert auth.audit_entries(store, action="app_status") == []


def test_supplement_accept_complete_with_words_due_times_and_audit(store: CentralStore,
                                                                   central_keys: CentralKeys) -> None:
    sid = add_applications(store, 1)[0]
    out = _move(store, central_keys, sid, Decision("supplement", missing=("photo", "id_card"), deadline="2026-12-09"))
    assert out.detail["text"]["zh"] == "请补交：近期免冠彩色照片、居民身份证。请在2026年12月9日前到服务中心窗口补交。"
    assert out.detail["text"]["en"] == ("Please bring: Recent colour photo, Resident ID card. "
                                        "Bring them to the service centre counter by 9 Dec 2026.")
    assert out.push_error is None and out.devices == []  # no broker given: stored, nothing pushed
    page = listing.list_applications(store, CAT, listing.Filters(status="supplement"), now=NOW)
    assert [r["id"] for r in page["rows"]] == [sid]
    assert page["rows"][0]["due_at"] == datetime(2026, 12, 9, 23, 59, 59, tzinfo=workdays.CST).timestamp()
    with pytest.raises(TransitionError) as exc:  # one notice only: a second 补正 is refused
        _move(store, central_keys, sid, Decision("supplement", missing=("photo",), deadline="2026-12-10"))
    assert exc.value.key == "app.err.illegal"
    _move(store, central_keys, sid, Decision("accepted"), now=NOW + 3600)
    row = listing.list_applications(store, CAT, listing.Filters(), now=NOW)["rows"][0]
    # 受理 on Wednesday: 3 working days (the catalogue's 承诺时限) end on Monday 2026-12-07
    assert (row["status"], row["due_at"]) == ("accepted", datetime(2026, 12, 7, 23, 59, 59,
                                                                   tzinfo=workdays.CST).timestamp())
    assert not row["overdue"]
    late = datetime(2026, 12, 8, 9, 0, tzinfo=workdays.CST).timestamp()
    assert listing.list_applications(store, CAT, listing.Filters(overdue=True), now=late)["rows"][0]["overdue"]
    done = _move(store, central_keys, sid, Decision("completed", result="approved", collect="counter",
                                                    note="周一至周五 9:00-17:00"), now=late)
    assert done.detail["text"]["zh"] == ("办理结果：准予办理。请带身份证到服务中心窗口领取。"
                                         "说明：周一至周五 9:00-17:00。")
    assert listing.list_applications(store, CAT, listing.Filters(overdue=True), now=late)["rows"] == []
    with pytest.raises(TransitionError, match="nothing"):
        _move(store, central_keys, sid, Decision("accepted"), now=late)
    detail = listing.application_detail(store, CAT, sid, lang="en", now=late)
    assert detail is not None and detail["allowed"] == [] and detail["item"] == "Senior citizen card application"
    assert [(h["from"], h["status"]) for h in detail["history"]] == [
        ("accepted", "completed"), ("supplement", "accepted"), ("received", "supplement")]
    assert "110101199003077777" not in json.dumps(auth.audit_entries(store), ensure_ascii=False)
    assert all("*" in f["value"] for f in detail["fields"])  # masked


def test_received_for_over_five_working_days_is_overdue(store: CentralStore) -> None:
    # received Wednesday 2026-11-25 10:00; five working days later is Wednesday 2026-12-02
    received = datetime(2026, 11, 25, 10, 0, tzinfo=workdays.CST).timestamp()
    add_applications(store, 1, start=received)
    still = datetime(2026, 12, 2, 20, 0, tzinfo=workdays.CST).timestamp()
    assert listing.list_applications(store, CAT, listing.Filters(overdue=True), now=still)["rows"] == []
    later = datetime(2026, 12, 3, 8, 0, tzinfo=workdays.CST).timestamp()
    assert len(listing.list_applications(store, CAT, listing.Filters(overdue=True), now=later)["rows"]) == 1


def _walk(store: CentralStore, f: listing.Filters, sort: str, desc: bool, size: int) -> list[str]:
    seen: list[str] = []
    cursor = ""
    pages = []
    while True:
        page = listing.list_applications(store, CAT, f, sort=sort, desc=desc, cursor=cursor, limit=size, now=NOW)
        pages.append(page)
        seen += [r["id"] for r in page["rows"]]
        if not page["next"]:
            break
        cursor = page["next"]
    # and back again from the last page, through the prev cursors
    back: list[str] = [r["id"] for r in pages[-1]["rows"]]
    cursor = pages[-1]["prev"] or ""
    while cursor:
        page = listing.list_applications(store, CAT, f, sort=sort, desc=desc, cursor=cursor, limit=size, now=NOW)
        back = [r["id"] for r in page["rows"]] + back
        cursor = page["prev"] or ""
    assert back == seen
    return seen


def _check_listing(store: CentralStore, central_keys: CentralKeys) -> None:
    ids = add_applications(store, 130)
    for sid in ids[:40:3]:
        _move(store, central_keys, sid, Decision("accepted"))
    everything = _walk(store, listing.Filters(), "received", True, 20)
    assert everything == [f"s-{i:05d}" for i in reversed(range(130))]
    assert _walk(store, listing.Filters(), "received", False, 50) == list(reversed(everything))
    assert _walk(store, listing.Filters(), "receipt", True, 20) == everything  # receipts rise with the time here
    site = _walk(store, listing.Filters(site="街道1", item="GA-JZZ-007"), "received", True, 20)
    assert site == [f"s-{i:05d}" for i in reversed(range(130)) if i % 2 == 1 and i % 3 == 1]
    accepted = _walk(store, listing.Filters(status="accepted"), "due", False, 20)
    assert sorted(accepted) == ids[:40:3]
    day = datetime.fromtimestamp(NOW - 30 * 86400, workdays.CST).date()
    ranged = _walk(store, listing.Filters(date_from=(day + timedelta(days=1)).isoformat(),
                                          date_to=(day + timedelta(days=2)).isoformat()), "received", True, 20)
    assert all(day + timedelta(days=1) <= workdays.local_date(NOW - 30 * 86400 + int(s[2:]) * 3600)
               <= day + timedelta(days=2) for s in ranged) and len(ranged) == 48
    one = listing.list_applications(store, CAT, listing.Filters(receipt=_receipt(7).lower()), now=NOW)
    assert [r["id"] for r in one["rows"]] == ["s-00007"] and one["count"] == 1
    # The beginning of a number finds every application it starts (KR-20261201-AB12-000012x: 120..129).
    assert _receipt(12).startswith("KR-20261201-AB12-000012")
    tens = _walk(store, listing.Filters(receipt=" kr-20261201-ab12-00012"), "received", True, 20)
    assert tens == [f"s-{i:05d}" for i in reversed(range(120, 130))]
    assert _walk(store, listing.Filters(receipt="KR-20261201-AB12-0000"), "receipt", False, 20) == \
        [f"s-{i:05d}" for i in range(100)]  # 000000..000099
    assert listing.list_applications(store, CAT, listing.Filters(receipt="KR-2026"), now=NOW)["count"] == 130
    for nothing in ("%", "KR_", "KR-20261201-AB12-000012%", "'; --", "KR-20261201-AB12-0001299"):
        assert listing.list_applications(store, CAT, listing.Filters(receipt=nothing), now=NOW)["count"] == 0
    page = listing.list_applications(store, CAT, listing.Filters(), now=NOW, lang="en")
    assert page["count"] == 130 and page["rows"][0]["item"] in ("Senior citizen card application",
                                                                "Residence permit application", "XX-UNKNOWN-001")
    assert listing.decode_cursor("garbage") is None
    assert listing.list_applications(store, CAT, listing.Filters(), cursor="garbage", now=NOW)["rows"]


def test_listing_filters_sorts_and_pages_on_sqlite(store: CentralStore, central_keys: CentralKeys) -> None:
    _check_listing(store, central_keys)


@pytest.mark.slow  # a private cluster and the central's migrations: ~15 s under load
def test_listing_filters_sorts_and_pages_on_postgres(central_keys: CentralKeys) -> None:
    with PrivatePostgres() as pg:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg.dsn, autocommit=True) as conn:  # a real office's collation, not the cluster's C
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'zh_CN.utf8' "
                         "LC_CTYPE 'zh_CN.utf8'")
        store = CentralStore(pg.url.rsplit("/", 1)[0] + f"/{name}")
        try:
            _check_listing(store, central_keys)
            _check_race(store, central_keys, pg.dsn.replace("dbname=postgres", f"dbname={name}"))
            _check_receipt_prefix_plan(store)
        finally:
            store.close()


def _check_receipt_prefix_plan(store: CentralStore) -> None:
    """Under a non-C collation the plain receipt index cannot serve LIKE 'prefix%': the text_pattern_ops index
    (c0016) does, so a prefix search over many rows reads a few index entries, not the table."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO submissions (id, device_id, seq, service_code, receipt_no, created_at, received_at, "
            "fields_json, attachments_expected, complete, app_status) SELECT 'b-' || i, 'k-' || mod(i, 4), i, "
            "'MZ-LNYD-001', 'KR-20261203-' || lpad(upper(to_hex(mod(i, 65536))), 4, '0') || '-' || "
            "lpad(i::text, 6, '0') || '-0', i, 1000000 + i, '[]', 0, true, 'received' "
            "FROM generate_series(1, 50000) AS i")
        conn.exec_driver_sql("ANALYZE submissions")
    statements: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "LIKE" in statement and statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", keep)
    try:
        page = listing.list_applications(store, CAT, listing.Filters(receipt="kr-20261203-00a1"), now=NOW)
    finally:
        event.remove(store.engine, "before_cursor_execute", keep)
    assert page["count"] == 1 and page["rows"][0]["receipt_no"].startswith("KR-20261203-00A1-")
    assert statements and all("'KR-20261203-00A1%" in sql for sql, _ in statements)  # inline: any plan uses it
    with store.engine.connect() as conn:
        for sql, params in statements:
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql, params))
            assert "ix_submissions_receipt_prefix" in plan and "Seq Scan on submissions" not in plan, plan


def _check_race(store: CentralStore, keys: CentralKeys, dsn: str) -> None:
    """Two operators decide the same application at once: the second waits for the first's row lock and then
    sees its state, so the state machine refuses it; it never overwrites the first decision."""
    sid = "s-00129"  # still 已接收
    result: dict[str, str] = {}

    def reject() -> None:
        try:
            result["out"] = _move(store, keys, sid, Decision("rejected", reason="duplicate")).status
        except TransitionError as exc:
            result["out"] = exc.key

    with psycopg.connect(dsn) as first:  # the first operator, mid-transaction, holding the row
        first.execute("SELECT 1 FROM submissions WHERE id = %s FOR UPDATE", (sid,))
        t = threading.Thread(target=reject)
        t.start()
        with psycopg.connect(dsn, autocommit=True) as watch:
            wait_until(lambda: watch.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0] > 0,
                       10, "the second decision waiting for the row")  # type: ignore[index]
        first.execute("UPDATE submissions SET app_status = 'accepted' WHERE id = %s", (sid,))
        first.commit()
    t.join(30)
    assert result["out"] == "app.err.illegal"
    assert not [e for e in auth.audit_entries(store, action="app_status") if e["detail"]["submission_id"] == sid]


def test_a_decisions_words_reach_the_kiosks_lookup(tmp_path: Path) -> None:
    from kiosk.journey.status import lookup
    from sync.daemon.app_status import upsert

    entry = {"receipt_no": _receipt(1), "service_code": "MZ-LNYD-001", "status": "rejected", "updated_at": NOW,
             "lookup_tag": "", "detail": {"zh": "不予受理原因：申请人不符合办理条件。", "en": "Reason: The applicant "
                                          "does not meet the conditions."}}
    checked = validate_app_status({"entries": [entry]})
    for bad in ({"zh": "x"}, {"zh": "x", "en": 3}, {"zh": "\x00", "en": ""}, {"zh": "长" * 601, "en": ""}):
        with pytest.raises(CommandRefused):
            validate_app_status({"entries": [{**entry, "detail": bad}]})
    plain = {k: v for k, v in entry.items() if k != "detail"}
    assert validate_app_status({"entries": [plain]})["entries"][0] == plain  # older centrals send no detail
    outbox = Outbox(tmp_path / "outbox.db")
    try:
        upsert(outbox, checked["entries"], now=NOW)
        found = lookup(outbox, _receipt(1))
        assert found is not None and found.state == "rejected" and found.text_key == "appStatus_rejected"
        assert found.detail_text("zh") == "不予受理原因：申请人不符合办理条件。"
        assert found.detail_text("en").startswith("Reason: The applicant")
    finally:
        outbox.close()
