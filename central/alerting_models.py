"""Tables of the operators' alerting (issue 19): the rules an admin sets, where notifications go, the
notifications queued for delivery (with their retries), and the district each site belongs to.

Kept beside ``central.models`` (same ``Base``) so the central's Alembic history stays one chain; revision
``c0014`` creates them (and adds the acknowledgement columns to ``alarms``).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from central.models import Base


class AlarmRule(Base):
    """An admin's setting for one alarm code (``central.alarm_rules.CATALOGUE`` lists the codes and their
    defaults; a code without a row uses its defaults)."""

    __tablename__ = "alarm_rules"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)  # in the code's unit (min, MiB, ...)
    notify: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[float] = mapped_column(Float)
    updated_by: Mapped[str] = mapped_column(String(64))


class NotifyChannel(Base):
    """Where alarm notifications go: an e-mail address (sent through the central's SMTP relay) or a webhook
    URL (an HTTP POST of JSON)."""

    __tablename__ = "notify_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # email / webhook
    target: Mapped[str] = mapped_column(String(512))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(64))


class Notification(Base):
    """One alarm's notification to one channel: pending until sent, retried with backoff, failed when it
    gives up. The message is built from the alarm at sending time and holds no personal data."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alarm_id: Mapped[int] = mapped_column(Integer, index=True)
    channel_id: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending / sent / failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[float] = mapped_column(Float, index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float)
    sent_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class SiteDistrict(Base):
    """The district (区) a site (街道 office) reports to, set by an admin on the fleet overview."""

    __tablename__ = "site_districts"

    site: Mapped[str] = mapped_column(String(128), primary_key=True)
    district: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[float] = mapped_column(Float)
    updated_by: Mapped[str] = mapped_column(String(64))
