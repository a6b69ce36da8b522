"""Enrolment tokens: what the central issues for one new kiosk, as text and as a QR code.

``KIOSKPROV1:`` + base64url(JSON ``{"t": body, "sig": base64}``), where ``sig`` is Ed25519 by the
central's command key over the canonical JSON of ``body`` (sorted keys, no spaces, UTF-8). The body
carries what a kiosk needs: token id, device id, site, broker URL, the device's broker secret, the
central's sealing and command-verify public keys, issue and expiry times.

A fresh kiosk has no trust anchor of its own: the signature (checked with the key inside the token)
catches a damaged or edited token, and a key pinned at install (``/etc/kiosk/central-command.pub`` or
``{home}/central-command.pub``) makes a token from any other central fail. What makes a token good is
the central: it accepts each token once, before it expires, for the device it names.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.protocol.broker_url import BrokerUrlError, parse_broker_url
from sync.protocol.topics import TopicError, check_device_id

PREFIX = "KIOSKPROV1:"
MAX_TOKEN_CHARS = 4096


class EnrolmentError(ValueError):
    """A token that cannot be used; ``code`` for machines, ``message`` (Chinese) for the technician."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class TokenBody:
    tid: str
    device_id: str
    site: str
    broker_url: str
    secret: str
    seal_key: str  # base64 X25519 public key of the central
    command_key: str  # base64 Ed25519 public key of the central
    iat: float
    exp: float


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_token(command_private_raw: bytes, body: TokenBody) -> str:
    payload = asdict(body)
    sig = Ed25519PrivateKey.from_private_bytes(command_private_raw).sign(_canonical(payload))
    wrapped = _canonical({"t": payload, "sig": base64.b64encode(sig).decode("ascii")})
    return PREFIX + _b64url(wrapped)


def read_token(text: str, *, now: float | None = None, pinned_command_key: bytes | None = None) -> TokenBody:
    """Check a token's form, signature and expiry (not whether the central still accepts it)."""
    text = text.strip()
    if not text.startswith(PREFIX) or len(text) > MAX_TOKEN_CHARS:
        raise EnrolmentError("malformed", "这不是本系统的开通码")
    try:
        raw = base64.urlsafe_b64decode(text[len(PREFIX):] + "=" * (-len(text) % 4))
        wrapped = json.loads(raw)
        payload = wrapped["t"]
        sig = base64.b64decode(wrapped["sig"], validate=True)
        body = TokenBody(**{k: payload[k] for k in TokenBody.__dataclass_fields__})
        for name in ("tid", "device_id", "site", "broker_url", "secret", "seal_key", "command_key"):
            if not isinstance(getattr(body, name), str):
                raise TypeError(name)
        if set(payload) != set(TokenBody.__dataclass_fields__):
            raise KeyError("fields")
        command_key = base64.b64decode(body.command_key, validate=True)
        seal_key = base64.b64decode(body.seal_key, validate=True)
        float(body.iat), float(body.exp)
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise EnrolmentError("malformed", "开通码内容不完整或已损坏，请重新扫描") from exc
    if len(command_key) != 32 or len(seal_key) != 32:
        raise EnrolmentError("malformed", "开通码内容不完整或已损坏，请重新扫描")
    if pinned_command_key is not None and command_key != pinned_command_key:
        raise EnrolmentError("wrong_central", "开通码不是本机所属平台签发的")
    try:
        Ed25519PublicKey.from_public_bytes(command_key).verify(sig, _canonical(payload))
    except (InvalidSignature, ValueError) as exc:
        raise EnrolmentError("bad_signature", "开通码签名无效（可能被修改），请向平台重新申请") from exc
    try:
        check_device_id(body.device_id)
        parse_broker_url(body.broker_url)
    except (TopicError, BrokerUrlError) as exc:
        raise EnrolmentError("malformed", "开通码内容不完整或已损坏，请重新扫描") from exc
    now = time.time() if now is None else now
    if now > body.exp:
        raise EnrolmentError("expired", "开通码已过期，请向平台重新申请")
    if now + 300 < body.iat:
        raise EnrolmentError("not_yet_valid", "开通码尚未生效，请检查本机时间")
    return body
