"""Typed parsing of the code payloads the kiosk understands.

No public specification exists for these payloads (see docs and REFERENCE: the 网证/CTID QR is
verified online only, e-licences follow GB/T 36901-36906 without a published QR layout), so the
kiosk defines the formats below. ``parse_payload`` returns one typed result or raises
:class:`PayloadError` (a ``ValueError``) whose message and ``reason`` never contain the payload.

1. E-licence reference (电子证照 "亮证"), URI form::

       ezz://licence?type=<TYPE>&id=<ID>&issuer=<ISSUER>&ts=<UNIX-SECONDS>

   ``TYPE``: 1-32 of ``[a-z0-9_-]`` (e.g. ``bizlic``, ``idcard``, ``hukou``); ``ID``: 1-64 of
   ``[A-Za-z0-9-]``; ``ISSUER``: 1-64 of ``[A-Za-z0-9_.-]``; ``ts``: decimal seconds since the epoch
   (2000-01-01 .. 2100-01-01). Parameters may come in any order; unknown ones are ignored;
   each known one exactly once.

   GB/T 36901-style JSON form (field names are the pinyin initials used by the standard's metadata)::

       {"zzlxdm": "<证照类型代码>", "zzbh": "<证照编号>", "bfjgdm": "<颁发机构代码>", "ts": <int>}

   with the same character rules (``zzlxdm`` maps to ``type``, ``zzbh`` to ``id``, ``bfjgdm`` to
   ``issuer``); ``ts`` optional. -> :class:`ELicenceRef`

   A code that carries its time (``ts``) is shown fresh from the resident's phone: once older than its
   validity window (:data:`VALIDITY_S`, 20 minutes as the national network identity credential's QR) it
   is a screenshot or a photo of an old code and is refused (:func:`freshness_problem`).

2. e-ID (网证/CTID) token: ``CTID:`` followed by a base64url body (no padding) of 32-2048
   characters. The kiosk does not interpret it; it is forwarded for online verification.
   -> :class:`EIdToken`

3. Receipt number, printed by the kiosk on its receipts::

       KR-<YYYYMMDD>-<DEVICE>-<SEQUENCE>-<CHECK>

   ``DEVICE``: 4 of ``[0-9A-Z]`` (the device's short id), ``SEQUENCE``: 6 digits, ``CHECK``: one of
   ``0-9X`` computed over the 18 characters date+device+sequence: each character's base-36 value
   times the weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 1, summed mod 11, mapped through
   ``1 0 X 9 8 7 6 5 4 3 2`` (the GB 11643 table). See :func:`receipt_check_char`.
   -> :class:`ReceiptNumber`

4. Provisioning token, issued by the central for enrolment: ``KIOSKPROV1:`` followed by a
   base64url body (padding optional) that decodes to 16-4096 bytes. Only the envelope is parsed
   here; the enrolment module verifies the signature inside. -> :class:`ProvisioningToken`
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from drivers.interfaces import DecodedCode

MAX_PAYLOAD = 4096 * 2  # characters; anything longer is not ours
VALIDITY_S = 20 * 60  # an e-licence QR's validity window: the national network identity credential's 20 minutes
CLOCK_SKEW_S = 5 * 60  # a phone's clock may run this far ahead of the kiosk's


class PayloadError(ValueError):
    """A payload the kiosk cannot use. ``reason`` is a short machine-readable kind; neither it
    nor the message ever contains the payload."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        self.reason = reason
        super().__init__(message or reason)


@dataclass(frozen=True)
class ELicenceRef:
    type: str
    id: str
    issuer: str
    ts: int | None
    form: str  # "uri" | "json"


@dataclass(frozen=True)
class EIdToken:
    token: str  # the whole payload (prefix included), forwarded as is

    def __repr__(self) -> str:  # tokens identify a person: keep them out of logs and tracebacks
        return f"EIdToken(<{len(self.token)} chars>)"


@dataclass(frozen=True)
class ReceiptNumber:
    date: dt.date
    device: str
    sequence: int
    check: str

    def __str__(self) -> str:
        return f"KR-{self.date:%Y%m%d}-{self.device}-{self.sequence:06d}-{self.check}"


@dataclass(frozen=True)
class ProvisioningToken:
    version: int
    body: bytes  # decoded envelope body; signature verified by the enrolment module

    def __repr__(self) -> str:
        return f"ProvisioningToken(version={self.version}, <{len(self.body)} bytes>)"


Payload = ELicenceRef | EIdToken | ReceiptNumber | ProvisioningToken

_TYPE_RE = re.compile(r"[a-z0-9_-]{1,32}")
_ID_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
_ISSUER_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_RECEIPT_RE = re.compile(r"KR-(\d{8})-([0-9A-Z]{4})-(\d{6})-([0-9X])")
_TS_MIN = 946_684_800  # 2000-01-01
_TS_MAX = 4_102_444_800  # 2100-01-01

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2, 1)
_CHECK = "10X98765432"

CTID_PREFIX = "CTID:"
PROV_PREFIX = "KIOSKPROV1:"
ELICENCE_PREFIX = "ezz://licence"


def receipt_check_char(body: str) -> str:
    """Check character for the 18 characters date+device+sequence of a receipt number."""
    if len(body) != 18 or not body.isascii() or not body.isalnum():
        raise PayloadError("receipt-bad-body", "receipt body must be 18 ASCII letters/digits")
    total = sum(int(c, 36) * w for c, w in zip(body.upper(), _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def make_receipt_number(date: dt.date, device: str, sequence: int) -> str:
    """Format a receipt number with its check character."""
    if not re.fullmatch(r"[0-9A-Z]{4}", device) or not 0 <= sequence <= 999_999:
        raise ValueError("device must be 4 of [0-9A-Z] and sequence 0..999999")
    body = f"{date:%Y%m%d}{device}{sequence:06d}"
    return f"KR-{date:%Y%m%d}-{device}-{sequence:06d}-{receipt_check_char(body)}"


def _ts(value: Any) -> int:
    if isinstance(value, bool):
        raise PayloadError("elicence-bad-ts")
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= 12):
            raise PayloadError("elicence-bad-ts")
        value = int(value)
    if not isinstance(value, int) or not _TS_MIN <= value <= _TS_MAX:
        raise PayloadError("elicence-bad-ts")
    return value


def _field(value: Any, pattern: re.Pattern[str], reason: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise PayloadError(reason)
    return value


def _parse_elicence_uri(text: str) -> ELicenceRef:
    try:
        parts = urlsplit(text)
    except ValueError:
        raise PayloadError("elicence-bad-uri") from None
    if parts.scheme != "ezz" or parts.netloc != "licence" or parts.path not in ("", "/") or parts.fragment:
        raise PayloadError("elicence-bad-uri")
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True, max_num_fields=16)
    except ValueError:
        raise PayloadError("elicence-bad-query") from None
    params: dict[str, str] = {}
    for k, v in pairs:
        if k in ("type", "id", "issuer", "ts"):
            if k in params:
                raise PayloadError("elicence-duplicate-field")
            params[k] = v
    for k in ("type", "id", "issuer", "ts"):
        if k not in params:
            raise PayloadError("elicence-missing-field", f"e-licence reference lacks '{k}'")
    return ELicenceRef(
        type=_field(params["type"], _TYPE_RE, "elicence-bad-type"),
        id=_field(params["id"], _ID_RE, "elicence-bad-id"),
        issuer=_field(params["issuer"], _ISSUER_RE, "elicence-bad-issuer"),
        ts=_ts(params["ts"]),
        form="uri",
    )


def _parse_elicence_json(text: str) -> ELicenceRef:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise PayloadError("json-invalid") from None
    if not isinstance(obj, dict):
        raise PayloadError("json-not-object")
    for k in ("zzlxdm", "zzbh", "bfjgdm"):
        if k not in obj:
            raise PayloadError("elicence-missing-field", f"e-licence JSON lacks '{k}'")
    return ELicenceRef(
        type=_field(obj["zzlxdm"], _TYPE_RE, "elicence-bad-type"),
        id=_field(obj["zzbh"], _ID_RE, "elicence-bad-id"),
        issuer=_field(obj["bfjgdm"], _ISSUER_RE, "elicence-bad-issuer"),
        ts=_ts(obj["ts"]) if obj.get("ts") is not None else None,
        form="json",
    )


def _b64url(body: str, reason: str) -> bytes:
    if not _B64URL_RE.fullmatch(body):
        raise PayloadError(reason)
    stripped = body.rstrip("=")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        raise PayloadError(reason) from None


def _parse_ctid(text: str) -> EIdToken:
    body = text[len(CTID_PREFIX):]
    if not 32 <= len(body) <= 2048:
        raise PayloadError("eid-bad-length")
    if "=" in body:
        raise PayloadError("eid-bad-body")
    _b64url(body, "eid-bad-body")
    return EIdToken(text)


def _parse_receipt(text: str) -> ReceiptNumber:
    m = _RECEIPT_RE.fullmatch(text)
    if not m:
        raise PayloadError("receipt-bad-format")
    date_s, device, seq, check = m.groups()
    try:
        date = dt.datetime.strptime(date_s, "%Y%m%d").date()
    except ValueError:
        raise PayloadError("receipt-bad-date") from None
    if receipt_check_char(date_s + device + seq) != check:
        raise PayloadError("receipt-bad-check")
    return ReceiptNumber(date, device, int(seq), check)


def _parse_prov(text: str) -> ProvisioningToken:
    body = text[len(PROV_PREFIX):]
    raw = _b64url(body, "prov-bad-body")
    if not 16 <= len(raw) <= 4096:
        raise PayloadError("prov-bad-length")
    return ProvisioningToken(1, raw)


def freshness_problem(ref: ELicenceRef, now: float, window_s: float = VALIDITY_S,
                      skew_s: float = CLOCK_SKEW_S) -> str:
    """Why a timed e-licence code may not be used now: ``"expired"`` once older than ``window_s``,
    ``"future"`` when dated ahead of ``now`` by more than ``skew_s``; ``""`` when fresh or untimed."""
    if ref.ts is None:
        return ""
    if now - ref.ts > window_s:
        return "expired"
    if ref.ts - now > skew_s:
        return "future"
    return ""


def parse_payload(decoded: DecodedCode | str) -> Payload:
    """Parse a decoded code (or its text) into a typed payload, or raise :class:`PayloadError`."""
    if isinstance(decoded, DecodedCode):
        if decoded.text is None:
            raise PayloadError("binary", "binary payload: not a kiosk format")
        text = decoded.text
    elif isinstance(decoded, str):
        text = decoded
    else:
        raise PayloadError("not-text", "payload must be a DecodedCode or str")
    if len(text) > MAX_PAYLOAD:
        raise PayloadError("too-long")
    text = text.strip()
    if not text:
        raise PayloadError("empty")
    if text.startswith(PROV_PREFIX):
        return _parse_prov(text)
    if text.startswith(CTID_PREFIX):
        return _parse_ctid(text)
    if text.startswith("KR-"):
        return _parse_receipt(text)
    if text.lower().startswith("ezz:"):
        return _parse_elicence_uri(text)
    if text.startswith("{"):
        return _parse_elicence_json(text)
    raise PayloadError("unknown-format", "payload is not a format the kiosk understands")
