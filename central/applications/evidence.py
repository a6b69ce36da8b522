"""The evidence level of each material of an application (国办函〔2016〕108号), as the console shows it.

The kiosk records A (e-licence or ID chip, verified), C (photographed by the resident) or D (the resident's
declaration) in the sealed submission (``kiosk.journey.evidence``; the central's masked copy keeps the level).
B, checked by staff, is the central's: an operator who has seen the original at the counter marks the material
on the application's page. That mark is an audit entry (action ``material_checked``, target the receipt
number, detail the submission and material ids and the level it replaced): who checked what and when, kept as
the application's other decisions are, and never a change to what the kiosk sealed. The level shown is B once
a check is recorded, otherwise the kiosk's."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.field_encryption import EVIDENCE_LEVELS, listed_fields
from central.fleet_models import AuditEntry
from central.models import Submission
from central.store import CentralStore

ACTION = "material_checked"
PREFIX = "material_"


class CheckError(ValueError):
    """A check that cannot be recorded: ``key`` names the console's text."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _checks(s: Session, sub: Submission) -> dict[str, dict[str, Any]]:
    """Material id -> the staff check recorded for it (the first one)."""
    out: dict[str, dict[str, Any]] = {}
    for a in s.scalars(select(AuditEntry).where(AuditEntry.action == ACTION, AuditEntry.target == sub.receipt_no)
                       .order_by(AuditEntry.at, AuditEntry.id)):
        try:
            d = json.loads(a.detail or "{}")
        except ValueError:
            continue
        if isinstance(d, dict) and d.get("submission_id") == sub.id and isinstance(d.get("material"), str):
            out.setdefault(d["material"], {"by": a.actor, "at": a.at})
    return out


def materials(s: Session, sub: Submission) -> list[dict[str, Any]]:
    """Each material of the submission: id (the catalogue's), label, the level shown (``evidence``: A-D or ""),
    what the kiosk recorded (``kiosk_evidence``) and the staff check if any (``checked``: by, at)."""
    checks = _checks(s, sub)
    out = []
    for f in listed_fields(sub):
        if f.get("kind") != "material" or not str(f.get("id", "")).startswith(PREFIX):
            continue
        mid = str(f["id"])[len(PREFIX):]
        kiosk = f.get("evidence") if f.get("evidence") in EVIDENCE_LEVELS else ""
        check = checks.get(mid)
        out.append({"id": mid, "label": f.get("label") or mid, "evidence": "B" if check else kiosk,
                    "kiosk_evidence": kiosk, "checked": check})
    return out


def mark_checked(store: CentralStore, submission_id: str, material: str, *, actor: str,
                 now: float | None = None) -> tuple[str, str]:
    """Record that staff checked ``material`` of the application against its original (level B); the receipt
    number and the item's code. CheckError for an unknown application or material, or one already checked."""
    now = round(time.time() if now is None else now, 3)
    with store.session() as s, s.begin():
        sub = s.scalars(select(Submission).where(Submission.id == submission_id).with_for_update()).first()
        if sub is None:
            raise CheckError("app.err.unknown", "no such application")
        found = {m["id"]: m for m in materials(s, sub)}
        if material not in found:
            raise CheckError("evidence.err.unknown", "the application has no such material")
        if found[material]["checked"]:
            raise CheckError("evidence.err.already", "this material was checked already")
        s.add(AuditEntry(at=now, actor=actor[:64], action=ACTION, target=sub.receipt_no,
                         detail=json.dumps({"submission_id": sub.id, "material": material,
                                            "from": found[material]["kiosk_evidence"], "to": "B"})))
        return sub.receipt_no, sub.service_code


__all__ = ["ACTION", "CheckError", "mark_checked", "materials"]
