"""The fleet registry: each kiosk's state, queue and health, and the alarms raised and cleared about it.

State is computed at query time from two sources, with an injectable clock (``now``):

- the retained ``up/status`` (online/offline with its connection counter; ``CentralStore`` already ignores a
  Will older than the current connection): a kiosk whose status says offline is offline;
- heartbeat staleness (as balena does): silent for more than ``late_factor`` x its heartbeat interval, a
  kiosk is ``late``; silent for a further ``grace_factor`` x interval, it is ``offline``. The interval is
  the one the kiosk reports in its telemetry (``heartbeat_interval_s``) or ``default_interval_s``.

``evaluate_alarms`` is idempotent: an alarm already open is not raised again, one whose condition has
passed is cleared (``cleared_at`` set). Alarms the kiosks raise themselves (events of type ``alarm``, e.g.
``submissions_refused`` or ``db_quarantined``) open an alarm, and their ``alarm_cleared`` event closes it.
Nothing here reads or returns personal data.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from central import alarm_rules, peripherals
from central.alarms import alarm_severity as _severity
from central.alarms import open_alarm
from central.fleet_models import Alarm
from central.models import Device, Event, TelemetrySample
from central.store import CentralStore
from sync.runtime.files import private_dir

STATES = ("online", "late", "offline")
# Alarms this module evaluates from the registry (as opposed to those the kiosks raise with events).
CENTRAL_CODES = frozenset({"offline", "queue_growing", "oldest_pending", "driver_unhealthy", "disk_low",
                           "printer_paper_out", "printer_paper_low"})
# Alarms the ingest raises about trust and ordering (device signatures, topics, sequence numbers): never
# cleared by evaluate_alarms. seq_gap clears itself when the gap closes; the others wait for an operator.
TRUST_CODES = frozenset({"bad_signature", "unsigned", "unknown_device", "topic_mismatch", "id_reused",
                         "seq_gap", "seq_lost", "seq_reused"})
# Undelivered outbox rows; attachment chunks are counted with their submission, not one by one.
_UNDELIVERED = ("pending", "sent")


@dataclass(frozen=True)
class Thresholds:
    default_interval_s: float = 30.0  # heartbeat interval when the kiosk does not report one
    late_factor: float = 1.5  # late after this many intervals of silence
    grace_factor: float = 3.0  # then offline after a further grace of this many intervals
    offline_alarm_s: float = 300.0  # alarm when offline for longer than this
    queue_window_s: float = 600.0  # queue growth is judged over this window of telemetry
    queue_growth: int = 20  # alarm when the queue grew by at least this much over the window
    oldest_pending_s: float = 3600.0  # alarm when the oldest undelivered message is older than this
    disk_free_min: int = 512 * 1024 * 1024  # alarm below this many free bytes on the kiosk


DEFAULT_THRESHOLDS = Thresholds()


def _sessions(store: CentralStore) -> sessionmaker[Session]:
    return sessionmaker(store.engine, expire_on_commit=False)


# -- per-device figures -----------------------------------------------------------------------------------


def heartbeat_interval(telemetry: dict[str, Any], th: Thresholds = DEFAULT_THRESHOLDS) -> float:
    value = telemetry.get("heartbeat_interval_s")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return th.default_interval_s


def device_state(status: str, last_seen: float, interval_s: float, now: float,
                 th: Thresholds = DEFAULT_THRESHOLDS) -> str:
    """``online`` / ``late`` / ``offline`` for a retained status, the last message time and the interval."""
    if status == "offline" or last_seen <= 0:
        return "offline"
    silent = now - last_seen
    late_after = th.late_factor * interval_s
    if silent <= late_after:
        return "online"
    if silent <= late_after + th.grace_factor * interval_s:
        return "late"
    return "offline"


def queue_depth(telemetry: dict[str, Any]) -> int | None:
    """Undelivered submissions and events in the kiosk's outbox (from telemetry ``queue``)."""
    queue = telemetry.get("queue")
    if not isinstance(queue, dict):
        return None
    total = 0
    for kind, states in queue.items():
        if kind == "attachment" or not isinstance(states, dict):
            continue
        total += sum(int(states.get(s, 0) or 0) for s in _UNDELIVERED)
    return total


def _drivers(telemetry: dict[str, Any], state: str) -> list[str]:
    drivers = telemetry.get("drivers")
    if not isinstance(drivers, list):
        return []
    return sorted(str(d.get("driver")) for d in drivers if isinstance(d, dict) and d.get("state") == state)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _alarm_dict(a: Alarm) -> dict[str, Any]:
    return {"id": a.id, "device_id": a.device_id, "code": a.code, "severity": a.severity, "detail": a.detail,
            "source": a.source, "raised_at": a.raised_at, "cleared_at": a.cleared_at,
            "cleared_by": a.cleared_by, "open": a.cleared_at is None, "acked_at": a.acked_at,
            "acked_by": a.acked_by, "ack_note": a.ack_note}


def _row(d: Any, now: float, th: Thresholds, alarms: list[dict[str, Any]]) -> dict[str, Any]:
    """One kiosk's figures from a ``Device`` or a row of its ``_ROW_COLUMNS``."""
    try:
        telemetry = json.loads(d.telemetry_json or "{}")
    except ValueError:
        telemetry = {}
    if not isinstance(telemetry, dict):
        telemetry = {}
    interval = heartbeat_interval(telemetry, th)
    raw_versions = telemetry.get("versions")
    versions: dict[str, Any] = raw_versions if isinstance(raw_versions, dict) else {}
    disk = _number(telemetry.get("disk_free"))
    return {
        "device_id": d.device_id,
        "site": d.site,
        "state": device_state(d.status, d.last_seen, interval, now, th),
        "status": d.status,
        "conn": d.conn,
        "last_seen": d.last_seen or None,
        "silent_s": round(now - d.last_seen, 1) if d.last_seen else None,
        "heartbeat_interval_s": interval,
        "queue_depth": queue_depth(telemetry),
        "oldest_pending_s": _number(telemetry.get("oldest_pending_s")),
        "drivers_failed": _drivers(telemetry, "failed"),
        "drivers_degraded": _drivers(telemetry, "degraded"),
        "disk_free": int(disk) if disk is not None else None,
        "version": d.version or str(versions.get("app") or ""),
        "catalog_version": versions.get("catalog"),
        "release_version": versions.get("release"),
        "maintenance": bool(telemetry.get("maintenance")),
        "refusing": telemetry.get("refusing"),
        "peripherals": peripherals.summary(telemetry, th.disk_free_min),
        "alarms": alarms,
    }


_ROW_COLUMNS = (Device.device_id, Device.site, Device.status, Device.conn, Device.last_seen, Device.version,
                Device.telemetry_json)


def _open_alarms(s: Session, device_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
    stmt = select(Alarm).where(Alarm.cleared_at.is_(None)).order_by(Alarm.raised_at)
    if device_id is not None:
        stmt = stmt.where(Alarm.device_id == device_id)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in s.scalars(stmt):
        out[a.device_id].append({"id": a.id, "code": a.code, "severity": a.severity, "detail": a.detail,
                                 "raised_at": a.raised_at, "acked": a.acked_at is not None})
    return out


def fleet_list(store: CentralStore, now: float | None = None,
               thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[dict[str, Any]]:
    """Every known kiosk with its state, queue, health and open alarms, ordered by device id."""
    now = time.time() if now is None else now
    with _sessions(store)() as s:
        alarms = _open_alarms(s)
        # Plain rows, not ORM objects: 1,000 kiosks through the identity map bought nothing here.
        devices = s.execute(select(*_ROW_COLUMNS).order_by(Device.device_id)).all()
        return [_row(d, now, thresholds, alarms.get(d.device_id, [])) for d in devices]


def fleet_counts(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    counts["total"] = sum(counts[s] for s in STATES)
    return counts


def device_detail(store: CentralStore, device_id: str, now: float | None = None,
                  thresholds: Thresholds = DEFAULT_THRESHOLDS) -> dict[str, Any] | None:
    """One kiosk's row plus its full last telemetry (drivers, versions)."""
    now = time.time() if now is None else now
    with _sessions(store)() as s:
        d = s.get(Device, device_id)
        if d is None:
            return None
        row = _row(d, now, thresholds, _open_alarms(s, device_id).get(device_id, []))
        try:
            row["telemetry"] = json.loads(d.telemetry_json or "{}")
        except ValueError:
            row["telemetry"] = {}
        return row


def telemetry_series(store: CentralStore, device_id: str, limit: int = 240) -> list[dict[str, Any]]:
    """The device's last ``limit`` heartbeats, oldest first: queue depth, oldest pending age, disk free."""
    with _sessions(store)() as s:
        rows = s.execute(select(TelemetrySample.at, TelemetrySample.data_json)
                         .where(TelemetrySample.device_id == device_id)
                         .order_by(TelemetrySample.at.desc()).limit(limit)).all()
    out = []
    for at, data_json in reversed(rows):
        try:
            data = json.loads(data_json)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        out.append({"at": at, "queue_depth": queue_depth(data),
                    "oldest_pending_s": _number(data.get("oldest_pending_s")),
                    "disk_free": _number(data.get("disk_free"))})
    return out


# -- alarms -----------------------------------------------------------------------------------------------


def _queue_growth(s: Session, now: float, th: Thresholds) -> dict[str, tuple[int, int]]:
    """Per device: (growth over the window, latest depth), when the queue is at its highest now."""
    rows = s.execute(select(TelemetrySample.device_id, TelemetrySample.data_json)
                     .where(TelemetrySample.at >= now - th.queue_window_s, TelemetrySample.at <= now)
                     .order_by(TelemetrySample.device_id, TelemetrySample.at)).all()
    depths: dict[str, list[int]] = defaultdict(list)
    for device_id, data_json in rows:
        try:
            depth = queue_depth(json.loads(data_json))
        except (ValueError, AttributeError):
            continue
        if depth is not None:
            depths[device_id].append(depth)
    out = {}
    for device_id, seq in depths.items():
        if len(seq) >= 2 and seq[-1] >= max(seq):
            out[device_id] = (seq[-1] - seq[0], seq[-1])
    return out


def _desired_central(s: Session, now: float,
                     th: Thresholds) -> tuple[dict[tuple[str, str], tuple[str, str]], set[str]]:
    """(device, code) -> (severity, detail) for every registry condition that holds now, and the devices
    offline now (whose figures are stale: their other alarms are left as they are until they report)."""
    growth = _queue_growth(s, now, th)
    want: dict[tuple[str, str], tuple[str, str]] = {}
    offline: set[str] = set()
    for d in s.scalars(select(Device)):
        if d.status == "retired":  # a re-enrolled kiosk's former identity (central.enrolment.retire): no alarms
            continue
        row = _row(d, now, th, [])
        key = d.device_id
        if row["state"] == "offline":
            offline.add(key)
            if row["silent_s"] is not None and row["silent_s"] >= th.offline_alarm_s:
                want[(key, "offline")] = ("critical", f"offline for more than {int(th.offline_alarm_s)} s")
            continue  # the figures of an offline kiosk are stale: judged again when it reports
        grew = growth.get(key)
        if grew is not None and grew[0] >= th.queue_growth:
            want[(key, "queue_growing")] = ("warning", f"queue {grew[1]} (+{grew[0]} in {int(th.queue_window_s)} s)")
        oldest = row["oldest_pending_s"]
        if oldest is not None and oldest > th.oldest_pending_s:
            want[(key, "oldest_pending")] = ("warning", f"oldest undelivered {int(oldest)} s")
        failed = peripherals.unhealthy(row["drivers_failed"], row["peripherals"])
        if failed:
            want[(key, "driver_unhealthy")] = ("critical", "failed: " + ", ".join(failed)[:200])
        want.update({(key, code): v for code, v in peripherals.alarms(row["peripherals"]).items()})
        if row["disk_free"] is not None and row["disk_free"] < th.disk_free_min:
            want[(key, "disk_low")] = ("critical", f"{row['disk_free'] // (1024 * 1024)} MiB free")
    return want, offline


def _kiosk_alarm_events(s: Session) -> dict[tuple[str, str], tuple[Event | None, Event | None, dict[str, Any]]]:
    """(device, code) -> (latest raising event, latest clearing event, meta of the raising event)."""
    latest: dict[tuple[str, str], tuple[Event | None, Event | None, dict[str, Any]]] = {}
    stmt = (select(Event).where(Event.type.in_(("alarm", "alarm_cleared")))
            .order_by(Event.device_id, Event.seq, Event.received_at))
    for e in s.scalars(stmt):
        try:
            meta = json.loads(e.meta_json)
        except ValueError:
            continue
        code = meta.get("code") if isinstance(meta, dict) else None
        if not isinstance(code, str) or not code or code in CENTRAL_CODES:
            continue
        key = (e.device_id, code[:64])
        raised, cleared, raised_meta = latest.get(key, (None, None, {}))
        if e.type == "alarm":
            latest[key] = (e, cleared, meta)
        else:
            latest[key] = (raised, e, raised_meta)
    return latest


def evaluate_alarms(store: CentralStore, now: float | None = None,
                    thresholds: Thresholds = DEFAULT_THRESHOLDS) -> dict[str, list[dict[str, str]]]:
    """Raise the alarms whose condition holds and clear those whose condition has passed; idempotent.

    Returns what changed: ``{"raised": [{"device_id", "code"}], "cleared": [...]}``.
    """
    now = time.time() if now is None else now
    try:
        return _evaluate(store, now, thresholds)
    except IntegrityError:
        # Another evaluator opened one of these alarms between our read and our commit: once more.
        return _evaluate(store, now, thresholds)


def _evaluate(store: CentralStore, now: float, th: Thresholds) -> dict[str, list[dict[str, str]]]:
    raised: list[dict[str, str]] = []
    cleared: list[dict[str, str]] = []
    with _sessions(store).begin() as s:
        open_alarms = {(a.device_id, a.code): a for a in s.scalars(select(Alarm).where(Alarm.cleared_at.is_(None)))}

        def clear(a: Alarm, by: str) -> None:
            a.cleared_at = now
            a.cleared_by = by
            cleared.append({"device_id": a.device_id, "code": a.code})

        rules = alarm_rules.rules(s)  # what an admin set: thresholds, and codes not to raise
        want, offline = _desired_central(s, now, alarm_rules.thresholds(th, rules))
        want = {k: v for k, v in want.items() if alarm_rules.enabled(rules, k[1])}
        for (device_id, code), (severity, detail) in want.items():
            current = open_alarms.get((device_id, code))
            if current is None:
                s.add(Alarm(device_id=device_id, code=code, severity=severity, detail=detail, source="central",
                            raised_at=now))
                raised.append({"device_id": device_id, "code": code})
            elif current.source == "central" and (current.detail, current.severity) != (detail, severity):
                current.detail, current.severity = detail, severity
        for (device_id, code), a in open_alarms.items():
            if a.source != "central" or code not in CENTRAL_CODES or (device_id, code) in want:
                continue
            if code == "offline" or device_id not in offline:
                clear(a, "central")

        for (device_id, code), (raise_ev, clear_ev, meta) in _kiosk_alarm_events(s).items():
            current = open_alarms.get((device_id, code))
            want_open = raise_ev is not None and (clear_ev is None or clear_ev.seq < raise_ev.seq)
            if want_open and raise_ev is not None:
                if current is not None or not alarm_rules.enabled(rules, code):
                    continue
                seen = s.scalar(select(Alarm.id).where(Alarm.source_event == raise_ev.id).limit(1))
                if seen is not None:
                    continue  # raised before and cleared by an operator: not again for the same event
                s.add(Alarm(device_id=device_id, code=code, severity=_severity(meta.get("severity")),
                            detail=str(meta.get("detail") or "")[:256], source="kiosk", source_event=raise_ev.id,
                            raised_at=now))
                raised.append({"device_id": device_id, "code": code})
            elif current is not None and current.source == "kiosk":
                clear(current, "kiosk")
        s.flush()
    return {"raised": raised, "cleared": cleared}


def raise_alarms(store: CentralStore, alarms: Iterable[tuple[str, str, str, str]], now: float | None = None) -> int:
    """Open each ``(device_id, code, severity, detail)`` not already open, in one transaction; how many
    were opened. Two workers racing on one alarm: the loser's insert fails the unique index and is retried."""
    items = list(alarms)
    if not items:
        return 0
    now = time.time() if now is None else now
    for attempt in range(2):
        try:
            with _sessions(store).begin() as s:
                return sum(open_alarm(s, d, c, sev, det, now) for d, c, sev, det in items)
        except IntegrityError:
            if attempt:
                raise
    return 0


def clear_alarm(store: CentralStore, alarm_id: int, by: str, now: float | None = None) -> dict[str, Any] | None:
    """An operator closes an alarm by hand; returns it, or None if it was not open."""
    now = time.time() if now is None else now
    with _sessions(store).begin() as s:
        a = s.get(Alarm, alarm_id)
        if a is None or a.cleared_at is not None:
            return None
        a.cleared_at = now
        a.cleared_by = by[:64]
        return _alarm_dict(a)


def alarms_list(store: CentralStore, open_only: bool = True, limit: int = 1000,
                device_id: str | None = None) -> list[dict[str, Any]]:
    """Alarms, newest first (open ones only by default)."""
    stmt = select(Alarm).order_by(Alarm.raised_at.desc(), Alarm.id.desc()).limit(limit)
    if open_only:
        stmt = stmt.where(Alarm.cleared_at.is_(None))
    if device_id is not None:
        stmt = stmt.where(Alarm.device_id == device_id)
    with _sessions(store)() as s:
        return [_alarm_dict(a) for a in s.scalars(stmt)]


# -- JSON for the command line ------------------------------------------------------------------------------


def fleet_json(store: CentralStore, now: float | None = None) -> list[dict[str, Any]]:
    """What ``kiosk-central fleet --json`` prints: a JSON-ready array, one object per kiosk."""
    return fleet_list(store, now)


def alarms_json(store: CentralStore, open_only: bool = True) -> list[dict[str, Any]]:
    """What ``kiosk-central alarms --json`` prints: a JSON-ready array of alarms, newest first."""
    return alarms_list(store, open_only=open_only)


def _open_store(args: argparse.Namespace) -> CentralStore:
    from central.paths import central_home, default_db

    if getattr(args, "db", None):
        return CentralStore(args.db)
    home = private_dir(central_home(args.home))  # 0700 whatever the umask: the database holds personal data
    return CentralStore(default_db(home))


def _fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _cmd_fleet(args: argparse.Namespace) -> int:
    from sync.runtime.cli_common import print_json

    store = _open_store(args)
    try:
        if not args.no_evaluate:
            evaluate_alarms(store)
        rows = fleet_json(store)
    finally:
        store.close()
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        codes = ",".join(a["code"] for a in r["alarms"]) or "-"
        depth = "-" if r["queue_depth"] is None else str(r["queue_depth"])
        print(f"{r['device_id']:<24} {r['state']:<8} {r['site'][:20]:<20} queue {depth:>5}"
              f"  oldest {_fmt_age(r['oldest_pending_s']):>6}  seen {_fmt_age(r['silent_s'])} ago  alarms {codes}")
    return 0


def _cmd_alarms(args: argparse.Namespace) -> int:
    from sync.runtime.cli_common import print_json

    store = _open_store(args)
    try:
        if not args.no_evaluate:
            evaluate_alarms(store)
        rows = alarms_json(store, open_only=not args.all)
    finally:
        store.close()
    if args.json:
        print_json(rows)
        return 0
    for a in rows:
        state = "open" if a["open"] else f"cleared by {a['cleared_by']}"
        print(f"{a['device_id']:<24} {a['severity']:<8} {a['code']:<20} {state:<20} {a['detail']}")
    return 0


def add_fleet_commands(subparsers: Any, common_parent: argparse.ArgumentParser) -> None:
    """Register ``fleet`` and ``alarms`` on ``kiosk-central``'s subparsers (each needs only ``args``)."""
    p = subparsers.add_parser("fleet", parents=[common_parent], help="every kiosk's state, queue, health, alarms")
    p.add_argument("--db", help="SQLAlchemy URL (default sqlite in --home)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-evaluate", action="store_true", help="do not evaluate alarms before listing")
    p.set_defaults(func=_cmd_fleet)

    p = subparsers.add_parser("alarms", parents=[common_parent], help="open alarms (--all: cleared ones too)")
    p.add_argument("--db", help="SQLAlchemy URL (default sqlite in --home)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help="include cleared alarms")
    p.add_argument("--no-evaluate", action="store_true", help="do not evaluate alarms before listing")
    p.set_defaults(func=_cmd_alarms)
