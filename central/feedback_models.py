"""Tables of 好差评 and its follow-up (issue 19): each rating as a row of its own, linked to its application by
receipt number, the rectification tickets (差评整改) that bad ratings and complaints open, and the console's
settings (the ticket deadline, the public-holiday calendar).

Kept beside ``central.models`` (same ``Base``) so the central's Alembic history stays one chain; revision
``c0012`` creates them.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from central.models import Base


class Rating(Base):
    """One 好差评 rating, copied out of its ``rating`` event at ingest for the statistics (no personal data:
    the resident's reasons stay sealed in the event)."""

    __tablename__ = "ratings"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(128))
    service_code: Mapped[str] = mapped_column(String(64))
    receipt_no: Mapped[str] = mapped_column(String(32), index=True)  # the application rated ("" if none)
    level: Mapped[str] = mapped_column(String(24))  # very_satisfied ... very_dissatisfied
    score: Mapped[int] = mapped_column(Integer)  # 5 (very satisfied) ... 1
    negative: Mapped[bool] = mapped_column(Boolean)
    rated_at: Mapped[float] = mapped_column(Float)  # on the kiosk
    received_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        Index("ix_ratings_rated_site", "rated_at", "site"),
        Index("ix_ratings_rated_service", "rated_at", "service_code"),
    )


class Ticket(Base):
    """A rectification ticket (差评整改): opened by a 不满意/非常不满意 rating or a complaint, closed once the
    response is written and the resident was contacted. Free text here is the operators' own words."""

    __tablename__ = "rectification_tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))  # rating / complaint (kiosk) / recorded (an operator)
    event_id: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)  # the kiosk's event
    channel: Mapped[str] = mapped_column(String(32))  # self_service_terminal / phone / counter / letter ...
    category: Mapped[str] = mapped_column(String(32))  # the rating level, or the complaint's kind
    receipt_no: Mapped[str] = mapped_column(String(32), default="", index=True)
    device_id: Mapped[str] = mapped_column(String(64), default="")
    site: Mapped[str] = mapped_column(String(128), default="", index=True)
    service_code: Mapped[str] = mapped_column(String(64), default="")
    summary: Mapped[str] = mapped_column(Text, default="")  # an operator's account of a recorded complaint
    state: Mapped[str] = mapped_column(String(16), index=True)  # open / responded / closed
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    opened_at: Mapped[float] = mapped_column(Float, index=True)
    deadline_at: Mapped[float] = mapped_column(Float, index=True)
    response: Mapped[str] = mapped_column(Text, default="")
    responded_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    responded_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    contacted_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    contact_method: Mapped[str | None] = mapped_column(String(16), nullable=True)  # phone / visit / sms / letter
    contact_note: Mapped[str] = mapped_column(Text, default="")
    contacted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    closed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by: Mapped[str] = mapped_column(String(64), default="ingest")


class ConsoleSetting(Base):
    """One setting an admin changes on the dashboard (JSON value), e.g. the ticket deadline in working days."""

    __tablename__ = "console_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[float] = mapped_column(Float)
    updated_by: Mapped[str] = mapped_column(String(64))
