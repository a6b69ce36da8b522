"""The fleet overview's breakdowns: kiosks by state per site and per district, the district each site reports
to (set by an admin), and the residents' open calls for staff (``staff_call`` alarms), newest first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.alerting_models import SiteDistrict

STATES = ("online", "late", "offline")


def districts(s: Session) -> dict[str, str]:
    return {d.site: d.district for d in s.scalars(select(SiteDistrict))}


def set_district(s: Session, site: str, district: str, *, actor: str, now: float) -> None:
    """File ``site`` under ``district`` (an empty district removes the site's entry); ValueError if too long."""
    site, district = site.strip(), " ".join(district.split())
    if not site or len(site) > 128 or len(district) > 128:
        raise ValueError("a site and a district are at most 128 characters")
    if not district:
        row = s.get(SiteDistrict, site)
        if row is not None:
            s.delete(row)
        return
    s.merge(SiteDistrict(site=site, district=district, updated_at=now, updated_by=actor[:64]))


def _count(rows: Iterable[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        name = r.get(key) or ""
        g = groups.setdefault(name, {"name": name, **dict.fromkeys(STATES, 0), "total": 0, "alarms": 0})
        g[r["state"]] = g.get(r["state"], 0) + 1
        g["total"] += 1
        g["alarms"] += len(r.get("alarms") or [])
        if key == "site":
            g["district"] = r.get("district") or ""
    return sorted(groups.values(), key=lambda g: (g["name"] == "", g["name"]))


def breakdown(rows: list[dict[str, Any]], site_districts: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Sets each row's ``district`` and counts the rows by state per site and per district."""
    for r in rows:
        r["district"] = site_districts.get(r["site"], "")
    return {"by_site": _count(rows, "site"), "by_district": _count(rows, "district")}


def staff_calls(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open ``staff_call`` alarms with their kiosk's site, newest first (detail: the screen, item, language)."""
    calls = [{"alarm_id": a["id"], "device_id": r["device_id"], "site": r["site"], "raised_at": a["raised_at"],
              "detail": a["detail"], "acked": a.get("acked", False)}
             for r in rows for a in r.get("alarms") or [] if a["code"] == "staff_call"]
    return sorted(calls, key=lambda c: -c["raised_at"])
