"""The central's tables (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Submission(Base):
    __tablename__ = "submissions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the kiosk's message id: dedupe key
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    service_code: Mapped[str] = mapped_column(String(64), index=True)
    receipt_no: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[float] = mapped_column(Float)  # on the kiosk
    received_at: Mapped[float] = mapped_column(Float, index=True)  # committed here
    fields_json: Mapped[str] = mapped_column(Text)  # the opened payload's fields (personal data)
