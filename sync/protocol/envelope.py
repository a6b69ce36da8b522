"""The envelope of one uplink message: what travels on ``up/submission`` and what the central acks.

Wire form is compact JSON. Personal data travels only inside ``sealed`` (base64 of a sealed blob);
the clear fields are what the central needs to route, dedupe and order without opening it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from sync.protocol.topics import TopicError, check_device_id

VERSION = 1
MAX_ENVELOPE_BYTES = 512 * 1024


class EnvelopeError(ValueError):
    """A message that is not a valid envelope; the reason never quotes personal data."""


@dataclass(frozen=True)
class Envelope:
    id: str
    seq: int
    device_id: str
    kind: str
    created_at: float
    service_code: str
    receipt_no: str
    sealed: bytes

    def to_bytes(self) -> bytes:
        return json.dumps({
            "v": VERSION, "id": self.id, "seq": self.seq, "device_id": self.device_id,
            "kind": self.kind, "created_at": self.created_at, "service_code": self.service_code,
            "receipt_no": self.receipt_no, "sealed": base64.b64encode(self.sealed).decode("ascii"),
        }, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        if len(data) > MAX_ENVELOPE_BYTES:
            raise EnvelopeError("envelope too large")
        try:
            obj = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EnvelopeError("envelope is not JSON") from exc
        if not isinstance(obj, dict):
            raise EnvelopeError("envelope is not an object")
        if obj.get("v") != VERSION:
            raise EnvelopeError("unsupported envelope version")
        try:
            device_id = check_device_id(_field(obj, "device_id", str))
        except TopicError as exc:
            raise EnvelopeError("bad device_id") from exc
        try:
            sealed = base64.b64decode(_field(obj, "sealed", str), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise EnvelopeError("sealed is not base64") from exc
        env = cls(
            id=_field(obj, "id", str), seq=_field(obj, "seq", int), device_id=device_id,
            kind=_field(obj, "kind", str), created_at=float(_field(obj, "created_at", (int, float))),
            service_code=_field(obj, "service_code", str), receipt_no=_field(obj, "receipt_no", str),
            sealed=sealed,
        )
        if not 1 <= len(env.id) <= 64 or env.seq < 0 or not env.kind or len(env.service_code) > 64:
            raise EnvelopeError("envelope fields out of range")
        return env


def _field(obj: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise EnvelopeError(f"missing or bad field {name!r}")
    return value


@dataclass(frozen=True)
class Ack:
    """``down/ack``: ids the central has durably stored (or already had), and ids it refused."""

    ids: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...] = ()

    def to_bytes(self) -> bytes:
        return json.dumps({"v": VERSION, "ids": list(self.ids),
                           "rejected": [{"id": i, "reason": r} for i, r in self.rejected]},
                          separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Ack:
        try:
            obj = json.loads(data)
            ids = tuple(str(i) for i in obj["ids"])
            rejected = tuple((str(r["id"]), str(r["reason"])) for r in obj.get("rejected", []))
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise EnvelopeError("bad ack") from exc
        return cls(ids, rejected)
