"""A resident's 呼叫工作人员 reaches an open console page live, through the real path: the kiosk's outbox (what
the journey's help button queues), its sync daemon, Mosquitto, the central's ingest worker, the dashboard's
event stream, headless Chromium. The dashboard runs without its alarm evaluator, so the call can only appear
because ingest opens it as the event is stored (``central.alarms.open_live_alarm``); the latency is measured
by ``bench/staff_call.py``, not asserted here."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central import alarm_rules
from central.fleet import alarms_list, clear_alarm, evaluate_alarms
from central.keys import CentralKeys
from central.store import CentralStore
from central.web.server import DashboardServer, serve
from kiosk.journey.assist_vm import staff_call_meta
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from tests.helpers import Central, wait_until
from tests.test_dashboard import _add_operators, _browser_login, _wait, browser  # noqa: F401
from tests.test_dashboard_fleet_browser import _no_csp_errors, _text
from tests.test_fleet import Kiosk
from tests.test_postgres import pg, pg_url  # noqa: F401


@pytest.fixture
def console(tmp_path: Path, central: Central, central_keys: CentralKeys) -> Iterator[DashboardServer]:
    central_keys.save(tmp_path / "central-home")
    _add_operators(central.store)
    # The production stream tick (1 s); no evaluator: nothing but ingest may open the call.
    dash = serve(central.store, "127.0.0.1", 0, keys_home=tmp_path / "central-home", broker_url="mqtt://127.0.0.1:1",
                 session_secret=uuid.uuid4().hex * 2, evaluate_every_s=None)
    yield dash
    dash.stop()


@pytest.mark.slow
def test_a_kiosks_staff_call_appears_on_the_open_console(
        browser: Any, console: DashboardServer, central: Central, outbox: Outbox,  # noqa: F811
        device: DeviceConfig, syncd: Any) -> None:
    wait_until(lambda: central.store.device(device.device_id) is not None, timeout=30, what="the kiosk online")
    _browser_login(browser, console.url, "li")  # a viewer: watching is all the page needs
    _wait(browser, lambda d: _text(d, "#staff-count") == "0", what="the overview with no call")
    page = browser.execute_script("window.__samePage = 1; return location.href;")

    outbox.enqueue_event(device, "alarm", staff_call_meta("identify", "JZZ-001", "zh"))
    _wait(browser, lambda d: _text(d, "#staff-count") == "1", timeout=30, what="the staff call, live")
    assert browser.execute_script("return window.__samePage;") == 1 and browser.current_url == page, "no reload"
    listed = _text(browser, "#staff-list")
    assert f"测试街道 · {device.device_id}" in listed
    (call,) = [a for a in alarms_list(central.store) if a["code"] == "staff_call"]
    assert call["source"] == "kiosk" and call["severity"] == "critical"
    # The evaluator's next round finds it open and tied to its event: no second alarm.
    evaluate_alarms(central.store)
    assert [a["id"] for a in alarms_list(central.store) if a["code"] == "staff_call"] == [call["id"]]
    _no_csp_errors(browser)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_ingest_opens_a_staff_call_once_and_the_evaluator_agrees(
        backend: str, tmp_path: Path, central_keys: CentralKeys, request: pytest.FixtureRequest) -> None:
    url = (request.getfixturevalue("pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path / 'c.db'}")
    store = CentralStore(url)
    try:
        k = Kiosk(store, central_keys, "kiosk-call", site="东湖街道")
        k.status("online", 1)

        def calls() -> list[dict[str, Any]]:
            return [a for a in alarms_list(store, open_only=False) if a["code"] == "staff_call"]

        k.event("alarm", **staff_call_meta("identify", "JZZ-001", "zh"))
        (first,) = calls()  # opened as the event was stored: no evaluator ran
        assert first["open"] and first["source"] == "kiosk" and "JZZ-001" in first["detail"]
        k.event("alarm", **staff_call_meta("form", "JZZ-001", "zh"))  # again while it is open: the same call
        evaluate_alarms(store)
        assert [(a["id"], "screen form" in a["detail"]) for a in calls()] == [(first["id"], True)]
        clear_alarm(store, first["id"], "wang")  # someone went over
        evaluate_alarms(store)
        assert not any(a["open"] for a in calls()), "the evaluator does not reopen a call an operator cleared"
        k.event("alarm", **staff_call_meta("home", "", "zh"))  # a new call
        assert [a["open"] for a in calls()].count(True) == 1
        with store.session() as s, s.begin():  # an admin switched staff calls off: nothing opens
            alarm_rules.put(s, "staff_call", False, None, False, actor="admin", now=1.0)
        clear_alarm(store, next(a["id"] for a in calls() if a["open"]), "wang")
        k.event("alarm", **staff_call_meta("home", "", "zh"))
        evaluate_alarms(store)
        assert not any(a["open"] for a in calls())
    finally:
        store.close()
