"""The central's tables (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Submission(Base):
    __tablename__ = "submissions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the kiosk's message id: dedupe key
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    service_code: Mapped[str] = mapped_column(String(64), index=True)
    receipt_no: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[float] = mapped_column(Float)  # on the kiosk
    received_at: Mapped[float] = mapped_column(Float, index=True)  # committed here
    # The fields (personal data) are stored encrypted (central.field_encryption, revision c0011):
    # ``fields_sealed`` under data key ``fields_key``; listings read ``fields_masked`` only. ``fields_json``
    # holds the fields in clear only for a row stored before c0011 that is not encrypted yet.
    fields_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    fields_key: Mapped[str | None] = mapped_column(String(32), nullable=True)
    fields_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    fields_masked: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON: id, label, kind, masked value
    attachments_expected: Mapped[int] = mapped_column(Integer, default=0)
    complete: Mapped[bool] = mapped_column(Boolean, default=True)  # every attachment chunk stored
    digest: Mapped[str | None] = mapped_column(String(64), nullable=True)  # of the signed content (c0006)
    # The console's state of the application (mirrors application_status.status) and when its current stage
    # falls due (revision c0012; central.applications).
    app_status: Mapped[str] = mapped_column(String(16), default="received", server_default="received")
    due_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class AttachmentChunk(Base):
    """One stored chunk of a sealed attachment, until its file is complete and reassembled."""

    __tablename__ = "attachment_chunks"

    submission_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    file: Mapped[int] = mapped_column(Integer, primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[str] = mapped_column(String(64))
    chunks: Mapped[int] = mapped_column(Integer)
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class AttachmentFile(Base):
    """A reassembled attachment, kept sealed at rest (opened only to view it)."""

    __tablename__ = "attachments"

    submission_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    file: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class Event(Base):
    """Ratings, complaints, command results and alarms from the kiosks."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[float] = mapped_column(Float)
    received_at: Mapped[float] = mapped_column(Float, index=True)
    meta_json: Mapped[str] = mapped_column(Text)
    private_json: Mapped[str | None] = mapped_column(Text, nullable=True)  # in clear: only rows before c0011
    private_key: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the opened sealed part, if any,
    private_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # ... encrypted (c0011)
    digest: Mapped[str | None] = mapped_column(String(64), nullable=True)  # of the signed content (c0006)


class Device(Base):
    """The fleet registry's view of one kiosk (grown by the central platform issue)."""

    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[str] = mapped_column(String(16), default="unknown")  # online/offline from up/status
    conn: Mapped[int] = mapped_column(BigInteger, default=0)  # connection counter of that status
    status_at: Mapped[float] = mapped_column(Float, default=0.0)
    last_seen: Mapped[float] = mapped_column(Float, default=0.0)
    version: Mapped[str] = mapped_column(String(32), default="")
    telemetry_json: Mapped[str] = mapped_column(Text, default="{}")


class TelemetrySample(Base):
    __tablename__ = "telemetry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[float] = mapped_column(Float, index=True)
    data_json: Mapped[str] = mapped_column(Text)


class EnrolmentToken(Base):
    """A one-time, expiring enrolment token the central issued for one new kiosk."""

    __tablename__ = "enrolment_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), unique=True)
    site: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))  # the device's broker secret, hashed
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # an admin withdrew it unused (c0013)


class DeviceKey(Base):
    """The public key a kiosk generated at enrolment (device signatures build on it)."""

    __tablename__ = "device_keys"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))  # base64 Ed25519
    enrolled_at: Mapped[float] = mapped_column(Float)
    token_id: Mapped[str] = mapped_column(String(64))


class ApplicationStatus(Base):
    """The back office's status of one application, pushed down to the kiosks of its site (revision c0007).

    ``lookup_tag`` is HMAC-SHA256(site lookup key, normalised ID number) ("" without an ID number): the
    kiosks list a resident's applications by it without ever holding the number."""

    __tablename__ = "application_status"

    submission_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    receipt_no: Mapped[str] = mapped_column(String(32), index=True)
    service_code: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[float] = mapped_column(Float, index=True)
    updated_by: Mapped[str] = mapped_column(String(64))  # an operator, or "cli" for the back office
    lookup_tag: Mapped[str] = mapped_column(String(64))
    pushed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    command_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    push_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    detail_json: Mapped[str | None] = mapped_column(Text, nullable=True)  # the decision's detail (c0012)


class DeviceCertificate(Base):
    """A client certificate the fleet CA signed for a kiosk (issue 9): what the CRL is made of."""

    __tablename__ = "device_certificates"

    serial: Mapped[str] = mapped_column(String(40), primary_key=True)  # hex
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    not_before: Mapped[float] = mapped_column(Float)
    not_after: Mapped[float] = mapped_column(Float)
    issued_at: Mapped[float] = mapped_column(Float)
    public_key_sha256: Mapped[str] = mapped_column(String(64))  # of the SPKI: a repeated request gets the same cert
    token_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # set for the enrolment certificate
    cert_pem: Mapped[str] = mapped_column(Text)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class DeviceRevocation(Base):
    """A kiosk an operator cut off: the central refuses its messages and signs nothing more for it."""

    __tablename__ = "device_revocations"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    revoked_at: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(200), default="")


class DeviceSequence(Base):
    """Which of a kiosk's sequence numbers the central has accounted for (issue 9, revision c0006).

    Everything up to ``contiguous`` is accounted for (stored, refused, or reported acked/gone by the kiosk);
    ``ranges_json`` lists the ``[lo, hi]`` ranges seen beyond it. A gap that outlives the timeout raises
    the ``seq_gap`` alarm and a resend request (``resend_at``); it clears when the gap closes."""

    __tablename__ = "device_sequences"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    contiguous: Mapped[int] = mapped_column(BigInteger, default=0)
    ranges_json: Mapped[str] = mapped_column(Text, default="[]")
    gap_since: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)
    resend_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    alarmed: Mapped[bool] = mapped_column(Boolean, default=False)
    lost: Mapped[int] = mapped_column(BigInteger, default=0)  # numbers the kiosk reported gone
    reused: Mapped[int] = mapped_column(BigInteger, default=0)  # new ids arriving with accounted numbers
    updated_at: Mapped[float] = mapped_column(Float, default=0.0)


class DataKey(Base):
    """A data key of ``central.field_encryption``, only ever stored wrapped by a master key (revision c0011).

    ``master_key_id`` names the master key that wraps it (a hash of that key, never the key); rotation wraps it
    again with the new master key and sets ``rewrapped_at``; the records it encrypts do not change."""

    __tablename__ = "data_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    master_key_id: Mapped[str] = mapped_column(String(16), index=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Float)
    period: Mapped[str] = mapped_column(String(16))  # the UTC day it was made for
    rewrapped_at: Mapped[float | None] = mapped_column(Float, nullable=True)
