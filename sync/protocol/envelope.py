"""The envelope of one uplink message (submission, attachment chunk, event, telemetry) and the ack.

Wire form is compact JSON. Personal data travels only inside ``sealed`` (base64 of a sealed blob);
``meta`` carries what the central needs in clear to route, dedupe, order and check completeness
(service code, receipt number, chunk indexes and hashes, telemetry figures) — never personal data.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from sync.protocol import strict_json
from sync.protocol.topics import ENVELOPE_KINDS, TopicError, check_device_id

VERSION = 1
MAX_ENVELOPE_BYTES = 512 * 1024
MAX_META_BYTES = 16 * 1024
SIG_BYTES = 64
MAX_RESEND_RANGES = 256
# json.dumps (ASCII-escaped, ", " separators) writes at most this many characters per byte of the JSON it
# was parsed from: one DEL byte becomes "\u007f"; "1e15" (4 bytes) becomes 1000000000000000.0 (18).
_DUMPS_EXPANSION = 6
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f]")  # one C-level scan instead of a per-character genexpr


class EnvelopeError(ValueError):
    """A message that is not a valid envelope; the reason never quotes personal data."""


@dataclass(frozen=True)
class Envelope:
    id: str
    seq: int
    device_id: str
    kind: str
    created_at: float
    sealed: bytes = b""
    meta: dict[str, Any] = field(default_factory=dict)
    sig: bytes = b""  # Ed25519 by the device key (sync.protocol.signing); empty = unsigned

    def to_bytes(self) -> bytes:
        obj = {
            "v": VERSION, "id": self.id, "seq": self.seq, "device_id": self.device_id, "kind": self.kind,
            "created_at": self.created_at, "meta": self.meta,
            "sealed": base64.b64encode(self.sealed).decode("ascii"),
        }
        if self.sig:
            obj["sig"] = base64.b64encode(self.sig).decode("ascii")
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def meta_str(self, key: str, max_len: int = 64) -> str:
        value = self.meta.get(key)
        if not isinstance(value, str) or len(value) > max_len or _CONTROL_CHARS.search(value) is not None:
            raise EnvelopeError(f"missing or bad meta {key!r}")
        return value

    def meta_int(self, key: str, lo: int = 0, hi: int = 2**53) -> int:
        value = self.meta.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise EnvelopeError(f"missing or bad meta {key!r}")
        return value

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        if len(data) > MAX_ENVELOPE_BYTES:
            raise EnvelopeError("envelope too large")
        try:
            # Numbers bounded here (64-bit integers, finite floats, no NaN/Infinity), not left to break a
            # float(), a signature check or a database column later.
            obj = strict_json.loads(data)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
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
        meta = _field(obj, "meta", dict)
        # Only an envelope big enough to hold too large a meta pays for measuring it.
        if len(data) * _DUMPS_EXPANSION > MAX_META_BYTES and len(json.dumps(meta)) > MAX_META_BYTES:
            raise EnvelopeError("meta too large")
        created_at = float(_field(obj, "created_at", (int, float)))
        if not math.isfinite(created_at):
            raise EnvelopeError("created_at out of range")
        sig = b""
        if obj.get("sig") is not None:
            sig_text = _field(obj, "sig", str)
            try:
                sig = base64.b64decode(sig_text, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise EnvelopeError("sig is not base64") from exc
            if len(sig) != SIG_BYTES or base64.b64encode(sig).decode("ascii") != sig_text:
                raise EnvelopeError("sig is not a canonical 64-byte signature")
        env = cls(
            id=_field(obj, "id", str), seq=_field(obj, "seq", int), device_id=device_id,
            kind=_field(obj, "kind", str), created_at=created_at, sealed=sealed, meta=meta, sig=sig,
        )
        if not 1 <= len(env.id) <= 64 or not env.id.isascii() or not 0 <= env.seq < 2**53:
            raise EnvelopeError("envelope id or seq out of range")
        if env.kind not in ENVELOPE_KINDS:
            raise EnvelopeError("unknown envelope kind")
        return env


def _field(obj: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise EnvelopeError(f"missing or bad field {name!r}")
    return value


@dataclass(frozen=True)
class Ack:
    """``down/ack``: ids the central has durably stored (or already had), ids it refused, and sequence
    ranges it is missing and asks the kiosk to send again (``resend``, inclusive ``[lo, hi]`` pairs).
    ``device_id``, ``ts`` and ``sig`` are the central's signature over it (sync.protocol.acksign)."""

    ids: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...] = ()
    resend: tuple[tuple[int, int], ...] = ()
    device_id: str = ""  # the kiosk it is addressed to (signed)
    ts: float = 0.0  # the central's clock when it signed
    sig: bytes = b""  # Ed25519 by the central's command key; empty = unsigned (the kiosk ignores it)

    def to_bytes(self) -> bytes:
        obj: dict[str, Any] = {"v": VERSION, "ids": list(self.ids),
                               "rejected": [{"id": i, "reason": r} for i, r in self.rejected]}
        if self.resend:
            obj["resend"] = [[lo, hi] for lo, hi in self.resend]
        if self.sig:
            obj.update(device_id=self.device_id, ts=self.ts, sig=base64.b64encode(self.sig).decode("ascii"))
        return json.dumps(obj, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Ack:
        try:
            obj = strict_json.loads(data)
            if not isinstance(obj, dict) or not isinstance(obj["ids"], list):
                raise TypeError("ack")
            ids = tuple(_ack_str(i) for i in obj["ids"])
            rejected_raw = obj.get("rejected", [])
            if not isinstance(rejected_raw, list):
                raise TypeError("rejected")
            rejected = tuple((_ack_str(r["id"]), _ack_str(r["reason"])) for r in rejected_raw)
            resend = _ranges(obj.get("resend", []))
            device_id, ts, sig = _ack_signature(obj)
        except (ValueError, RecursionError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            raise EnvelopeError("bad ack") from exc
        return cls(ids, rejected, resend, device_id, ts, sig)


def _ack_signature(obj: dict[str, Any]) -> tuple[str, float, bytes]:
    """The optional signature fields of an ack: all three or none, the signature canonical base64."""
    if obj.get("sig") is None:
        return "", 0.0, b""
    device_id, ts, sig_text = obj["device_id"], obj["ts"], obj["sig"]
    if not isinstance(device_id, str) or len(device_id) > 64 or not isinstance(sig_text, str) \
            or isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise TypeError("ack signature")
    sig = base64.b64decode(sig_text, validate=True)
    if len(sig) != SIG_BYTES or base64.b64encode(sig).decode("ascii") != sig_text:
        raise TypeError("ack signature")
    return device_id, float(ts), sig


def _ack_str(value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise TypeError("ack item")
    return str(value)


def _ranges(raw: Any) -> tuple[tuple[int, int], ...]:
    if not isinstance(raw, list) or len(raw) > MAX_RESEND_RANGES:
        raise TypeError("resend")
    out = []
    for pair in raw:
        if not isinstance(pair, list) or len(pair) != 2 \
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair) \
                or not 0 < pair[0] <= pair[1] < 2**53:
            raise TypeError("resend range")
        out.append((pair[0], pair[1]))
    return tuple(out)
