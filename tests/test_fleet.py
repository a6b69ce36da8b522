"""The fleet registry: states from the retained status and heartbeat staleness (injected clock), alarms
raised and cleared idempotently, and the JSON the command line prints."""

from __future__ import annotations

import argparse
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central import fleet
from central.fleet import Thresholds, alarms_json, evaluate_alarms, fleet_json, fleet_list
from central.keys import CentralKeys
from central.messages import parse
from central.store import CentralStore
from central.web import auth
from sync.protocol import topics
from sync.protocol.envelope import Envelope
from sync.protocol.ids import new_message_id
from sync.protocol.signing import DeviceSigner
from tests.helpers import TEST_KEYRING, sim_enroll

FLEET_KEYS = {"device_id", "site", "state", "last_seen", "queue_depth", "oldest_pending_s", "drivers_failed",
              "disk_free", "version", "alarms"}
ALARM_KEYS = {"id", "device_id", "code", "severity", "detail", "raised_at", "cleared_at", "open"}
GIB = 1024**3


@pytest.fixture(scope="module")
def pg_server() -> Iterator[Any]:
    """A private PostgreSQL cluster for this module (the setup installs PostgreSQL: no skip)."""
    from devtools import postgres

    server = postgres.PrivatePostgres()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CentralStore]:
    if request.param == "sqlite":
        s = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
        yield s
        s.close()
        return
    import psycopg

    pg = request.getfixturevalue("pg_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    s = CentralStore(pg.url.rsplit("/", 1)[0] + f"/{name}")
    yield s
    s.close()
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Kiosk:
    """Builds what a kiosk sends, parsed exactly as the ingest worker parses it."""

    def __init__(self, store: CentralStore, keys: CentralKeys, device_id: str, site: str = "东湖街道") -> None:
        self.store, self.keys, self.device_id, self.site = store, keys, device_id, site
        self.seq = 0
        self.signer = DeviceSigner.generate()  # enrolled: the parser checks device signatures
        sim_enroll(device_id, self.signer.public_raw)

    def status(self, state: str, conn: int) -> None:
        payload = json.dumps({"state": state, "conn": conn, "since": 1.0, "version": "0.1.0", "site": self.site})
        self.store.apply([parse(self.keys, topics.parse(topics.up(self.device_id, "status")), payload.encode(),
                                TEST_KEYRING)])

    def _envelope(self, kind: str, meta: dict[str, Any], created_at: float | None = None) -> None:
        self.seq += 1
        env = Envelope(id=new_message_id(), seq=self.seq, device_id=self.device_id, kind=kind,
                       created_at=created_at if created_at is not None else 1_000.0 + self.seq, meta=meta)
        topic = topics.parse(topics.up(self.device_id, kind))
        self.store.apply([parse(self.keys, topic, self.signer.sign(env).to_bytes(), TEST_KEYRING)])

    def telemetry(self, *, pending: int = 0, oldest: float | None = None, disk: int = 20 * GIB,
                  drivers: list[dict[str, Any]] | None = None, interval: float | None = None,
                  at: float | None = None) -> None:
        figures: dict[str, Any] = {
            "queue": {"submission": {"pending": pending, "sent": 0, "acked": 5, "rejected": 0},
                      "attachment": {"pending": 40, "sent": 0, "acked": 0, "rejected": 0}},
            "oldest_pending_s": oldest, "last_delivery": None, "disk_free": disk,
            "drivers": drivers if drivers is not None else [{"driver": "camera", "state": "ok"}],
            "versions": {"app": "0.1.0", "catalog": "2026.1"}, "uptime_s": 5.0, "refusing": None,
            "maintenance": False}
        if interval is not None:
            figures["heartbeat_interval_s"] = interval
        self._envelope("telemetry", figures, at)

    def event(self, event_type: str, **meta: Any) -> None:
        self._envelope("event", {"type": event_type, **meta})

    @property
    def last_seen(self) -> float:
        d = self.store.device(self.device_id)
        assert d is not None
        return float(d["last_seen"])

    def row(self, now: float, th: Thresholds = fleet.DEFAULT_THRESHOLDS) -> dict[str, Any]:
        return next(r for r in fleet_list(self.store, now, th) if r["device_id"] == self.device_id)


def test_online_late_offline_by_heartbeat_staleness(store: CentralStore, central_keys: CentralKeys) -> None:
    k = Kiosk(store, central_keys, "k-stale")
    k.status("online", 1)
    k.telemetry()  # no interval reported: 30 s by default
    t0 = k.last_seen
    assert k.row(t0 + 1)["state"] == "online"
    assert k.row(t0 + 45)["state"] == "online"  # 1.5 x 30 s
    assert k.row(t0 + 46)["state"] == "late"
    assert k.row(t0 + 45 + 90)["state"] == "late"  # grace: 3 x 30 s
    assert k.row(t0 + 45 + 91)["state"] == "offline"
    k.telemetry()  # it speaks again
    assert k.row(k.last_seen + 1)["state"] == "online"


def test_interval_from_telemetry_and_thresholds(store: CentralStore, central_keys: CentralKeys) -> None:
    k = Kiosk(store, central_keys, "k-fast")
    k.status("online", 1)
    k.telemetry(interval=10)
    t0 = k.last_seen
    assert k.row(t0 + 15)["state"] == "online"
    assert k.row(t0 + 16)["state"] == "late"
    assert k.row(t0 + 46)["state"] == "offline"
    th = Thresholds(late_factor=2.0, grace_factor=1.0)
    assert k.row(t0 + 16, th)["state"] == "online"
    assert k.row(t0 + 21, th)["state"] == "late"
    assert k.row(t0 + 31, th)["state"] == "offline"


def test_retained_status_decides_and_a_stale_will_is_ignored(store: CentralStore,
                                                             central_keys: CentralKeys) -> None:
    k = Kiosk(store, central_keys, "k-will")
    k.status("online", 1)
    k.status("online", 2)  # reconnected before the broker gave up on connection 1
    k.status("offline", 1)  # connection 1's Will arrives late: ignored
    now = k.last_seen + 1
    assert k.row(now)["state"] == "online"
    assert k.row(now)["conn"] == 2
    k.status("offline", 2)  # connection 2's Will (or a clean goodbye): offline at once, however recent
    assert k.row(k.last_seen + 0.1)["state"] == "offline"
    k.status("online", 3)
    assert k.row(k.last_seen + 0.1)["state"] == "online"


def test_row_figures_from_telemetry(store: CentralStore, central_keys: CentralKeys) -> None:
    k = Kiosk(store, central_keys, "k-figures", site="西城街道")
    k.status("online", 1)
    k.telemetry(pending=7, oldest=125.5, disk=3 * GIB,
                drivers=[{"driver": "printer", "state": "failed"}, {"driver": "camera", "state": "degraded"},
                         {"driver": "idcard", "state": "ok"}])
    r = k.row(k.last_seen + 1)
    assert set(r) >= FLEET_KEYS
    assert r["site"] == "西城街道"
    assert r["queue_depth"] == 7  # attachment chunks are not counted one by one
    assert r["oldest_pending_s"] == 125.5
    assert r["drivers_failed"] == ["printer"]
    assert r["drivers_degraded"] == ["camera"]
    assert r["disk_free"] == 3 * GIB
    assert r["version"] == "0.1.0"
    assert r["catalog_version"] == "2026.1"


def test_registry_alarms_raised_once_and_cleared(store: CentralStore, central_keys: CentralKeys) -> None:
    k = Kiosk(store, central_keys, "k-alarms")
    k.status("online", 1)
    k.telemetry(pending=3, oldest=7200, disk=100 * 1024**2, drivers=[{"driver": "printer", "state": "failed"}])
    now = k.last_seen + 1
    first = evaluate_alarms(store, now)
    assert sorted(a["code"] for a in first["raised"]) == ["disk_low", "driver_unhealthy", "oldest_pending"]
    again = evaluate_alarms(store, now + 1)
    assert again == {"raised": [], "cleared": []}
    open_alarms = alarms_json(store)
    assert len(open_alarms) == 3
    assert all(set(a) >= ALARM_KEYS for a in open_alarms)
    assert {a["code"] for a in k.row(now)["alarms"]} == {"disk_low", "driver_unhealthy", "oldest_pending"}

    k.telemetry(pending=0, oldest=None)  # healthy again
    done = evaluate_alarms(store, k.last_seen + 1)
    assert sorted(a["code"] for a in done["cleared"]) == ["disk_low", "driver_unhealthy", "oldest_pending"]
    assert alarms_json(store) == []
    history = alarms_json(store, open_only=False)
    assert len(history) == 3
    assert all(a["cleared_by"] == "central" and a["cleared_at"] is not None for a in history)
    assert evaluate_alarms(store, k.last_seen + 2) == {"raised": [], "cleared": []}


def test_offline_too_long_alarm(store: CentralStore, central_keys: CentralKeys) -> None:
    k = Kiosk(store, central_keys, "k-gone")
    k.status("online", 1)
    k.telemetry(oldest=99_999)  # stale figures of an offline kiosk raise nothing but the offline alarm
    t0 = k.last_seen
    th = Thresholds(offline_alarm_s=600)
    evaluate_alarms(store, t0 + 1, th)
    assert {a["code"] for a in alarms_json(store)} == {"oldest_pending"}
    assert evaluate_alarms(store, t0 + 300, th)["raised"] == []  # offline (after 135 s) but not for long
    assert {a["code"] for a in alarms_json(store)} == {"oldest_pending"}  # left as it was while offline
    assert evaluate_alarms(store, t0 + 601, th) == {"raised": [{"device_id": "k-gone", "code": "offline"}],
                                                    "cleared": []}
    assert evaluate_alarms(store, t0 + 700, th) == {"raised": [], "cleared": []}
    k.telemetry()  # back, and healthy
    cleared = evaluate_alarms(store, k.last_seen + 1, th)["cleared"]
    assert sorted(a["code"] for a in cleared) == ["offline", "oldest_pending"]


def test_queue_growing_alarm(store: CentralStore, central_keys: CentralKeys) -> None:
    k = Kiosk(store, central_keys, "k-queue")
    k.status("online", 1)
    th = Thresholds(queue_window_s=600, queue_growth=10)
    base = 50_000.0
    for i, depth in enumerate((2, 5, 9, 14)):
        k.telemetry(pending=depth, at=base + 30 * i)
    # The window is judged on the heartbeats' own times; the kiosk counts as online (seen just now).
    now = base + 100
    assert evaluate_alarms(store, now, th)["raised"] == [{"device_id": "k-queue", "code": "queue_growing"}]
    assert evaluate_alarms(store, now + 10, th)["raised"] == []
    k.telemetry(pending=1, at=base + 120)  # it drained
    assert evaluate_alarms(store, now + 30, th)["cleared"] == [{"device_id": "k-queue", "code": "queue_growing"}]


def test_kiosk_raised_alarms_follow_their_events(store: CentralStore, central_keys: CentralKeys) -> None:
    k = Kiosk(store, central_keys, "k-refuse")
    k.status("online", 1)
    k.telemetry()
    now = k.last_seen + 1
    k.event("alarm", code="submissions_refused", severity="critical", detail="queue_full")
    assert evaluate_alarms(store, now)["raised"] == [{"device_id": "k-refuse", "code": "submissions_refused"}]
    assert evaluate_alarms(store, now) == {"raised": [], "cleared": []}
    (a,) = alarms_json(store)
    assert (a["code"], a["severity"], a["detail"], a["source"]) == ("submissions_refused", "critical",
                                                                     "queue_full", "kiosk")
    k.event("alarm_cleared", code="submissions_refused")
    assert evaluate_alarms(store, now)["cleared"] == [{"device_id": "k-refuse", "code": "submissions_refused"}]
    assert alarms_json(store) == []
    assert alarms_json(store, open_only=False)[0]["cleared_by"] == "kiosk"
    # Refused again later: a new alarm.
    k.event("alarm", code="submissions_refused", severity="critical", detail="disk_low")
    assert evaluate_alarms(store, now)["raised"] == [{"device_id": "k-refuse", "code": "submissions_refused"}]


def test_quarantine_alarm_stays_until_an_operator_clears_it(store: CentralStore,
                                                            central_keys: CentralKeys) -> None:
    k = Kiosk(store, central_keys, "k-quarantine")
    k.status("online", 1)
    k.telemetry()
    now = k.last_seen + 1
    k.event("alarm", code="db_quarantined", severity="critical", detail="moved aside as outbox.db.corrupt-1")
    evaluate_alarms(store, now)
    (a,) = alarms_json(store)
    assert a["code"] == "db_quarantined"
    assert evaluate_alarms(store, now + 30)["cleared"] == []
    assert fleet.clear_alarm(store, a["id"], "ops-wang", now + 10) is not None
    assert fleet.clear_alarm(store, a["id"], "ops-wang", now + 11) is None  # already closed
    assert evaluate_alarms(store, now + 20) == {"raised": [], "cleared": []}  # not raised again for that event
    assert alarms_json(store, open_only=False)[0]["cleared_by"] == "ops-wang"


def test_fleet_and_alarms_json_shapes(store: CentralStore, central_keys: CentralKeys) -> None:
    for i, site in enumerate(("东湖街道", "西城街道")):
        k = Kiosk(store, central_keys, f"k-json-{i}", site=site)
        k.status("online", 1)
        k.telemetry(pending=i, disk=1024 if i else 20 * GIB)
    evaluate_alarms(store)
    rows = fleet_json(store)
    assert [r["device_id"] for r in rows] == ["k-json-0", "k-json-1"]
    for r in rows:
        assert set(r) >= FLEET_KEYS
        assert r["state"] in ("online", "late", "offline")
        assert isinstance(r["alarms"], list)
    json.dumps(rows, ensure_ascii=False)
    alarms = alarms_json(store)
    assert [(a["device_id"], a["code"]) for a in alarms] == [("k-json-1", "disk_low")]
    json.dumps(alarms)
    assert fleet.fleet_counts(rows) == {"online": 2, "late": 0, "offline": 0, "total": 2}


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home")
    parser = argparse.ArgumentParser(prog="kiosk-central")
    sub = parser.add_subparsers(dest="cmd", required=True)
    fleet.add_fleet_commands(sub, common)
    auth.add_operator_commands(sub, common)
    return parser, common


def test_fleet_and_alarms_commands(tmp_path: Path, central_keys: CentralKeys,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    store = CentralStore(f"sqlite:///{home / 'central.db'}")
    k = Kiosk(store, central_keys, "k-cli")
    k.status("online", 1)
    k.telemetry(disk=1024)
    store.close()
    parser, _ = _parser()
    args = parser.parse_args(["fleet", "--json", "--home", str(home)])
    assert args.func(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["device_id"] == "k-cli" and rows[0]["state"] == "online"
    assert [a["code"] for a in rows[0]["alarms"]] == ["disk_low"]
    args = parser.parse_args(["alarms", "--json", "--db", f"sqlite:///{home / 'central.db'}"])
    assert args.func(args) == 0
    assert [a["code"] for a in json.loads(capsys.readouterr().out)] == ["disk_low"]


def test_operator_add_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    parser, _ = _parser()
    home = tmp_path / "home"
    secret = tmp_path / "pw"
    secret.write_text("correct horse battery\nignored\n")
    args = parser.parse_args(["operator", "add", "wang", "--role", "operator", "--password-file", str(secret),
                              "--home", str(home)])
    assert args.func(args) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("another-secret-1\n"))
    args = parser.parse_args(["operator", "add", "li", "--role", "admin", "--home", str(home)])
    assert args.func(args) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    args = parser.parse_args(["operator", "add", "zhao", "--home", str(home)])
    assert args.func(args) == 2
    assert "at least" in capsys.readouterr().err
    store = CentralStore(f"sqlite:///{home / 'central.db'}")
    try:
        assert auth.authenticate(store, "wang", "correct horse battery") == auth.Principal("wang", "operator")
        assert auth.authenticate(store, "li", "another-secret-1") == auth.Principal("li", "admin")
        assert auth.authenticate(store, "wang", "wrong password") is None
        assert auth.authenticate(store, "nobody", "correct horse battery") is None
        stored = [o["username"] for o in auth.list_operators(store)]
        assert stored == ["li", "wang"]
        assert [e["action"] for e in auth.audit_entries(store)] == ["operator_add", "operator_add"]
    finally:
        store.close()
