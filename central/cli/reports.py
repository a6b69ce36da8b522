"""``report``: the console's report (counts, time-limit compliance, satisfaction by item, site or period) as
CSV, XLSX or JSON, for a district's monthly return or a cron job. Counts and rates only: no personal data."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from central import catalogue, console_settings, daily_counts
from central.cli.common import _open_store
from central.paths import central_home
from central.reports import BY, DEFAULT_LIMIT_DAYS, ReportRequest, export_rows, report
from central.satisfaction import PERIODS, day_range


def _cmd_report(args: argparse.Namespace) -> int:
    try:
        start = dt.date.fromisoformat(args.date_from) if args.date_from else None
        end = dt.date.fromisoformat(args.date_to) if args.date_to else None
    except ValueError:
        print("kiosk-central report: --from and --to are dates, YYYY-MM-DD", file=sys.stderr)
        return 2
    lo, hi = day_range(start, end)
    home = central_home(args.home)
    cat = catalogue.load(home)
    lang = "en" if args.lang == "en" else "zh_CN"
    req = ReportRequest(by=args.by, start=lo, end=hi, period=args.period, now=time.time())
    store = _open_store(args, home)
    try:
        with store.session() as s:
            rows = report(s, req, limits={c: i.time_limit_days for c, i in cat.items.items()},
                          name_of=lambda code: cat.name(code, "en" if lang == "en" else "zh"))
    finally:
        store.close()
    fmt = args.format or (Path(args.out).suffix.lstrip(".").lower() if args.out else "csv")
    if fmt == "json":
        body = json.dumps([r.to_json() for r in rows], ensure_ascii=False, indent=1).encode() + b"\n"
    elif fmt in ("csv", "xlsx"):
        body = export_rows(rows, args.by, fmt, lang=lang)
    else:
        print(f"kiosk-central report: unknown format {fmt!r} (csv, xlsx or json)", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).write_bytes(body)
        print(f"{len(rows)} row(s) written to {args.out}", file=sys.stderr)
    elif fmt == "xlsx":
        print("kiosk-central report: XLSX needs --out FILE", file=sys.stderr)
        return 2
    else:
        sys.stdout.buffer.write(body)
    return 0


def _add_report(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("report", parents=[common],
                       help="counts, time-limit compliance and satisfaction by item, site or period (no personal data)")
    p.add_argument("--db")
    p.add_argument("--by", choices=BY, default="site")
    p.add_argument("--period", choices=PERIODS, default="month", help="with --by period (China Standard Time)")
    p.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="first day received/rated/opened")
    p.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="last day (inclusive)")
    p.add_argument("--format", choices=("csv", "xlsx", "json"), help="default: from --out's suffix, else csv")
    p.add_argument("--lang", choices=("zh_CN", "en"), default="zh_CN", help="column titles and item names")
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=_cmd_report)


def _cmd_report_counts(args: argparse.Namespace) -> int:
    """Count the stored applications and ratings per day again (``central.daily_counts``): after a bulk load
    that went around the central (COPY, a restore), or to build them ahead of the first statistics page."""
    home = central_home(args.home)
    cat = catalogue.load(home)
    store = _open_store(args, home)
    try:
        with store.session() as s:
            rules = daily_counts.Rules.of({c: i.time_limit_days for c, i in cat.items.items()}, DEFAULT_LIMIT_DAYS,
                                          console_settings.calendar(console_settings.get_all(s)))
            t0 = time.perf_counter()
            rows = daily_counts.rebuild(s, rules)
    finally:
        store.close()
    print(json.dumps({**rows, "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


def _add_report_counts(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("report-counts", parents=[common],
                       help="count the stored applications and ratings per day again, for the statistics pages")
    p.add_argument("--db")
    p.set_defaults(func=_cmd_report_counts)


COMMANDS = {"report": _add_report, "report-counts": _add_report_counts}  # name -> what adds it
