"""The console's reports and satisfaction statistics, on SQLite and PostgreSQL: counts, time-limit compliance
(checked against the working-day deadline computed in Python), satisfaction by item, site and period, and
CSV/XLSX exports that carry no personal data, no receipt number and no device id."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert

from central import feedback, satisfaction
from central.models import ApplicationStatus, Device, Submission
from central.reports import ReportRequest, report, to_csv, to_xlsx
from central.store import CentralStore
from central.workdays import CST, Calendar, deadline, local_date
from tests.test_fleet import pg_server, store  # noqa: F401  (fixtures: SQLite and PostgreSQL)

NAME, ID_NUMBER, PHONE = "钱七", "110101199003077777", "13800138000"
LIMITS = {"HJ-001": 5, "SB-002": 1}
NAMES = {"HJ-001": "户籍证明", "SB-002": "社保查询"}


def _at(day: str, hour: int = 10) -> float:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), CST).timestamp()


def _seed(db: CentralStore, n: int = 120) -> list[dict[str, object]]:
    """Applications over autumn 2026 at two sites, each finished some working days later (or not)."""
    rng = random.Random(19)
    fields = json.dumps([{"id": "name", "kind": "name", "label": "姓名", "value": NAME},
                         {"id": "id", "kind": "id_number", "label": "身份证号", "value": ID_NUMBER},
                         {"id": "phone", "kind": "phone", "label": "电话", "value": PHONE}], ensure_ascii=False)
    subs, statuses, seeded = [], [], []
    for i in range(n):
        code = rng.choice(["HJ-001", "SB-002"])
        device = rng.choice(["kiosk-aaaa", "kiosk-bbbb"])
        received = _at("2026-09-01") + rng.randrange(0, 60 * 86400)
        status = rng.choice(["completed", "rejected", "accepted", "received"])
        finished_at = received + rng.randrange(0, 12 * 86400) if status in ("completed", "rejected") else None
        due = None if finished_at else received + 3 * 86400
        subs.append({"id": f"s-{i}", "device_id": device, "seq": i + 1, "service_code": code,
                     "receipt_no": f"KR-{i:06d}", "created_at": received, "received_at": received,
                     "fields_json": fields, "attachments_expected": 0, "complete": True, "app_status": status,
                     "due_at": due})
        if status != "received":
            statuses.append({"submission_id": f"s-{i}", "receipt_no": f"KR-{i:06d}", "service_code": code,
                             "device_id": device, "site": "", "status": status,
                             "updated_at": finished_at or received + 3600, "updated_by": "wang", "lookup_tag": ""})
        seeded.append({"code": code, "device": device, "received": received, "status": status,
                       "finished_at": finished_at, "due": due})
    with db.engine.begin() as conn:
        conn.execute(insert(Device), [{"device_id": "kiosk-aaaa", "site": "东湖街道"},
                                      {"device_id": "kiosk-bbbb", "site": "西城街道"}])
        conn.execute(insert(Submission), subs)
        conn.execute(insert(ApplicationStatus), statuses)
    return seeded


def _ratings(db: CentralStore) -> None:
    with db.session() as s, s.begin():
        for i, (level, site, code, day) in enumerate([
                ("very_satisfied", "东湖街道", "HJ-001", "2026-09-03"),
                ("dissatisfied", "东湖街道", "HJ-001", "2026-09-04"),
                ("satisfied", "西城街道", "SB-002", "2026-10-08"),
                ("very_dissatisfied", "西城街道", "HJ-001", "2026-10-09"),
                ("basically_satisfied", "西城街道", "SB-002", "2026-10-10")]):
            s.add(feedback.Rating(event_id=f"e-{i}", device_id="kiosk-aaaa", site=site, service_code=code,
                                  receipt_no=f"KR-{i:06d}", level=level, score=feedback.LEVELS[level],
                                  negative=level in feedback.NEGATIVE, rated_at=_at(day), received_at=_at(day)))


def test_time_limit_compliance_matches_the_working_day_deadline(store: CentralStore) -> None:  # noqa: F811
    seeded = _seed(store)
    now = _at("2026-12-01")
    with store.session() as s:
        rows = {r.key: r for r in report(s, ReportRequest(by="item", now=now), limits=LIMITS,
                                         name_of=NAMES.__getitem__)}
    for code, limit in LIMITS.items():
        mine = [x for x in seeded if x["code"] == code]
        finished = [x for x in mine if x["finished_at"] is not None]
        on_time = [x for x in finished
                   if x["finished_at"] <= deadline(float(x["received"]), limit, Calendar())]  # type: ignore[operator, arg-type]
        assert rows[code].received == len(mine)
        assert rows[code].finished == len(finished)
        assert rows[code].finished_on_time == len(on_time), code
        assert rows[code].overdue_open == len([x for x in mine if x["due"] is not None])
        assert 0 < len(on_time) < len(finished)  # the seed exercises both sides
    assert rows["HJ-001"].name == "户籍证明"


def test_compliance_follows_the_office_calendar(store: CentralStore) -> None:  # noqa: F811
    seeded = _seed(store)
    cal = Calendar.of([f"2026-10-0{d}" for d in range(1, 8)] + ["2026-09-15"], ["2026-09-27", "2026-10-10"])
    with store.session() as s:
        rows = {r.key: r for r in report(s, ReportRequest(by="item", now=_at("2026-12-01")), limits=LIMITS,
                                         calendar=cal)}
    for code, limit in LIMITS.items():
        finished = [x for x in seeded if x["code"] == code and x["finished_at"] is not None]
        on_time = [x for x in finished
                   if x["finished_at"] <= deadline(float(x["received"]), limit, cal)]  # type: ignore[operator, arg-type]
        assert rows[code].finished_on_time == len(on_time), code


def test_reports_by_site_and_period_add_up(store: CentralStore) -> None:  # noqa: F811
    seeded = _seed(store)
    _ratings(store)
    with store.session() as s:
        by_site = report(s, ReportRequest(by="site", now=_at("2026-12-01")))
        by_month = report(s, ReportRequest(by="period", period="month", now=_at("2026-12-01")))
        september = report(s, ReportRequest(by="site", start=_at("2026-09-01", 0), end=_at("2026-10-01", 0)))
    assert {r.key: r.received for r in by_site} == {"东湖街道": sum(x["device"] == "kiosk-aaaa" for x in seeded),
                                                   "西城街道": sum(x["device"] == "kiosk-bbbb" for x in seeded)}
    assert [r.key for r in by_month] == ["2026-09", "2026-10"]
    assert sum(r.received for r in by_month) == len(seeded)
    assert by_month[0].received == sum(local_date(float(x["received"])).month == 9 for x in seeded)  # type: ignore[arg-type]
    assert (by_month[0].ratings, by_month[0].negative, by_month[1].ratings, by_month[1].negative) == (2, 1, 3, 1)
    assert sum(r.received for r in september) == by_month[0].received


def test_satisfaction_by_item_site_and_period(store: CentralStore) -> None:  # noqa: F811
    _ratings(store)
    with store.session() as s:
        items = {r.key: r for r in satisfaction.satisfaction(s, by="item")}
        sites = {r.key: r for r in satisfaction.satisfaction(s, by="site", start=_at("2026-10-01", 0))}
        weeks = satisfaction.satisfaction(s, by="period", period="week")
        per_site = satisfaction.by_site_and_period(s, start=None, end=None, period="month")
    assert (items["HJ-001"].total, items["HJ-001"].negative, items["HJ-001"].satisfied_rate) == (3, 2, 0.3333)
    assert items["SB-002"].satisfied_rate == 1.0
    assert set(sites) == {"西城街道"} and sites["西城街道"].counts["very_dissatisfied"] == 1
    assert [r.key for r in weeks] == ["2026-W36", "2026-W41"]
    assert [r.key for r in per_site["东湖街道"]] == ["2026-09"]
    assert satisfaction.total(list(items.values())).total == 5


def test_exports_carry_no_personal_data(store: CentralStore) -> None:  # noqa: F811
    _seed(store, 40)
    _ratings(store)
    with store.session() as s, s.begin():
        feedback.record_complaint(s, channel="phone", summary=f"{NAME} 电话 {PHONE} 反映排队太久", site="东湖街道",
                                  receipt_no="KR-000001", actor="wang", now=_at("2026-09-10"))
    forbidden = [NAME, ID_NUMBER, PHONE, "KR-0000", "kiosk-aaaa", "kiosk-bbbb", "wang", "排队"]
    with store.session() as s:
        for by in ("item", "site", "period"):
            rows = report(s, ReportRequest(by=by, now=_at("2026-12-01")))
            text = to_csv(rows).decode("utf-8-sig")
            book = load_workbook(io.BytesIO(to_xlsx(rows, title=by)))
            cells = " ".join(str(c.value) for ws in book.worksheets for row in ws.iter_rows() for c in row)
            for secret in forbidden:
                assert secret not in text and secret not in cells, (by, secret)
            parsed = list(csv.reader(io.StringIO(text)))
            assert parsed[0][:3] == ["代码", "名称", "接收量"] and parsed[-1][1] == "合计"
            assert int(parsed[-1][2]) == 40
            assert book.active is not None and book.active["C1"].value == "接收量"
    assert to_csv(rows, "en").decode("utf-8-sig").startswith("Key,Name,Received")


def test_exports_never_carry_a_formula(store: CentralStore) -> None:  # noqa: F811
    with store.engine.begin() as conn:
        conn.execute(insert(Device), [{"device_id": "kiosk-evil", "site": "=HYPERLINK(\"http://x\",\"站\")"}])
        conn.execute(insert(Submission), [{"id": "s-x", "device_id": "kiosk-evil", "seq": 1, "service_code": "@SUM(1)",
                                           "receipt_no": "KR-X", "created_at": _at("2026-09-01"),
                                           "received_at": _at("2026-09-01"), "attachments_expected": 0,
                                           "complete": True}])
    with store.session() as s:
        for by in ("site", "item"):
            rows = report(s, ReportRequest(by=by, now=_at("2026-12-01")))
            book = load_workbook(io.BytesIO(to_xlsx(rows, title=by)))
            ws = book.active
            assert ws is not None
            names = [ws.cell(row=2, column=c).value for c in (1, 2)]
            assert all(isinstance(v, str) and v.startswith("'") for v in names), names
            assert all(ws.cell(row=2, column=c).data_type == "s" for c in (1, 2))
            first = list(csv.reader(io.StringIO(to_csv(rows).decode("utf-8-sig"))))[1]
            assert first[0].startswith("'=") or first[0].startswith("'@")


def test_the_report_command_writes_xlsx_csv_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from central.cli import main

    url = f"sqlite:///{tmp_path / 'central.db'}"
    db = CentralStore(url)
    seeded = _seed(db, 30)
    db.close()
    home = ["--home", str(tmp_path / "home"), "--db", url]
    assert main(["report", *home, "--by", "site", "--from", "2026-09-01", "--to", "2026-12-31",
                 "--out", str(tmp_path / "r.xlsx")]) == 0
    book = load_workbook(tmp_path / "r.xlsx")
    assert book.active is not None and book.active["A1"].value == "代码"
    assert book.active.cell(row=book.active.max_row, column=3).value == len(seeded)
    assert main(["report", *home, "--by", "period", "--period", "month", "--format", "json", "--lang", "en"]) == 0
    months = json.loads(capsys.readouterr().out)
    assert [m["key"] for m in months] == ["2026-09", "2026-10"] and sum(m["received"] for m in months) == 30
    assert main(["report", *home, "--from", "2026-13-01"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert main(["report", *home, "--by", "item"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("\ufeff代码,名称,接收量") and NAME not in out and "KR-0000" not in out
