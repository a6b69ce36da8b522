"""The dashboard's routes, one module per area, each with a module-level ``router = APIRouter()``.

An area's module holds its HTML pages, its JSON under ``/api/`` and its live stream under ``/sse/``, and the
helpers they share. ``create_app`` includes every router listed in ``ROUTERS``: a new area is a new module
here plus one line below (see docs/ARCHITECTURE.md, "Adding a dashboard page").
"""

from __future__ import annotations

from fastapi import APIRouter

from central.web.routes import (
    alarms,
    alerting,
    applications,
    audit,
    devices,
    enrolment,
    events,
    fleet,
    ota,
    ratings,
    reports,
    rollouts,
    session,
    submissions,
    system,
    tickets,
)

ROUTERS: tuple[APIRouter, ...] = (
    system.router,
    session.router,
    fleet.router,
    devices.router,
    alarms.router,
    alerting.router,
    events.router,
    submissions.router,
    applications.router,
    ratings.router,
    tickets.router,
    reports.router,
    enrolment.router,
    rollouts.router,
    audit.router,
    ota.router,  # kiosks fetch staged releases and catalogues (no login)
)
