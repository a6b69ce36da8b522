"""The operators' dashboard and JSON API: ``create_app`` builds it, ``serve`` runs it on a thread.

Imported lazily so ``kiosk-central`` commands that need no web framework do not load one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from central.web.app import create_app
    from central.web.server import DashboardServer, parse_http, serve

__all__ = ["DashboardServer", "create_app", "parse_http", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from central.web.app import create_app

        return create_app
    if name in ("serve", "DashboardServer", "parse_http"):
        from central.web import server

        return getattr(server, name)
    raise AttributeError(name)
