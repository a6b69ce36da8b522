"""Benchmark: the operators' console over a year of a big district, on a private PostgreSQL.

Loads ``--applications`` applications (default 1,000,000) over 2026, ``--ratings`` ratings (200,000, with the
rectification tickets their bad ones open) and ``--kiosks`` kiosks (1,000 at 100 sites) with COPY, through the
central's own Alembic schema, recounts the daily counts the statistics pages read (as ``kiosk-central
report-counts`` does after a load that went around the central), then starts the real dashboard (uvicorn) and times
pages over HTTP as a logged-in viewer: the applications list (first and next page, sorted by due time), searches
(receipt, item, site, status, overdue, a month, combined), the detail page, the statistics pages (好差评, reports) and
each export of a year by site (CSV, XLSX). Baseline in the same run: the list's, searches' and detail's own SQL
through psycopg.

Prints one JSON object: per case p50/p95/max in ms, the first request's ms (before anything is cached), the number
of rows on the page, and ``missing`` for a page that answers 404 (not built). Targets: p95 < 300 ms per page; an
export of a year by site < 5 s. Run: ``.venv/bin/python -m bench.console [--applications 1000000] [--repeat 30]
[--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg

from central import catalogue, console_settings, daily_counts
from central.applications import workdays
from central.reports import DEFAULT_LIMIT_DAYS
from central.store import CentralStore
from central.web import auth
from central.web.server import serve
from devtools.postgres import PrivatePostgres
from sync.protocol.ids import receipt_number

YEAR_START = datetime(2026, 1, 1, tzinfo=workdays.CST).timestamp()
DAY = 86400.0
LEVELS = (("very_satisfied", 5, 0.55), ("satisfied", 4, 0.30), ("basically_satisfied", 3, 0.10),
          ("dissatisfied", 2, 0.035), ("very_dissatisfied", 1, 0.015))
PAGE_TARGET_MS = 300.0
EXPORT_TARGET_MS = 5000.0


def _sites(kiosks: int) -> list[tuple[str, str]]:
    """(device_id, site): 10 kiosks a site, 10 sites a district."""
    out = []
    for k in range(kiosks):
        site_no = k // 10
        out.append((f"kiosk-{k:04d}", f"第{site_no // 10 + 1}区{site_no % 10 + 1}号街道便民服务中心"))
    return out


def _status(age_days: float, r: float) -> str:
    if age_days > 30:
        for status, share in (("completed", 0.88), ("rejected", 0.04), ("accepted", 0.03), ("supplement", 0.01)):
            if r < share:
                return status
            r -= share
        return "received"
    for status, share in (("received", 0.20), ("supplement", 0.05), ("accepted", 0.30), ("completed", 0.42)):
        if r < share:
            return status
        r -= share
    return "rejected"


def load(dsn: str, n_apps: int, n_ratings: int, n_kiosks: int, now: float, seed: int = 7) -> dict[str, Any]:
    """COPY the data set into the central's schema; returns what was loaded and how long it took."""
    rnd = random.Random(seed)
    cat = catalogue.load(None)
    codes = sorted(cat.items) or ["XX-TEST-001"]
    kiosks = _sites(n_kiosks)
    span = now - YEAR_START
    t0 = time.perf_counter()
    receipts: list[tuple[str, str, str, str]] = []  # receipt, device, site, code (for ratings)
    with psycopg.connect(dsn, autocommit=False) as conn, conn.cursor() as cur:
        with cur.copy("COPY devices (device_id, site, status, conn, status_at, last_seen, version, telemetry_json) "
                      "FROM STDIN") as cp:
            for device_id, site in kiosks:
                cp.write_row((device_id, site, "online", 1, now - 60, now - 5, "2026.12.0", "{}"))
        seqs = [0] * n_kiosks
        masked = json.dumps([{"id": "applicant_name", "label": "申请人姓名", "kind": "name", "value": "王*"},
                             {"id": "phone", "label": "联系电话", "kind": "phone", "value": "138****8000"}],
                            ensure_ascii=False)
        status_rows = []
        with cur.copy("COPY submissions (id, device_id, seq, service_code, receipt_no, created_at, received_at, "
                      "fields_masked, attachments_expected, complete, app_status, due_at) FROM STDIN") as cp:
            for i in range(n_apps):
                k = rnd.randrange(n_kiosks)
                seqs[k] += 1
                device_id, site = kiosks[k]
                received = YEAR_START + span * (i / n_apps) + rnd.random() * 60
                code = codes[rnd.randrange(len(codes))]
                receipt = receipt_number(device_id, seqs[k], datetime.fromtimestamp(received, workdays.CST))
                status = _status((now - received) / DAY, rnd.random())
                limit = cat.item(code).time_limit_days
                due = (received + DAY * (limit * 1.4 + 1) if status == "accepted"
                       else received + 7 * DAY if status == "supplement" else None)
                sid = str(uuid.UUID(int=(int(received * 1000) << 80) | i))
                cp.write_row((sid, device_id, seqs[k], code, receipt, received - 5, received, masked, 0, True,
                              status, due))
                if status != "received":
                    status_rows.append((sid, receipt, code, device_id, site, status, received + DAY, "bench", "",
                                        received + DAY))
                if i % 5 == 0:
                    receipts.append((receipt, device_id, site, code))
        with cur.copy("COPY application_status (submission_id, receipt_no, service_code, device_id, site, status, "
                      "updated_at, updated_by, lookup_tag, pushed_at) FROM STDIN") as cp:
            for row in status_rows:
                cp.write_row(row)
        negatives = []
        with cur.copy("COPY ratings (event_id, device_id, site, service_code, receipt_no, level, score, negative, "
                      "rated_at, received_at) FROM STDIN") as cp:
            for j in range(n_ratings):
                receipt, device_id, site, code = receipts[rnd.randrange(len(receipts))]
                r = rnd.random()
                for level, _, share in LEVELS:
                    if r < share or level == "very_dissatisfied":
                        break
                    r -= share
                rated = YEAR_START + span * (j / n_ratings)
                score = next(sc for lv, sc, _ in LEVELS if lv == level)
                cp.write_row((f"rating-{j:07d}", device_id, site, code, receipt, level, score, score <= 2, rated,
                              rated + 2))
                if score <= 2:
                    negatives.append((f"rating-{j:07d}", level, receipt, device_id, site, code, rated))
        with cur.copy("COPY rectification_tickets (source, event_id, channel, category, receipt_no, device_id, site, "
                      "service_code, summary, state, opened_at, deadline_at, response, contact_note, created_by, "
                      "closed_at) FROM STDIN") as cp:
            for event_id, level, receipt, device_id, site, code, rated in negatives:
                closed = rated + 10 * DAY if now - rated > 30 * DAY else None
                cp.write_row(("rating", event_id, "self_service_terminal", level, receipt, device_id, site, code, "",
                              "closed" if closed else "open", rated, rated + 21 * DAY, "", "", "ingest", closed))
        conn.commit()
    loaded_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return {"applications": n_apps, "statuses": len(status_rows), "ratings": n_ratings, "tickets": len(negatives),
            "kiosks": n_kiosks, "sites": len({s for _, s in kiosks}), "items": len(codes),
            "copy_s": round(loaded_s, 1), "analyze_s": round(time.perf_counter() - t1, 1)}


def count_days(store: CentralStore, home: Path) -> dict[str, Any]:
    """What ``kiosk-central report-counts`` does after a load that went around the central (COPY): the daily
    counts the statistics pages read, under the rules the dashboard will use (its catalogue, the calendar)."""
    cat = catalogue.load(home)
    t0 = time.perf_counter()
    with store.session() as s:
        rules = daily_counts.Rules.of({c: i.time_limit_days for c, i in cat.items.items()}, DEFAULT_LIMIT_DAYS,
                                      console_settings.calendar(console_settings.get_all(s)))
        rows = daily_counts.rebuild(s, rules)
    return {**rows, "seconds": round(time.perf_counter() - t0, 1)}


def _timed(fn: Callable[[], Any], repeat: int, warm: int = 2) -> tuple[dict[str, Any], Any]:
    result = None
    for _ in range(warm):
        result = fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, max(0, round(0.95 * len(times)) - 1))]
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1), "max_ms": round(times[-1], 1),
            "n": repeat}, result


def _login(base: str, user: str, password: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=60.0, follow_redirects=True)
    page = c.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token, "no CSRF token on the login page"
    r = c.post("/login", data={"username": user, "password": password, "csrf": token.group(1), "next": "/"})
    if r.status_code != 200 or "/login" in str(r.url):
        raise RuntimeError(f"login failed: {r.status_code}")
    return c


def bench_pages(c: httpx.Client, dsn: str, now: float, repeat: int, export_repeat: int) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        receipt, sid, site, code = conn.execute(
            "SELECT s.receipt_no, s.id, d.site, s.service_code FROM submissions s JOIN devices d USING (device_id) "
            "ORDER BY s.received_at DESC OFFSET (SELECT count(*) / 20 FROM submissions) LIMIT 1").fetchone()  # type: ignore[misc]
        ids = [r[0] for r in conn.execute("SELECT id FROM submissions ORDER BY random() LIMIT 200")]
    first = c.get("/applications").text
    nxt = re.search(r'<a href="([^"]+)" id="page-next">', first)
    next_url = nxt.group(1).replace("&amp;", "&") if nxt else "/applications"
    month = {"from": "2026-06-01", "to": "2026-06-30"}
    pages: dict[str, tuple[str, dict[str, str]]] = {
        "list": ("/applications", {}),
        "list_next_page": (next_url, {}),
        "list_100_rows": ("/applications", {"size": "100"}),
        "list_accepted_by_due": ("/applications", {"status": "accepted", "sort": "due", "dir": "asc"}),
        "search_receipt": ("/applications", {"receipt": receipt}),
        "search_receipt_prefix": ("/applications", {"receipt": receipt[:16]}),  # KR-date-kiosk: one kiosk's day
        "search_item": ("/applications", {"item": code}),
        "search_site": ("/applications", {"site": site}),
        "search_status_supplement": ("/applications", {"status": "supplement"}),
        "search_overdue": ("/applications", {"overdue": "1"}),
        "search_month": ("/applications", month),
        "search_site_status_month": ("/applications", {"site": site, "status": "completed", **month}),
        "search_item_overdue": ("/applications", {"item": code, "overdue": "1"}),
        "stats_ratings_year": ("/ratings", {"date_from": "2026-01-01", "date_to": "2026-12-31"}),
        "stats_reports_year_by_site": ("/reports", {"by": "site", "date_from": "2026-01-01",
                                                    "date_to": "2026-12-31"}),
        "stats_reports_year_by_item": ("/reports", {"by": "item", "date_from": "2026-01-01",
                                                    "date_to": "2026-12-31"}),
        "fleet_overview": ("/", {}),
    }
    out: dict[str, Any] = {}
    missing: list[str] = []
    for name, (url, params) in pages.items():
        t_probe = time.perf_counter()
        probe = c.get(url, params=params)  # the first request: nothing cached yet (a statistics page counts)
        first_ms = round((time.perf_counter() - t_probe) * 1000, 1)
        if probe.status_code == 404:
            missing.append(name)
            continue
        if probe.status_code != 200:
            out[name] = {"error": probe.status_code}
            continue
        stats, body = _timed(partial(c.get, url, params=params), repeat)
        stats["rows"] = body.text.count('data-application="')
        stats["first_request_ms"] = first_ms
        stats["p95_ok"] = stats["p95_ms"] < PAGE_TARGET_MS
        out[name] = stats
    rnd = random.Random(3)
    if c.get(f"/applications/{ids[0]}").status_code != 200:
        raise RuntimeError("the detail page does not answer")
    stats, body = _timed(lambda: c.get(f"/applications/{rnd.choice(ids)}"), repeat)
    stats["status"] = body.status_code
    stats["p95_ok"] = stats["p95_ms"] < PAGE_TARGET_MS
    out["detail"] = stats
    for fmt in ("csv", "xlsx"):
        name = f"export_year_by_site_{fmt}"
        url = f"/reports/export.{fmt}"
        params = {"by": "site", "date_from": "2026-01-01", "date_to": "2026-12-31"}
        t_probe = time.perf_counter()
        probe = c.get(url, params=params)
        first_ms = round((time.perf_counter() - t_probe) * 1000, 1)
        if probe.status_code == 404:
            missing.append(name)
            continue
        stats, body = _timed(partial(c.get, url, params=params), export_repeat, warm=1)
        stats["first_request_ms"] = first_ms
        stats["bytes"] = len(body.content)
        stats["p95_ok"] = stats["p95_ms"] < EXPORT_TARGET_MS
        out[name] = stats
    out["missing"] = missing
    out["baseline_sql"] = _baseline(dsn, receipt, sid, site, code, now, repeat)
    return out


def _fetch(conn: psycopg.Connection[Any], sql: str, args: tuple[Any, ...]) -> list[Any]:
    return conn.execute(sql, args).fetchall()  # constant SQL text, bound parameters


def _select(where: str) -> str:
    return ("SELECT id, receipt_no, service_code, device_id, received_at, app_status, due_at "  # noqa: S608
            f"FROM submissions {where} ORDER BY received_at DESC, id DESC LIMIT 51")


def _baseline(dsn: str, receipt: str, sid: str, site: str, code: str, now: float, repeat: int) -> dict[str, Any]:
    """The same page queries as raw SQL through psycopg (no ORM, no template, no HTTP)."""
    june = (datetime(2026, 6, 1, tzinfo=workdays.CST).timestamp(),
            datetime(2026, 7, 1, tzinfo=workdays.CST).timestamp())
    open_states = "('supplement','accepted','processing','ready')"
    queries = {  # constants only: every value is a bound parameter
        "list": (_select(""), ()),
        "search_receipt": (_select("WHERE receipt_no = %s"), (receipt,)),
        "search_site": (_select("WHERE device_id IN (SELECT device_id FROM devices WHERE site = %s)"), (site,)),
        "search_overdue": (_select("WHERE (app_status = 'received' AND received_at < %s) OR (app_status IN "
                                   + open_states + " AND due_at IS NOT NULL AND due_at < %s)"),
                           (workdays.workdays_before(now, 5), now)),
        "search_site_status_month": (_select("WHERE device_id IN (SELECT device_id FROM devices WHERE site = %s) "
                                             "AND app_status = 'completed' AND received_at >= %s "
                                             "AND received_at < %s"), (site, *june)),
        "search_item": (_select("WHERE service_code = %s"), (code,)),
        "count_capped": ("SELECT count(*) FROM (SELECT id FROM submissions LIMIT 10001) x", ()),
        "detail": ("SELECT * FROM submissions WHERE id = %s", (sid,)),
    }
    out = {}
    with psycopg.connect(dsn) as conn:
        for name, (sql, args) in queries.items():
            stats, _ = _timed(partial(_fetch, conn, sql, args), repeat)
            out[name] = stats
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--applications", type=int, default=1_000_000)
    ap.add_argument("--ratings", type=int, default=200_000)
    ap.add_argument("--kiosks", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--export-repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="100,000 applications, 20,000 ratings, 10 repeats")
    args = ap.parse_args(argv)
    if args.quick:
        args.applications, args.ratings, args.repeat, args.export_repeat = 100_000, 20_000, 10, 3
    now = time.time()
    report: dict[str, Any] = {"bench": "console", "load_before": os.getloadavg()}
    home = Path(tempfile.mkdtemp(prefix="bench-console-"))
    with PrivatePostgres(settings={"shared_buffers": "512MB", "work_mem": "32MB"}) as pg:
        store = CentralStore(pg.url)
        try:
            report["data"] = load(pg.dsn, args.applications, args.ratings, args.kiosks, now)
            report["data"]["daily_counts"] = count_days(store, home)
            auth.add_operator(store, "bench", "bench-viewer-secret", "viewer")
            dash = serve(store, "127.0.0.1", 0, keys_home=home, broker_url="mqtt://127.0.0.1:1",
                         session_secret=uuid.uuid4().hex * 2, evaluate_every_s=None)
            try:
                client = _login(dash.url, "bench", "bench-viewer-secret")
                try:
                    report["pages"] = bench_pages(client, pg.dsn, now, args.repeat, args.export_repeat)
                finally:
                    client.close()
            finally:
                dash.stop()
        finally:
            store.close()
    report["load_after"] = os.getloadavg()
    report["targets"] = {"page_p95_ms": PAGE_TARGET_MS, "export_ms": EXPORT_TARGET_MS}
    json.dump(report, sys.stdout, ensure_ascii=False, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
