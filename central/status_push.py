"""Application statuses (受理, 办理中, 已办结, 退回, ...) set at the central and pushed down to the kiosks of
the application's site, so a resident can ask at any kiosk of the office with a receipt number or an ID card.

An operator sets a status in the dashboard, or the back office runs ``kiosk-central status RECEIPT STATUS``.
The status is stored first (``application_status``, revision c0007) and audited; then one signed
``app_status`` command (target ``{"site": S}``) is published to every kiosk the registry lists for that
site. A kiosk that was offline missed it (kiosks connect with a clean session): ``resend_site`` sends a
site's statuses again (``kiosk-central status --resend SITE``). A push that fails leaves the status stored
with ``push_error`` set; nothing is lost.

Lookup tags. A kiosk finds "this resident's applications" by ``lookup_tag`` = HMAC-SHA256(site lookup key,
normalised ID number). The site lookup key is derived here with HKDF-SHA256 from the central's sealing
private key (salt ``kiosk lookup key v1``, info ``site:{site}``), so the central needs no new secret and
every site has its own key. It reaches a kiosk inside its enrolment token (which already carries the
kiosk's broker secret and is handled as a secret) and is kept in ``{kiosk home}/secrets/lookup_key`` (0600,
folder 0700). Threat: ID numbers have low entropy (region, birth date, sequence, check digit: about 10^11
candidates, far fewer for a known district and age range), so whoever holds a site key and the tags can
find the numbers behind them by trying. The tags cross the broker in signed, not sealed, commands; the key
never does. A stolen kiosk's key exposes its own site's tags only; rotating means a new sealing key.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from central import daily_counts
from central.commands import PublishError, build_command, fleet_device_ids, publish
from central.field_encryption import FieldKeyError
from central.fleet_models import AuditEntry
from central.keys import LOOKUP_KEY_SALT, CentralKeys, site_lookup_key  # noqa: F401 - re-exported
from central.models import ApplicationStatus, Device, Submission
from central.store import CentralStore
from sync.protocol.commands import (
    APP_STATUS,
    MAX_APP_STATUS_ENTRIES,
    app_status_code,
    lookup_tag,
    target_site,
)
from sync.runtime.mqtt import TlsFiles

log = logging.getLogger("kiosk.central.status")

PUSH_TTL_S = 3600.0


class StatusError(ValueError):
    """A status that cannot be set (unknown receipt, unknown status, kiosk without a site)."""


def submission_tag(keys: CentralKeys, site: str, fields: list[Any]) -> str:
    """The lookup tag of a submission's first ID-number field ("" if it has none, or none that is valid)."""
    for f in fields:
        if isinstance(f, dict) and f.get("kind") == "id_number" and isinstance(f.get("value"), str):
            try:
                return lookup_tag(site_lookup_key(keys, site), f["value"])
            except ValueError:
                continue
    return ""


@dataclass
class StatusResult:
    receipt_no: str
    status: str
    site: str
    updated_at: float
    tagged: bool  # whether the application carried an ID number (lookup by card possible)
    command_id: str | None = None
    devices: list[str] | None = None
    push_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"receipt_no": self.receipt_no, "status": self.status, "site": self.site,
                "updated_at": self.updated_at, "tagged": self.tagged, "command_id": self.command_id,
                "devices": list(self.devices or []), "pushed": self.command_id is not None and bool(self.devices),
                "push_error": self.push_error}


def _entry(row: ApplicationStatus) -> dict[str, Any]:
    entry: dict[str, Any] = {"receipt_no": row.receipt_no, "service_code": row.service_code, "status": row.status,
                             "updated_at": row.updated_at, "lookup_tag": row.lookup_tag}
    try:  # the console's decision (central.applications.workflow): its sentence in Chinese and English
        text = json.loads(row.detail_json or "{}").get("text")
    except (ValueError, AttributeError):
        text = None
    if isinstance(text, dict) and text.get("zh"):
        entry["detail"] = {"zh": str(text["zh"]), "en": str(text.get("en", ""))}
    return entry


def set_status(store: CentralStore, keys: CentralKeys, receipt_no: str, status: str, *, actor: str,
               broker_url: str | None, now: float | None = None, tls: TlsFiles | None = None,
               forced: str = "") -> StatusResult:
    """Store (and audit) the status of the application with ``receipt_no``, then push it to its site.

    This sets any status, outside the console's state machine (``central.applications.workflow``): the
    back office's override. ``forced`` is why (``kiosk-central status --force --note``), audited with the status
    it replaced.

    Raises :class:`StatusError` for an unknown receipt or status, or a kiosk without a site; a failed
    push is not an error (the status stays stored with ``push_error``; send it again with ``resend_site``)."""
    code = app_status_code(status) if status else ""
    if not code:
        raise StatusError("give a status")
    receipt = receipt_no.strip().upper()
    now = round(time.time() if now is None else now, 3)
    with store.session() as s, s.begin():
        sub = s.scalars(select(Submission).where(Submission.receipt_no == receipt)
                        .order_by(Submission.received_at).limit(1)).first()
        if sub is None:
            raise StatusError("no application with that receipt number")
        device = s.get(Device, sub.device_id)
        site = device.site if device is not None else ""
        if not site:
            raise StatusError("the kiosk that took this application has no site: nowhere to push it")
        with daily_counts.moving(s, Submission.id == sub.id):  # the statistics' counts, same transaction
            row = s.get(ApplicationStatus, sub.id)
            before = sub.app_status or "received"
            if row is None:
                try:
                    fields = store.fields.submission_fields(sub)
                except FieldKeyError as exc:
                    raise StatusError(f"the application's ID number cannot be read for its lookup tag: {exc}") from None
                row = ApplicationStatus(submission_id=sub.id, receipt_no=receipt, service_code=sub.service_code,
                                        device_id=sub.device_id, site=site,
                                        # from the decrypted fields: the status is audited below
                                        lookup_tag=submission_tag(keys, site, fields))
                s.add(row)
            row.status, row.updated_at, row.updated_by = code, now, actor[:64]
            row.pushed_at, row.command_id, row.push_error = None, None, None
            row.detail_json = None  # the back office's status carries no console decision
            sub.app_status = code  # the console's list filters on the submission's own row (revision c0012)
            if code in ("completed", "returned", "rejected", "processing", "ready"):
                sub.due_at = None
        s.add(AuditEntry(at=now, actor=actor[:64], action="app_status", target=receipt,
                         detail=json.dumps({"status": code, "from": before, "site": site, "submission_id": sub.id,
                                            **({"forced": forced[:200]} if forced else {})}, ensure_ascii=False)))
        entry, result = _entry(row), StatusResult(receipt, code, site, now, bool(row.lookup_tag))
    if broker_url is not None:
        command_id, devices, error = _push(store, keys, broker_url, site, [entry], tls)
        result.command_id, result.devices, result.push_error = command_id, devices, error
        _mark_pushed(store, [entry["receipt_no"]], command_id if devices else None, error)
    log.info("application %s set to %s by %s (site has %d kiosk(s) reached)", receipt, code, actor,
             len(result.devices or []))
    return result


def _push(store: CentralStore, keys: CentralKeys, broker_url: str, site: str,
          entries: list[dict[str, Any]], tls: TlsFiles | None = None) -> tuple[str | None, list[str], str | None]:
    devices = fleet_device_ids(store, site)
    if not devices:
        return None, [], "no kiosk of this site is registered"
    command, payload = build_command(keys, APP_STATUS, {"entries": entries}, target_site(site), ttl_s=PUSH_TTL_S)
    try:
        reached = publish(broker_url, devices, payload, tls=tls)
    except PublishError as exc:
        log.warning("app_status for site not pushed: %s", exc)
        return command.id, [], str(exc)[:200]
    return command.id, reached, None if reached else "the broker accepted it for no kiosk"


def _mark_pushed(store: CentralStore, receipts: Sequence[str], command_id: str | None, error: str | None) -> None:
    with store.session() as s, s.begin():
        for row in s.scalars(select(ApplicationStatus).where(ApplicationStatus.receipt_no.in_(list(receipts)))):
            row.pushed_at = time.time() if command_id else None
            row.command_id = command_id
            row.push_error = error


def resend_site(store: CentralStore, keys: CentralKeys, broker_url: str, site: str,
                since: float = 0.0, *, tls: TlsFiles | None = None) -> dict[str, Any]:
    """Push every status of ``site`` updated after ``since`` again, in commands of up to 200 entries."""
    with store.session() as s:
        rows = s.scalars(select(ApplicationStatus).where(ApplicationStatus.site == site,
                                                         ApplicationStatus.updated_at >= since)
                         .order_by(ApplicationStatus.updated_at)).all()
        entries = [_entry(r) for r in rows]
    commands: list[str] = []
    devices: set[str] = set()
    errors: list[str] = []
    for i in range(0, len(entries), MAX_APP_STATUS_ENTRIES):
        batch = entries[i:i + MAX_APP_STATUS_ENTRIES]
        command_id, reached, error = _push(store, keys, broker_url, site, batch, tls)
        _mark_pushed(store, [e["receipt_no"] for e in batch], command_id if reached else None, error)
        if command_id and reached:
            commands.append(command_id)
        devices.update(reached)
        if error:
            errors.append(error)
    return {"site": site, "entries": len(entries), "commands": commands, "devices": sorted(devices),
            "errors": errors}


CATCH_UP_MARGIN_S = 3600.0  # statuses set this long before the kiosk was last heard from are sent too
CATCH_UP_MAX_AGE_S = 90 * 86400.0  # what a kiosk keeps (sync.daemon.app_status): nothing older is sent


def catch_up(store: CentralStore, keys: CentralKeys, site: str, last_seen: float,
             now: float | None = None) -> list[bytes]:
    """The signed ``app_status`` commands a kiosk of ``site`` that has just come back online may have missed.

    Kiosks connect with a clean session, so pushes made while one was offline never reached it. The ingest
    worker calls this when a kiosk's status goes online with a new connection counter and publishes the
    result on that kiosk's ``down/cmd`` only (each command targets the site, as a normal push does). The
    window: statuses updated since ``CATCH_UP_MARGIN_S`` before the central last heard from the kiosk
    (``last_seen``), or the last 90 days for a kiosk never heard from; in commands of up to 200 entries."""
    if not site:
        return []
    now = time.time() if now is None else now
    since = now - CATCH_UP_MAX_AGE_S if last_seen <= 0 else max(now - CATCH_UP_MAX_AGE_S,
                                                                   last_seen - CATCH_UP_MARGIN_S)
    with store.session() as s:
        rows = s.scalars(select(ApplicationStatus).where(ApplicationStatus.site == site,
                                                         ApplicationStatus.updated_at >= since)
                         .order_by(ApplicationStatus.updated_at)).all()
        entries = [_entry(r) for r in rows]
    return [build_command(keys, APP_STATUS, {"entries": entries[i:i + MAX_APP_STATUS_ENTRIES]}, target_site(site),
                          ttl_s=PUSH_TTL_S, now=now)[1]
            for i in range(0, len(entries), MAX_APP_STATUS_ENTRIES)]


def list_statuses(store: CentralStore, limit: int = 500) -> dict[str, dict[str, Any]]:
    """The current status of each application, by submission id (for the dashboard's listing)."""
    with store.session() as s:
        rows = s.scalars(select(ApplicationStatus).order_by(ApplicationStatus.updated_at.desc()).limit(limit)).all()
        return {r.submission_id: {"receipt_no": r.receipt_no, "status": r.status, "updated_at": r.updated_at,
                                  "updated_by": r.updated_by, "pushed_at": r.pushed_at, "push_error": r.push_error,
                                  "site": r.site, "tagged": bool(r.lookup_tag)} for r in rows}


__all__ = ["StatusError", "StatusResult", "catch_up", "list_statuses", "resend_site", "set_status", "site_lookup_key",
           "submission_tag"]
