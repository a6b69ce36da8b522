"""Screenshots of the 好差评, 差评整改, report and enrolment pages for docs/OPERATIONS.md, in headless Chromium at
1366×768: ``.venv/bin/python -m devtools.feedback_screenshots [--out docs/img]``.

A throwaway central (SQLite in a temporary folder) with a few hundred ratings over three months at two sites and
the tickets the bad ones opened; an operator looks at the statistics and the overdue tickets, an admin issues an
enrolment token."""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert

from central import catalogue, feedback
from central.feedback_models import Rating, Ticket
from central.keys import CentralKeys
from central.models import ApplicationStatus, Device, Submission
from central.store import CentralStore
from central.web import auth
from central.web.server import serve
from central.workdays import Calendar, deadline
from devtools.office_browser import log_in, office_browser


def _applications(store: CentralStore, now: float, codes: list[str], sites: list[str], rnd: random.Random) -> None:
    """Applications over the same three months, most finished some working days after arrival."""
    subs, statuses = [], []
    for i in range(400):
        received = now - rnd.random() * 90 * 86400
        status = rnd.choices(["completed", "rejected", "accepted", "received"], [70, 5, 15, 10])[0]
        device = f"kiosk-{i % 4:02d}"
        finished = received + rnd.random() * 30 * 86400 if status in ("completed", "rejected") else None
        subs.append({"id": f"s-{i}", "device_id": device, "seq": i + 1, "service_code": codes[i % len(codes)],
                     "receipt_no": f"R-{i:06d}", "created_at": received, "received_at": received,
                     "attachments_expected": 0, "complete": True, "app_status": status,
                     "due_at": None if finished else received + 10 * 86400})
        if status != "received":
            statuses.append({"submission_id": f"s-{i}", "receipt_no": f"R-{i:06d}",
                             "service_code": codes[i % len(codes)], "device_id": device, "site": sites[i % 2],
                             "status": status, "updated_at": min(finished or received + 3600, now),
                             "updated_by": "wang", "lookup_tag": ""})
    with store.engine.begin() as conn:
        conn.execute(insert(Device), [{"device_id": f"kiosk-{i:02d}", "site": sites[i % 2]} for i in range(4)])
        conn.execute(insert(Submission), subs)
        conn.execute(insert(ApplicationStatus), statuses)


def _data(store: CentralStore, now: float) -> None:
    rnd = random.Random(7)  # noqa: S311 - sample data
    codes = sorted(catalogue.load(None).items)[:8]
    sites = ["朝阳门街道便民服务中心", "东四街道便民服务中心"]
    _applications(store, now, codes, sites, rnd)
    weights = [50, 30, 12, 5, 3]
    with store.session() as s, s.begin():
        for i in range(600):
            at = now - rnd.random() * 90 * 86400
            level = rnd.choices(feedback.LEVEL_ORDER, weights)[0]
            site, code = sites[i % 2], codes[rnd.randrange(len(codes))]
            s.add(Rating(event_id=uuid.uuid4().hex, device_id=f"kiosk-{i % 4:02d}", site=site, service_code=code,
                         receipt_no="", level=level, score=feedback.LEVELS[level],
                         negative=level in feedback.NEGATIVE, rated_at=at, received_at=at))
            if level in feedback.NEGATIVE:
                s.add(Ticket(source="rating", event_id=uuid.uuid4().hex, channel="self_service_terminal",
                             category=level, receipt_no="", device_id="", site=site, service_code=code, summary="",
                             state="closed" if at < now - 30 * 86400 else "open", owner=None, opened_at=at,
                             deadline_at=deadline(at, 15, Calendar()), response="", contact_note="",
                             created_by="ingest"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="docs/img")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from selenium.webdriver.common.by import By

    shots = [out / "console-ratings.png", out / "console-tickets.png", out / "console-enrolment.png",
             out / "console-reports.png"]
    with tempfile.TemporaryDirectory() as tmp:
        store = CentralStore(f"sqlite:///{tmp}/central.db")
        CentralKeys.generate().save(Path(tmp))
        _data(store, time.time())
        auth.add_operator(store, "admin", "admin-secret-1", "admin")
        dash = serve(store, "127.0.0.1", 0, keys_home=Path(tmp), broker_url="mqtt://broker.example:1883",
                     session_secret=uuid.uuid4().hex * 2, evaluate_every_s=None)
        driver = office_browser(f"{tmp}/profile")
        try:
            log_in(driver, dash.url, "admin", "admin-secret-1")
            driver.get(dash.url + "/ratings?period=month")
            driver.execute_script("document.querySelector('.charts').scrollIntoView()")
            driver.save_screenshot(str(shots[0]))
            driver.get(dash.url + "/tickets?state=active&overdue=1")
            driver.save_screenshot(str(shots[1]))
            since = time.strftime("%Y-%m-%d", time.localtime(time.time() - 92 * 86400))
            driver.get(dash.url + f"/reports?by=site&period=month&date_from={since}")
            driver.save_screenshot(str(shots[3]))
            driver.get(dash.url + "/enrolment")
            driver.find_element(By.ID, "issue-site").send_keys("朝阳门街道便民服务中心")
            driver.find_element(By.ID, "issue-submit").click()
            driver.save_screenshot(str(shots[2]))
        finally:
            driver.quit()
            dash.stop()
            store.close()
    print(json.dumps({"screenshots": [str(p) for p in shots]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
