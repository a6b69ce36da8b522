"""Tables of the fleet registry and the operators' dashboard: alarms, operators, the audit log.

Kept beside ``central.models`` (same ``Base``) so the central's Alembic history stays one chain;
revision ``c0003`` creates them.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from central.models import Base


class Alarm(Base):
    """One alarm of one device, open while ``cleared_at`` is NULL (at most one open per device and code)."""

    __tablename__ = "alarms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16), default="warning")  # info / warning / critical
    detail: Mapped[str] = mapped_column(String(256), default="")  # never personal data
    source: Mapped[str] = mapped_column(String(16), default="central")  # central (evaluated) / kiosk (event)
    source_event: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    raised_at: Mapped[float] = mapped_column(Float, index=True)
    cleared_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    cleared_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # "central", "kiosk" or an operator
    # An operator saw it and says what is being done (c0014); the alarm stays open until its condition passes.
    acked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    acked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ack_note: Mapped[str | None] = mapped_column(String(500), nullable=True)  # the operator's words, no personal data
    notified_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # its notifications were queued

    __table_args__ = (
        # A second evaluator racing the first cannot open the same alarm twice.
        Index("uq_alarms_open", "device_id", "code", unique=True,
              sqlite_where=cleared_at.is_(None), postgresql_where=cleared_at.is_(None)),
    )


class Operator(Base):
    __tablename__ = "operators"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))  # viewer / operator / admin
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)


class AuditEntry(Base):
    """Who did what, when, to which target (logins, commands, full views of submissions, alarm clears)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[str] = mapped_column(Text, default="")  # JSON; ids and parameters, never personal data


class DashboardSession(Base):
    """One login to the dashboard (revision ``c0010``). The browser holds the session id; only its SHA-256 is
    kept here, so a copy of this table opens nothing. Ended by logout, a password or role change, disabling
    the account, or a timeout; ended sessions stay ended."""

    __tablename__ = "dashboard_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
