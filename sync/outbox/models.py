"""Outbox tables. Rows are never deleted by delivery: once acked, the sealed body is purged and the
receipt facts stay for the resident's lookup and for the technician's counts."""

from __future__ import annotations

from sqlalchemy import Float, Index, Integer, LargeBinary, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class State:
    PENDING = "pending"
    SENT = "sent"
    ACKED = "acked"
    REJECTED = "rejected"
    ALL = (PENDING, SENT, ACKED, REJECTED)


class Priority:
    SUBMISSION = 0  # residents' applications and their attachments: never evicted
    EVENT = 1  # ratings, complaints, command results, alarms


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # UUIDv7, the idempotency key
    seq: Mapped[int] = mapped_column(Integer, unique=True)  # per device, survives restarts
    kind: Mapped[str] = mapped_column(String(32))  # uplink topic kind: submission, event, ...
    priority: Mapped[int] = mapped_column(Integer, default=Priority.SUBMISSION)
    state: Mapped[str] = mapped_column(String(16), default=State.PENDING)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sent_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    acked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    service_code: Mapped[str] = mapped_column(String(64))
    receipt_no: Mapped[str] = mapped_column(String(32), index=True)
    body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # envelope; sealed payload inside
    parent_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)  # chunk -> submission

    __table_args__ = (Index("ix_outbox_state_priority_seq", "state", "priority", "seq"),
                      Index("ix_outbox_undelivered", "state", "parent_id", "priority"))


class TelemetryQueued(Base):
    """Heartbeats waiting for the network: dropped oldest-first past a cap, and after their TTL."""

    __tablename__ = "telemetry_queue"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    body: Mapped[bytes] = mapped_column(LargeBinary)


class DriverHealthRow(Base):
    """The drivers' health as the UI process last recorded it (the daemon reports it in telemetry)."""

    __tablename__ = "driver_health"

    driver: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_success: Mapped[float | None] = mapped_column(Float, nullable=True)
    changed_at: Mapped[float] = mapped_column(Float)


class SeenCommand(Base):
    """Ids of commands already executed, kept until they expire, so a replay is refused."""

    __tablename__ = "seen_commands"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)


class Counter(Base):
    """Monotonic counters (the message sequence, the connection counter)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class SyncState(Base):
    """What the daemon tells the UI and ``kiosk status``: connection, last delivery, liveness."""

    __tablename__ = "sync_state"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
