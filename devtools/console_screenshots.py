"""Screenshots of the applications console for docs/OPERATIONS.md, in headless Chromium at 1366×768 (the office
screen the console is made for): ``.venv/bin/python -m devtools.console_screenshots [--out docs/img]``.

A throwaway central (SQLite in a temporary folder) with a few hundred applications at two sites; an operator logs
in, filters the list to what is overdue, opens one application and shows its decision forms. ``--rollouts``
instead shows the staged-rollouts page as an admin sees it: the start form (a published release, the cohort by
sites) above a rollout under way."""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from central import catalogue
from central.applications import workdays
from central.applications.workflow import Decision, transition
from central.keys import CentralKeys
from central.models import Device, Submission
from central.store import CentralStore
from central.web import auth
from central.web.server import serve
from devtools.office_browser import log_in, office_browser
from sync.protocol.ids import receipt_number

FIELDS = [{"id": "applicant_name", "label": "申请人姓名", "kind": "name", "value": "王*"},
          {"id": "phone", "label": "联系电话", "kind": "phone", "value": "138****8000"}]


def _data(store: CentralStore, keys: CentralKeys, now: float) -> str:
    rnd = random.Random(5)  # noqa: S311 - sample data
    cat = catalogue.load(None)
    codes = sorted(cat.items)
    sites = ["朝阳门街道便民服务中心", "东四街道便民服务中心"]
    with store.engine.begin() as conn:
        conn.execute(insert(Device), [{"device_id": f"kiosk-{i:02d}", "site": sites[i % 2], "status": "online",
                                       "conn": 1, "status_at": now, "last_seen": now, "version": "2026.12.0",
                                       "telemetry_json": "{}"} for i in range(4)])
        rows: list[dict[str, Any]] = []
        for i in range(300):
            received = now - (300 - i) * 3 * 3600 - rnd.random() * 600
            device = f"kiosk-{i % 4:02d}"
            rows.append({"id": str(uuid.uuid4()), "device_id": device, "seq": i, "service_code": codes[i % len(codes)],
                         "receipt_no": receipt_number(device, i, datetime.fromtimestamp(received, workdays.CST)),
                         "created_at": received - 3, "received_at": received, "attachments_expected": 1,
                         "fields_masked": json.dumps(FIELDS, ensure_ascii=False), "complete": True})
        conn.execute(insert(Submission), rows)
    decisions = [Decision("accepted"), Decision("rejected", reason="not_eligible"),
                 Decision("supplement", missing=(), deadline="2027-01-08", note="请补交户口簿首页复印件")]
    for row in rows[:240]:
        d = decisions[rnd.randrange(3)] if rnd.random() < 0.7 else Decision("accepted")
        try:
            transition(store, keys, cat, row["id"], d, actor="wang", broker_url=None, now=row["received_at"] + 7200)
        except ValueError:
            continue
    return str(rows[-3]["id"])


def _rollouts(out: Path) -> list[str]:
    """The 分批升级 page of an admin: a published release, three sites, a rollout to 30 % a few kiosks into it."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from selenium.webdriver.common.by import By

    from central import releases, rollouts
    from central.rollout_models import RolloutTarget
    from sync.protocol.release import release_manifest

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store = CentralStore(f"sqlite:///{tmp}/central.db")
        CentralKeys.generate().save(home)
        now = datetime.now(workdays.CST).timestamp()
        sites = ["朝阳门街道便民服务中心", "东四街道便民服务中心", "建国门街道便民服务中心"]
        with store.engine.begin() as conn:
            conn.execute(insert(Device), [{"device_id": f"kiosk-{i:02d}", "site": sites[i % 3], "status": "online",
                                           "conn": 1, "status_at": now, "last_seen": now, "version": "2026.12.0",
                                           "telemetry_json": "{}"} for i in range(20)])
        releases.folder(home).mkdir()
        key = Ed25519PrivateKey.generate().private_bytes_raw()
        for version in ("2026.12.0", "2026.12.1"):
            body = f"street-kiosk {version}\n".encode() * 4096
            name = f"street-kiosk-{version}.tar.gz"
            (releases.folder(home) / name).write_bytes(body)
            manifest = release_manifest(key, version, hashlib.sha256(body).hexdigest(), len(body), kind="full")
            (releases.folder(home) / f"{name}.release.json").write_text(json.dumps(manifest), encoding="utf-8")
        _, update = releases.update_args_for(home, "street-kiosk-2026.12.1.tar.gz", "https://central.example:8443")
        rid = rollouts.create(store, "2026.12.1", update, percent=30, max_failure_rate=0.2, wave=3, actor="admin",
                              now=now - 1800)
        with store.session() as s, s.begin():  # a few kiosks into it: sample progress, no broker here
            states = ["succeeded"] * 4 + ["failed", "sent"]  # 1 of 5 finished failed: 20 %, not over
            for i, t in enumerate(s.query(RolloutTarget).filter_by(rollout_id=rid).order_by(RolloutTarget.id)):
                t.state = states[i] if i < len(states) else "pending"
                t.detail = "health_check_failed" if t.state == "failed" else ""
        auth.add_operator(store, "admin", "admin-secret-1", "admin")
        dash = serve(store, "127.0.0.1", 0, keys_home=home, broker_url="mqtt://127.0.0.1:1",
                     session_secret=uuid.uuid4().hex * 2, evaluate_every_s=None)
        driver = office_browser(f"{tmp}/profile")
        shot = str(out / "console-rollouts.png")
        try:
            log_in(driver, dash.url, "admin", "admin-secret-1")
            driver.get(dash.url + "/rollouts")
            driver.find_element(By.ID, "rs-by-sites").click()
            driver.find_element(By.CSS_SELECTOR, f'input[name=site][value="{sites[1]}"]').click()
            driver.set_window_size(1366, 1000)
            driver.save_screenshot(shot)
        finally:
            driver.quit()
            dash.stop()
            store.close()
    return [shot]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="docs/img")
    ap.add_argument("--rollouts", action="store_true", help="only the staged-rollouts page (console-rollouts.png)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.rollouts:
        print(json.dumps({"screenshots": _rollouts(out)}))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        store = CentralStore(f"sqlite:///{tmp}/central.db")
        keys = CentralKeys.generate()
        keys.save(Path(tmp))
        now = datetime.now(workdays.CST).timestamp()
        sid = _data(store, keys, now)
        auth.add_operator(store, "wang", "operator-secret-1", "operator")
        dash = serve(store, "127.0.0.1", 0, keys_home=Path(tmp), broker_url="mqtt://127.0.0.1:1",
                     session_secret=uuid.uuid4().hex * 2, evaluate_every_s=None)
        driver = office_browser(f"{tmp}/profile")
        try:
            log_in(driver, dash.url, "wang", "operator-secret-1")
            driver.get(dash.url + "/applications?overdue=1")
            driver.save_screenshot(str(out / "console-applications.png"))
            driver.get(dash.url + f"/applications/{sid}")
            driver.save_screenshot(str(out / "console-application.png"))
        finally:
            driver.quit()
            dash.stop()
            store.close()
    print(json.dumps({"screenshots": [str(out / "console-applications.png"), str(out / "console-application.png")]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
