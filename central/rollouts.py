"""Staged OTA rollouts: a release sent to a cohort of kiosks (a percentage of the fleet, or chosen sites) in
waves, halted by itself when too many of the kiosks that finished the update failed it.

The cohort for a percentage is stable: kiosks are ordered by SHA-256 of ``version/device_id`` and the first
``ceil(percent x N)`` taken, so widening 10 % to 50 % keeps the first tenth and adds to it. ``step`` (called
by the dashboard server's evaluator, and by the tests) reads the kiosks' ``command_result`` events for the
commands it sent, marks each target succeeded or failed, halts the rollout when ``failed / finished`` passes
``max_failure_rate`` (once ``min_finished`` kiosks finished), and otherwise sends the next kiosks, at most
``wave`` in flight. An admin may widen, halt, resume or cancel it from the dashboard.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.commands import fleet_device_ids
from central.models import Device, DeviceRevocation, Event
from central.rollout_models import Rollout, RolloutTarget
from central.store import CentralStore
from sync.protocol.commands import CommandRefused, validate_args

Sender = Callable[[str, str, dict[str, Any]], str]  # (device_id, action, args) -> command id
ACTIVE = ("running", "halted")
TARGET_STATES = ("pending", "sent", "succeeded", "failed")


def _order(version: str, device_id: str) -> str:
    return hashlib.sha256(f"{version}/{device_id}".encode()).hexdigest()


def cohort(store: CentralStore, version: str, *, percent: float | None = None,
           sites: list[str] | None = None) -> list[str]:
    """The kiosks a rollout of ``version`` reaches (revoked kiosks never)."""
    if sites:
        return sorted({d for site in sites for d in fleet_device_ids(store, site)})
    everyone = sorted(fleet_device_ids(store), key=lambda d: _order(version, d))
    pct = 100.0 if percent is None else percent
    return everyone[:math.ceil(len(everyone) * pct / 100.0)]


def site_choices(store: CentralStore) -> list[tuple[str, int]]:
    """The registry's sites and how many kiosks a rollout to each would reach (revoked kiosks never)."""
    stmt = (select(Device.site, func.count()).where(Device.device_id.not_in(select(DeviceRevocation.device_id)))
            .group_by(Device.site).order_by(Device.site))
    with store.session() as s:
        return [(str(site), int(n)) for site, n in s.execute(stmt) if site]


def check(version: str, percent: float | None, sites: list[str], max_failure_rate: float) -> None:
    if not version or len(version) > 64:
        raise ValueError("a rollout names its release version")
    if sites and percent is not None:
        raise ValueError("a cohort is a percentage or sites, not both")
    if not sites and (percent is None or not 0 < percent <= 100):
        raise ValueError("the percentage must be above 0 and at most 100")
    if not 0 <= max_failure_rate < 1:
        raise ValueError("the failure threshold is a fraction from 0 to below 1 (e.g. 0.2 for 20 %)")


def create(store: CentralStore, version: str, update_args: dict[str, Any], *, percent: float | None = None,
           sites: list[str] | None = None, max_failure_rate: float = 0.2, min_finished: int = 3, wave: int = 10,
           actor: str, now: float | None = None) -> int:
    """A running rollout of ``update_args`` (an ``update`` command's arguments, see
    ``central.commands.update_args``) to its cohort; its id. ValueError for a bad cohort or threshold."""
    sites = [s.strip() for s in sites or [] if s.strip()]
    check(version, percent, sites, max_failure_rate)
    if update_args.get("version") != version:
        raise ValueError("the update's arguments are for another version")
    try:  # what a kiosk would refuse is refused here, before any kiosk is asked
        update_args = validate_args("update", dict(update_args))
    except CommandRefused as exc:
        raise ValueError(f"the update's arguments: {exc}") from None
    now = time.time() if now is None else now
    devices = cohort(store, version, percent=percent, sites=sites)
    if not devices:
        raise ValueError("the cohort holds no kiosk")
    with store.session() as s, s.begin():
        r = Rollout(version=version, args_json=json.dumps(update_args), cohort="sites" if sites else "percent",
                    percent=100.0 if sites else float(percent or 100), sites_json=json.dumps(sites, ensure_ascii=False),
                    max_failure_rate=max_failure_rate, min_finished=max(1, min_finished), wave=max(1, wave),
                    state="running", reason="", created_at=now, created_by=actor[:64], updated_at=now)
        s.add(r)
        s.flush()
        s.add_all(RolloutTarget(rollout_id=r.id, device_id=d, state="pending", detail="") for d in devices)
        return r.id


def widen(store: CentralStore, rollout_id: int, percent: float, now: float | None = None) -> int:
    """Grow a percentage rollout's cohort to ``percent``; how many kiosks were added."""
    with store.session() as s:
        version = s.scalar(select(Rollout.version).where(Rollout.id == rollout_id))
    wider = cohort(store, version, percent=percent) if version is not None else []
    with store.session() as s, s.begin():
        r = s.get(Rollout, rollout_id)
        if r is None or r.cohort != "percent" or r.state not in ACTIVE:
            raise ValueError("only an active percentage rollout can be widened")
        if not r.percent < percent <= 100:
            raise ValueError(f"the new percentage must be above {r.percent:g} and at most 100")
        have = set(s.scalars(select(RolloutTarget.device_id).where(RolloutTarget.rollout_id == rollout_id)))
        added = [d for d in wider if d not in have]
        s.add_all(RolloutTarget(rollout_id=r.id, device_id=d, state="pending", detail="") for d in added)
        r.percent, r.updated_at = percent, time.time() if now is None else now
        return len(added)


def set_state(store: CentralStore, rollout_id: int, state: str, reason: str, now: float | None = None) -> None:
    """An admin halts (``halted``), resumes (``running``) or cancels (``cancelled``) a rollout."""
    allowed = {"halted": ("running",), "running": ("halted",), "cancelled": ACTIVE}
    with store.session() as s, s.begin():
        r = s.get(Rollout, rollout_id)
        if r is None or state not in allowed or r.state not in allowed[state]:
            raise ValueError(f"a {r.state if r else 'missing'} rollout cannot become {state}")
        r.state, r.reason, r.updated_at = state, reason[:256], time.time() if now is None else now


def _results(s: Session, targets: list[RolloutTarget]) -> dict[str, dict[str, Any]]:
    """command id -> the kiosk's ``command_result`` meta, for the sent targets."""
    wanted = {t.command_id: t.device_id for t in targets if t.command_id}
    found: dict[str, dict[str, Any]] = {}
    if not wanted:
        return found
    stmt = select(Event.device_id, Event.meta_json).where(Event.type == "command_result",
                                                          Event.device_id.in_(set(wanted.values())))
    for device_id, meta_json in s.execute(stmt):
        try:
            meta = json.loads(meta_json)
        except ValueError:
            continue
        cid = meta.get("command_id") if isinstance(meta, dict) else None
        if isinstance(cid, str) and wanted.get(cid) == device_id:
            found[cid] = meta
    return found


def _rate(targets: list[RolloutTarget]) -> tuple[int, int]:
    finished = [t for t in targets if t.state in ("succeeded", "failed")]
    return len(finished), sum(t.state == "failed" for t in finished)


def step(store: CentralStore, send: Sender, now: float | None = None) -> dict[str, int]:
    """Collect results, halt what fails too often, send the next wave of each running rollout. Commands are
    sent outside any transaction (the sender reads the store too) and recorded afterwards."""
    now = time.time() if now is None else now
    counts = {"sent": 0, "finished": 0, "halted": 0, "completed": 0}
    wave: list[tuple[int, str, dict[str, Any]]] = []  # (target id, device, update args)
    with store.session() as s, s.begin():
        for r in s.scalars(select(Rollout).where(Rollout.state == "running")):
            targets = list(s.scalars(select(RolloutTarget).where(RolloutTarget.rollout_id == r.id)))
            counts["finished"] += _collect(s, targets, now)
            finished, failed = _rate(targets)
            if finished >= r.min_finished and failed / finished > r.max_failure_rate:
                r.state, r.updated_at = "halted", now
                r.reason = f"auto: {failed} of {finished} updated kiosks failed (over {r.max_failure_rate:.0%})"
                counts["halted"] += 1
            elif all(t.state in ("succeeded", "failed") for t in targets):
                r.state, r.updated_at = "completed", now
                counts["completed"] += 1
            else:
                room = max(0, r.wave - sum(t.state == "sent" for t in targets))
                args = json.loads(r.args_json)
                wave += [(t.id, t.device_id, args) for t in targets if t.state == "pending"][:room]
    outcomes: list[tuple[int, str | None, str]] = []
    for target_id, device_id, args in wave:
        try:
            outcomes.append((target_id, send(device_id, "update", args)[:64], ""))
        except Exception as exc:  # not published (revoked, broker away): tried again next step
            outcomes.append((target_id, None, type(exc).__name__[:256]))
    with store.session() as s, s.begin():
        for target_id, command_id, error in outcomes:
            t = s.get(RolloutTarget, target_id)
            if t is None or t.state != "pending":
                continue
            if command_id is None:
                t.detail = error
            else:
                t.state, t.command_id, t.sent_at, t.detail = "sent", command_id, now, ""
                counts["sent"] += 1
    return counts


def _collect(s: Session, targets: list[RolloutTarget], now: float) -> int:
    """Mark the sent targets whose kiosk answered; how many finished now."""
    results = _results(s, [t for t in targets if t.state == "sent"])
    done = 0
    for t in targets:
        meta = results.get(t.command_id or "")
        if t.state == "sent" and meta is not None:
            t.state = "succeeded" if meta.get("ok") is True else "failed"
            t.finished_at, t.detail = now, str(meta.get("reason") or "")[:256]
            done += 1
    return done


def progress(s: Session, rollout_id: int | None = None) -> list[dict[str, Any]]:
    """Each rollout (newest first) with its targets counted by state, the failure rate and the sites."""
    stmt = select(Rollout).order_by(Rollout.id.desc())
    if rollout_id is not None:
        stmt = stmt.where(Rollout.id == rollout_id)
    out = []
    for r in s.scalars(stmt.limit(50)):
        targets = list(s.scalars(select(RolloutTarget).where(RolloutTarget.rollout_id == r.id)))
        by_state = {k: sum(t.state == k for t in targets) for k in TARGET_STATES}
        finished, failed = _rate(targets)
        out.append({"id": r.id, "version": r.version, "cohort": r.cohort, "percent": r.percent,
                    "sites": json.loads(r.sites_json), "state": r.state, "reason": r.reason,
                    "max_failure_rate": r.max_failure_rate, "min_finished": r.min_finished, "wave": r.wave,
                    "created_by": r.created_by, "created_at": r.created_at, "total": len(targets), **by_state,
                    "failure_rate": (failed / finished) if finished else None,
                    "done_pct": round(100.0 * finished / len(targets), 1) if targets else 0.0})
    return out


def targets_of(s: Session, rollout_id: int) -> list[dict[str, Any]]:
    rows = s.execute(select(RolloutTarget, Device.site).outerjoin(Device, Device.device_id == RolloutTarget.device_id)
                     .where(RolloutTarget.rollout_id == rollout_id).order_by(RolloutTarget.device_id)).all()
    return [{"device_id": t.device_id, "site": site or "", "state": t.state, "command_id": t.command_id,
             "sent_at": t.sent_at, "finished_at": t.finished_at, "detail": t.detail} for t, site in rows]
