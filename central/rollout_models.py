"""Tables of staged OTA rollouts (issue 19): a release rolled out to a cohort of kiosks, and each kiosk's
part in it (sent, then succeeded or failed by its ``command_result``). Same ``Base`` as ``central.models``;
revision ``c0015`` creates them."""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central.models import Base


class Rollout(Base):
    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64))
    args_json: Mapped[str] = mapped_column(Text)  # the signed ``update`` command's arguments
    cohort: Mapped[str] = mapped_column(String(16))  # percent / sites
    percent: Mapped[float] = mapped_column(Float, default=100.0)
    sites_json: Mapped[str] = mapped_column(Text, default="[]")
    max_failure_rate: Mapped[float] = mapped_column(Float)  # halt when failed / finished passes this
    min_finished: Mapped[int] = mapped_column(Integer, default=3)  # ... once this many kiosks have finished
    wave: Mapped[int] = mapped_column(Integer, default=10)  # at most this many in flight at once
    state: Mapped[str] = mapped_column(String(16), index=True)  # running / halted / completed / cancelled
    reason: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[float] = mapped_column(Float)


class RolloutTarget(Base):
    __tablename__ = "rollout_targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rollout_id: Mapped[int] = mapped_column(Integer, index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # pending / sent / succeeded / failed
    command_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    sent_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    detail: Mapped[str] = mapped_column(String(256), default="")  # the kiosk's reason code, never personal data

    __table_args__ = (UniqueConstraint("rollout_id", "device_id", name="uq_rollout_targets_device"),)
