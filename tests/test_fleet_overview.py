"""The fleet overview: each kiosk's peripherals from the health its drivers report (a real file-backed
printer whose simulated paper runs out, asked by the kiosk's health probe), the paper alarms, and the counts
by state per site and per district (districts an admin sets)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from central import fleet_overview
from central.fleet import alarms_list, evaluate_alarms, fleet_list
from central.keys import CentralKeys
from central.store import CentralStore
from central.web import auth
from central.web.app import create_app
from drivers.registry import build_drivers
from tests.test_dashboard import _add_operators, _login
from tests.test_fleet import Kiosk


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CentralStore]:
    s = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    yield s
    s.close()


def _codes(store: CentralStore, device_id: str) -> set[str]:
    return {a["code"] for a in alarms_list(store) if a["device_id"] == device_id}


def test_paper_running_out_reaches_the_overview_and_raises_its_alarm(tmp_path: Path, store: CentralStore,
                                                                     central_keys: CentralKeys) -> None:
    drivers = build_drivers({"printer": {"kind": "file", "path": str(tmp_path / "printer.bin")}})
    printer = drivers.get("printer")
    backend = printer.backend  # type: ignore[union-attr]
    k = Kiosk(store, central_keys, "k-paper")
    k.status("online", 1)

    def heartbeat(paper: str) -> dict[str, object]:
        backend.simulate(paper=paper)
        k.telemetry(drivers=drivers.health(probe=True))  # what the kiosk's health timer puts in each heartbeat
        now = k.last_seen + 1
        evaluate_alarms(store, now)
        (row,) = [r for r in fleet_list(store, now) if r["device_id"] == "k-paper"]
        return row["peripherals"]  # type: ignore[no-any-return]

    p = heartbeat("ok")
    assert (p["printer"], p["paper"], p["card_reader"], p["disk"]) == ("ok", "ok", "absent", "ok")
    assert not _codes(store, "k-paper")
    p = heartbeat("near_end")
    assert (p["printer"], p["paper"]) == ("degraded", "low") and _codes(store, "k-paper") == {"printer_paper_low"}
    p = heartbeat("out")
    assert (p["printer"], p["paper"]) == ("failed", "out")
    # Its own alarm, not a second "driver failed" about the same empty roll.
    assert _codes(store, "k-paper") == {"printer_paper_out"}
    heartbeat("ok")
    assert not _codes(store, "k-paper")
    drivers.close()


def test_failed_reader_and_cameras_and_low_disk_show_per_part(store: CentralStore, central_keys: CentralKeys) -> None:
    k = Kiosk(store, central_keys, "k-parts")
    k.status("online", 1)
    k.telemetry(disk=300 * 1024 * 1024, drivers=[
        {"driver": "idcard", "state": "failed", "last_error": "idcard_no_reply"},
        {"driver": "camera.scanner", "state": "ok"}, {"driver": "camera.document", "state": "degraded"},
        {"driver": "printer", "state": "ok"}])
    now = k.last_seen + 1
    (row,) = [r for r in fleet_list(store, now) if r["device_id"] == "k-parts"]
    p = row["peripherals"]
    assert (p["card_reader"], p["cameras"], p["printer"], p["disk"]) == ("failed", "degraded", "ok", "degraded")
    assert p["errors"]["card_reader"] == ["idcard_no_reply"]
    evaluate_alarms(store, now)
    assert _codes(store, "k-parts") == {"driver_unhealthy", "disk_low"}


def test_counts_by_state_per_site_and_district(store: CentralStore, central_keys: CentralKeys) -> None:
    for device_id, site in (("k-a1", "东湖街道"), ("k-a2", "东湖街道"), ("k-b1", "西城街道"), ("k-c1", "南山街道")):
        k = Kiosk(store, central_keys, device_id, site=site)
        k.status("online" if device_id != "k-a2" else "offline", 1)
        k.telemetry()
    with store.session() as s, s.begin():
        fleet_overview.set_district(s, "东湖街道", "江汉区", actor="admin", now=1.0)
        fleet_overview.set_district(s, "西城街道", " 江汉区 ", actor="admin", now=1.0)
        with pytest.raises(ValueError):
            fleet_overview.set_district(s, "东湖街道", "区" * 129, actor="admin", now=1.0)
    with store.session() as s:
        districts = fleet_overview.districts(s)
    rows = fleet_list(store, k.last_seen + 1)
    groups = fleet_overview.breakdown(rows, districts)
    by_site = {g["name"]: g for g in groups["by_site"]}
    assert (by_site["东湖街道"]["online"], by_site["东湖街道"]["offline"], by_site["东湖街道"]["total"]) == (1, 1, 2)
    assert by_site["东湖街道"]["district"] == "江汉区" and by_site["南山街道"]["district"] == ""
    by_district = {g["name"]: g for g in groups["by_district"]}
    assert (by_district["江汉区"]["total"], by_district["江汉区"]["online"]) == (3, 2)
    assert by_district[""]["total"] == 1  # 南山街道 has no district yet: listed last, as 未设置
    assert groups["by_district"][-1]["name"] == ""


def test_overview_page_and_districts_by_role(tmp_path: Path, central_keys: CentralKeys) -> None:
    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    _add_operators(store)
    app = create_app(store, tmp_path, "mqtt://127.0.0.1:1", session_secret="s" * 32)
    k = Kiosk(store, central_keys, "k-page", site="东湖街道")
    k.status("online", 1)
    k.telemetry(drivers=[{"driver": "printer", "state": "failed", "last_error": "printer_paper_out"}])
    with TestClient(app) as c:
        token = _login(c, "wang")
        page = c.get("/").text
        assert "按站点" in page and "按区" in page and "打印机·缺纸" in page and 'id="district-form"' not in page
        form = {"site": "东湖街道", "district": "江汉区"}
        assert c.post("/fleet/districts", data={"csrf": token, **form}).status_code == 403
        token = _login(c, "admin")
        page = c.post("/fleet/districts", data={"csrf": token, **form}).text
        assert "东湖街道 已归入 江汉区" in page
        overview = c.get("/api/fleet/overview").json()
        assert overview["by_district"][0]["name"] == "江汉区" and overview["by_site"][0]["district"] == "江汉区"
        (entry,) = auth.audit_entries(store, action="site_district")
        assert entry["target"] == "东湖街道" and entry["detail"] == {"district": "江汉区"}
        c.get("/lang?to=en&next=/")
        english = c.get("/").text
        assert "By district" in english and "Printer·out" in english
        assert 'data-part="card_reader"' not in english  # no reader configured on this kiosk: nothing shown
        device = c.get("/devices/k-page").text
        assert "Peripheral health" in device and "Printer·out" in device
    store.close()


def test_overview_rows_render_as_the_macros_do(tmp_path: Path, central_keys: CentralKeys) -> None:
    """The page renders each distinct state and peripheral summary once (``MacroMemo``): every row's cells
    are still exactly what the macros make of that row, in both languages, alarms included."""
    import re

    from central.web.i18n import translate

    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    _add_operators(store)
    app = create_app(store, tmp_path, "mqtt://127.0.0.1:1", session_secret="s" * 32)
    kinds = [[{"driver": "printer", "state": "ok"}],
             [{"driver": "printer", "state": "failed", "last_error": "printer_paper_out"}],
             [{"driver": "idcard", "state": "degraded"}, {"driver": "camera.scanner", "state": "failed"}]]
    for i in range(9):
        k = Kiosk(store, central_keys, f"k-memo-{i}", site=f"站点{i % 2}")
        k.status("online" if i % 4 else "offline", 1)
        k.telemetry(drivers=kinds[i % 3], disk=(300 if i == 4 else 20_000) * 1024 * 1024)
    evaluate_alarms(store, max(r["last_seen"] or 0 for r in fleet_list(store)) + 1)  # driver and disk alarms
    macros = app.state.web.templates.env.get_template("_macros.html").module
    with TestClient(app) as c:
        _login(c, "wang")
        for lang in ("zh_CN", "en"):
            if lang == "en":
                c.get("/lang?to=en&next=/")
            page = c.get("/").text
            rows = {r["device_id"]: r for r in fleet_list(store, app.state.web.clock())}
            assert len(rows) == 9 and any(r["alarms"] for r in rows.values())

            def t(key: str, **values: object) -> str:
                return translate(lang, key, **values)  # noqa: B023 - used within this iteration

            for device_id, r in rows.items():
                cells = re.search(rf'<tr data-device="{device_id}".*?</tr>', page, re.S)
                assert cells is not None
                html = cells.group(0)
                assert f'<td class="state">{macros.state_badge(t, r["state"])}</td>' in html
                assert f'<td class="parts">{macros.peripheral_chips(t, r["peripherals"])}</td>' in html
                assert f'<td class="alarms">{macros.alarm_chips(t, r["alarms"])}</td>' in html
    store.close()
