"""Signed commands from the central to kiosks (``kiosk/v1/{device_id}/down/cmd``).

Wire form (compact JSON, at most :data:`MAX_PAYLOAD_BYTES`)::

    {"v": 1, "cmd": {"id", "action", "args", "target", "issued_at", "expires_at"}, "sig": base64}

``sig`` is Ed25519 by the central's command key over the canonical JSON of ``cmd`` (sorted keys, no
spaces, UTF-8). ``target`` is ``{"device": id}``, ``{"site": name}`` or ``{"all": true}``. A kiosk
checks, in this order: form, signature, exact fields, target, times (``expires_at`` passed, or
``issued_at`` more than ``max_skew_s`` ahead of its clock), action and its arguments. Replays are
decided by the kiosk's executor, which remembers every accepted command id in its outbox.

Refusals raise :class:`CommandRefused` with a machine ``code`` and a short message that never quotes
the payload (so nothing a sender wrote ends up in logs).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.protocol import card_lookup, signatures
from sync.protocol.canonical import canonical_json
from sync.protocol.ids import is_receipt_number, new_message_id
from sync.protocol.topics import TopicError, check_device_id

VERSION = 1
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_TTL_S = 7 * 86400  # a kiosk remembers command ids until they expire: lifetimes are bounded
DEFAULT_TTL_S = 300.0
MAX_SKEW_S = 300.0
MAX_MESSAGE_CHARS = 200
MAX_SITE_CHARS = 128

ACTIONS: tuple[str, ...] = ("maintenance", "config", "diagnostics", "catalog_update", "update")
ACTIONS = (*ACTIONS, "app_status")  # application statuses for the residents' lookup (see app_status below)
SERVICE_PIN = "service_pin"  # {"op": "unlock" | "reset"}: end a PIN lock-out / reset the PIN (sync.daemon.service_pin)
ACTIONS = (*ACTIONS, SERVICE_PIN)
ADMIN_ACTIONS = frozenset({SERVICE_PIN})  # the central lets only an admin send these
RELEASE_FLOOR = "release_floor"  # {"version"}: raise the kiosk's anti-rollback floor (sync.ota.trust)
ACTIONS = (*ACTIONS, RELEASE_FLOOR)

# ``catalog_update`` and ``update`` fetch what they install from an address the central gives.
MAX_URL_CHARS = 512
MAX_ARTIFACT_BYTES = 2 * 1024**3
MAX_CATALOG_URL_BYTES = 4 * 1024 * 1024  # kiosk.catalog.update.MAX_UPDATE_BYTES
HEALTH_TIMEOUT_S = (10, 3600)
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_URL = re.compile(r"^https?://[!-~]+$")

# Reason codes (``CommandRefused.code`` and the ``reason`` of a refused command's result event).
MALFORMED = "malformed"
BAD_SIGNATURE = "bad_signature"
UNSIGNED = "unsigned"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
WRONG_TARGET = "wrong_target"
UNKNOWN_ACTION = "unknown_action"
BAD_ARGS = "bad_args"
REPLAYED = "replayed"
NO_COMMAND_KEY = "no_command_key"
# Outcomes of catalogue and software updates (a verified command whose content the kiosk would not install,
# or a release that did not come up healthy and was undone).
REFUSED = "refused"
ROLLED_BACK = "rolled_back"
BUSY = "busy"
REASONS = (MALFORMED, BAD_SIGNATURE, UNSIGNED, EXPIRED, NOT_YET_VALID, WRONG_TARGET, UNKNOWN_ACTION, BAD_ARGS,
           REPLAYED, NO_COMMAND_KEY, REFUSED, ROLLED_BACK, BUSY)

_CMD_FIELDS = frozenset({"id", "action", "args", "target", "issued_at", "expires_at"})
_WIRE_FIELDS = frozenset({"v", "cmd", "sig"})
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class CommandRefused(ValueError):
    """A command the kiosk will not execute. ``code`` is one of :data:`REASONS`; ``message`` is short,
    English, and never quotes the payload. ``command_id`` is the (claimed, UUID-shaped) id when one
    could be read, so the central can match the refusal to what it sent."""

    def __init__(self, code: str, message: str, command_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.command_id = command_id


# -- the settings a ``config`` command may change ----------------------------------------------------


@dataclass(frozen=True)
class ConfigKey:
    kind: type  # int, str or bool
    lo: int = 0
    hi: int = 0
    max_len: int = 0
    choices: tuple[str, ...] = ()

    def check(self, value: Any) -> bool:
        if self.kind is bool:
            return isinstance(value, bool)
        if self.kind is int:
            return isinstance(value, int) and not isinstance(value, bool) and self.lo <= value <= self.hi
        if not isinstance(value, str):
            return False
        if self.choices:
            return value in self.choices
        return len(value) <= self.max_len and _printable(value)

    def parse(self, text: str) -> Any:
        """A value as an operator types it on a command line (``--set key=value``)."""
        if self.kind is bool:
            low = text.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if self.kind is int:
            return int(text.strip())
        return text


CONFIG_KEYS: dict[str, ConfigKey] = {
    "heartbeat_interval_s": ConfigKey(int, lo=5, hi=3600),
    "idle_timeout_s": ConfigKey(int, lo=30, hi=600),
    "site_display_name": ConfigKey(str, max_len=64),
    "language_default": ConfigKey(str, choices=("zh", "en")),
    "elder_mode_default": ConfigKey(bool),
    # The voice prompts (kiosk.journey.voice): loudness in percent, and off altogether.
    "voice_volume": ConfigKey(int, lo=0, hi=100),
    "voice_muted": ConfigKey(bool),
    # Printed on every receipt (kiosk.journey.receipt_layout): the service centre's telephone number.
    "service_hotline": ConfigKey(str, max_len=32),
    # The month's data allowance in MB (sync.daemon.data_budget): telemetry slows as it runs low; 0: none.
    "data_budget_mb": ConfigKey(int, lo=0, hi=1_000_000),
}


def _printable(text: str) -> bool:
    return all(ch.isprintable() for ch in text)


def validate_args(action: str, args: Any) -> dict[str, Any]:
    """The arguments of ``action``, checked; raises :class:`CommandRefused` (unknown_action / bad_args)."""
    if action not in ACTIONS:
        raise CommandRefused(UNKNOWN_ACTION, "this kiosk does not know that action")
    if not isinstance(args, dict):
        raise CommandRefused(BAD_ARGS, "args must be an object")
    if action == APP_STATUS:
        return validate_app_status(args)
    if action == "maintenance":
        if set(args) - {"on", "message"} or not isinstance(args.get("on"), bool):
            raise CommandRefused(BAD_ARGS, "maintenance takes on (true/false) and an optional message")
        message = args.get("message", "")
        if not isinstance(message, str) or len(message) > MAX_MESSAGE_CHARS or not _printable(message):
            raise CommandRefused(BAD_ARGS, f"maintenance message must be text of at most {MAX_MESSAGE_CHARS} "
                                           "characters")
        return {"on": args["on"], "message": message}
    if action == "config":
        values = args.get("set")
        if set(args) != {"set"} or not isinstance(values, dict) or not values:
            raise CommandRefused(BAD_ARGS, "config takes set: {key: value, ...}")
        unknown = sorted(k for k in values if k not in CONFIG_KEYS)
        if unknown:
            # The key names are checked against a fixed list before they are quoted: an unknown key is
            # not repeated back (it is sender text), only counted.
            raise CommandRefused(BAD_ARGS, f"{len(unknown)} unknown config key(s); nothing applied")
        bad = sorted(k for k, v in values.items() if not CONFIG_KEYS[k].check(v))
        if bad:
            raise CommandRefused(BAD_ARGS, f"invalid value for {', '.join(bad)}; nothing applied")
        return {"set": dict(values)}
    if action == "catalog_update":
        return _catalog_args(args)
    if action == SERVICE_PIN:
        if set(args) != {"op"} or args["op"] not in ("unlock", "reset"):
            raise CommandRefused(BAD_ARGS, "service_pin takes op: unlock or reset")
        return {"op": args["op"]}
    if action == "update":
        return _update_args(args)
    if action == RELEASE_FLOOR:
        if set(args) != {"version"} or not is_version(args["version"]):
            raise CommandRefused(BAD_ARGS, "release_floor takes version (1-64 letters, digits or ._+-)")
        return {"version": args["version"]}
    # diagnostics
    if args:
        raise CommandRefused(BAD_ARGS, "diagnostics takes no arguments")
    return {}


def is_version(value: Any) -> bool:
    """A release or catalogue version: 1-64 of letters, digits and ``._+-``, not starting with a dot
    (so it is a safe folder name: no ``/``, no ``..`` alone)."""
    return isinstance(value, str) and bool(_VERSION.match(value))


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_URL_CHARS and bool(_URL.match(value))


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and bool(_SHA256.match(value))


def _is_size(value: Any, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= hi


def _catalog_args(args: dict[str, Any]) -> dict[str, Any]:
    """``{"document": {"catalog": {...}, "sig": str}}`` (the signed catalogue itself) or
    ``{"url", "sha256", "size", "version"}`` where it is too large for one command. The catalogue's own
    checks (signature, schema, newer version) are the kiosk's (``kiosk.catalog.update``)."""
    if set(args) == {"document"}:
        doc = args["document"]
        if not isinstance(doc, dict) or set(doc) != {"catalog", "sig"} or not isinstance(doc["catalog"], dict) \
                or not isinstance(doc["sig"], str):
            raise CommandRefused(BAD_ARGS, "catalog_update document must be a signed catalogue {catalog, sig}")
        return {"document": doc}
    if set(args) == {"url", "sha256", "size", "version"}:
        if not (_is_url(args["url"]) and _is_sha256(args["sha256"])
                and _is_size(args["size"], MAX_CATALOG_URL_BYTES) and is_version(args["version"])):
            raise CommandRefused(BAD_ARGS, "catalog_update takes an http(s) url, a hex sha256, a size of at most "
                                           f"{MAX_CATALOG_URL_BYTES} bytes and a version")
        return dict(args)
    raise CommandRefused(BAD_ARGS, "catalog_update takes a document, or url, sha256, size and version")


def _update_args(args: dict[str, Any]) -> dict[str, Any]:
    """``{"version", "url", "sha256", "size", "signature", "health_timeout_s"?}``; ``signature`` is the
    release key's Ed25519 signature (base64) over the release statement (``sync.ota.verify``)."""
    required = {"version", "url", "sha256", "size", "signature"}
    optional = {"health_timeout_s", "key_rotation", "unpacked_size", "delta"}
    if not required <= set(args) or set(args) - required - optional:
        raise CommandRefused(BAD_ARGS, "update takes version, url, sha256, size, signature and an optional "
                                       "health_timeout_s, key_rotation and unpacked_size")
    if not is_version(args["version"]):
        raise CommandRefused(BAD_ARGS, "update version must be 1-64 letters, digits or ._+-")
    if not _is_url(args["url"]):
        raise CommandRefused(BAD_ARGS, f"update url must be http(s) and at most {MAX_URL_CHARS} characters")
    if not _is_sha256(args["sha256"]) or not _is_size(args["size"], MAX_ARTIFACT_BYTES):
        raise CommandRefused(BAD_ARGS, "update needs the artefact's lower-case hex sha256 and its size")
    sig = args["signature"]
    try:
        if not isinstance(sig, str) or len(base64.b64decode(sig, validate=True)) != 64:
            raise ValueError("length")
    except (ValueError, binascii.Error):
        raise CommandRefused(BAD_ARGS, "update signature must be a base64 Ed25519 signature") from None
    out = {k: args[k] for k in sorted(required)}
    if "delta" in args:  # the artefact is a zstd patch against an installed release (sync.ota.delta)
        d = args["delta"]
        if (not isinstance(d, dict) or set(d) != {"base", "base_sha256", "target_sha256", "target_size"}
                or not is_version(d["base"]) or not _is_sha256(d["base_sha256"])
                or not _is_sha256(d["target_sha256"]) or not _is_size(d["target_size"], 4 * MAX_ARTIFACT_BYTES)):
            raise CommandRefused(BAD_ARGS, "update delta takes base, base_sha256, target_sha256 and target_size")
        out["delta"] = dict(d)
    if "unpacked_size" in args:  # what the release takes on disk once unpacked: checked before downloading
        if not _is_size(args["unpacked_size"], 4 * MAX_ARTIFACT_BYTES):
            raise CommandRefused(BAD_ARGS, "update unpacked_size must be a positive byte count")
        out["unpacked_size"] = args["unpacked_size"]
    if "key_rotation" in args:  # a new release key certified by the pinned one (sync.ota.trust)
        cert = args["key_rotation"]
        if (not isinstance(cert, dict) or set(cert) != {"key", "previous", "signature"}
                or not all(isinstance(v, str) and len(v) <= 200 for v in cert.values())):
            raise CommandRefused(BAD_ARGS, "update key_rotation takes key, previous and signature")
        out["key_rotation"] = dict(cert)
    if "health_timeout_s" in args:
        lo, hi = HEALTH_TIMEOUT_S
        value = args["health_timeout_s"]
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise CommandRefused(BAD_ARGS, f"update health_timeout_s must be {lo}-{hi} seconds")
        out["health_timeout_s"] = value
    return out


# -- targets -----------------------------------------------------------------------------------------


def target_device(device_id: str) -> dict[str, Any]:
    return {"device": check_device_id(device_id)}


def target_site(site: str) -> dict[str, Any]:
    if not site or len(site) > MAX_SITE_CHARS:
        raise ValueError("site must be 1-128 characters")
    return {"site": site}


def target_all() -> dict[str, Any]:
    return {"all": True}


def _check_target(target: Any) -> dict[str, Any]:
    if not isinstance(target, dict) or len(target) != 1:
        raise CommandRefused(MALFORMED, "target must name one device, one site or all")
    ((key, value),) = target.items()
    if key == "device" and isinstance(value, str):
        try:
            check_device_id(value)
        except TopicError:
            raise CommandRefused(MALFORMED, "target device id is not valid") from None
    elif key == "site" and isinstance(value, str) and 0 < len(value) <= MAX_SITE_CHARS:
        pass
    elif not (key == "all" and value is True):
        raise CommandRefused(MALFORMED, "target must name one device, one site or all")
    return {key: value}


def targets(target: Mapping[str, Any], *, device_id: str, site: str) -> bool:
    """Whether a (well-formed) target includes this kiosk."""
    if "device" in target:
        return bool(target["device"] == device_id)
    if "site" in target:
        return bool(site) and target["site"] == site
    return target.get("all") is True


# -- the command -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    id: str  # UUIDv7 (sync.protocol.ids.new_message_id)
    action: str
    args: dict[str, Any]
    target: dict[str, Any]  # {"device": id} | {"site": name} | {"all": True}
    issued_at: float  # epoch seconds
    expires_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "action": self.action, "args": self.args, "target": self.target,
                "issued_at": self.issued_at, "expires_at": self.expires_at}

    def canonical(self) -> bytes:
        return signatures.object_statement(self.to_dict())


def new_command(action: str, args: Mapping[str, Any] | None, target: Mapping[str, Any], *,
                ttl_s: float = DEFAULT_TTL_S, now: float | None = None) -> Command:
    """A command ready to sign: arguments and target checked, issued now, valid for ``ttl_s``."""
    if not 0 < ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl must be between 0 and {MAX_TTL_S:.0f} seconds")
    checked_args = validate_args(action, dict(args or {}))
    checked_target = _check_target(dict(target))
    issued = round(time.time() if now is None else now, 3)
    return Command(id=new_message_id(), action=action, args=checked_args, target=checked_target,
                   issued_at=issued, expires_at=round(issued + ttl_s, 3))


def sign_command(private_raw: bytes, command: Command) -> bytes:
    """The wire payload of ``command`` signed with the central's Ed25519 command key (raw 32 bytes)."""
    sig = Ed25519PrivateKey.from_private_bytes(private_raw).sign(command.canonical())
    payload = canonical_json({"v": VERSION, "cmd": command.to_dict(), "sig": base64.b64encode(sig).decode("ascii")})
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError("command too large")
    return payload


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("duplicate key")
        out[key] = value
    return out


def _no_constants(_name: str) -> Any:
    raise ValueError("not JSON")


def _parse(payload: bytes) -> Any:
    if not isinstance(payload, bytes | bytearray) or len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandRefused(MALFORMED, f"payload is not bytes of at most {MAX_PAYLOAD_BYTES} bytes")
    try:
        return json.loads(bytes(payload).decode("utf-8"), object_pairs_hook=_no_duplicates,
                          parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CommandRefused(MALFORMED, "payload is not a JSON command") from exc


def _claimed_id(wire: Any) -> str | None:
    cmd = wire.get("cmd") if isinstance(wire, dict) else None
    value = cmd.get("id") if isinstance(cmd, dict) else None
    return value if isinstance(value, str) and _UUID.match(value) else None


def peek_command_id(payload: bytes) -> str | None:
    """The id a payload claims (UUID-shaped only; unverified): to label a refusal's result event."""
    try:
        return _claimed_id(_parse(payload))
    except CommandRefused:
        return None


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError("not a time")
    return float(value)


def verify_command(public_raw: bytes | None, payload: bytes, *, device_id: str, site: str,
                   now: float | None = None, max_skew_s: float = MAX_SKEW_S) -> Command:
    """Check a ``down/cmd`` payload for this kiosk; the :class:`Command` it carries, or
    :class:`CommandRefused`. Replays are not checked here (see the kiosk's executor)."""
    wire = _parse(payload)
    if not isinstance(wire, dict) or wire.get("v") != VERSION or not isinstance(wire.get("cmd"), dict):
        raise CommandRefused(MALFORMED, "not a version 1 command")
    claimed = _claimed_id(wire)
    if public_raw is None:
        raise CommandRefused(NO_COMMAND_KEY, "this kiosk has no command key: it executes no commands", claimed)
    if set(wire) - _WIRE_FIELDS:
        raise CommandRefused(MALFORMED, "unexpected fields in the command", claimed)
    sig_text = wire.get("sig")
    if sig_text is None or sig_text == "":
        raise CommandRefused(UNSIGNED, "the command carries no signature", claimed)
    try:
        if not isinstance(sig_text, str):
            raise TypeError("sig")
        sig = base64.b64decode(sig_text, validate=True)
        if len(sig) != 64 or base64.b64encode(sig).decode("ascii") != sig_text:
            raise ValueError("sig length or non-canonical base64")
        key = Ed25519PublicKey.from_public_bytes(public_raw)
    except (TypeError, ValueError, binascii.Error) as exc:
        raise CommandRefused(BAD_SIGNATURE, "the signature is unreadable", claimed) from exc
    body = wire["cmd"]
    try:
        signed = signatures.object_statement(body)
    except (ValueError, TypeError, RecursionError) as exc:
        raise CommandRefused(MALFORMED, "the command cannot be put in canonical form", claimed) from exc
    try:
        key.verify(sig, signed)
    except InvalidSignature as exc:
        raise CommandRefused(BAD_SIGNATURE, "the signature does not match the central's command key",
                             claimed) from exc
    # Signed by the central from here on: what follows checks what it meant.
    try:
        if set(body) != _CMD_FIELDS:
            raise KeyError("fields")
        command_id, action = body["id"], body["action"]
        if not isinstance(command_id, str) or not _UUID.match(command_id) or not isinstance(action, str):
            raise TypeError("id/action")
        issued_at, expires_at = _number(body["issued_at"]), _number(body["expires_at"])
        if not issued_at < expires_at <= issued_at + MAX_TTL_S:
            raise ValueError("lifetime")
    except (KeyError, TypeError, ValueError) as exc:
        raise CommandRefused(MALFORMED, "the signed command is incomplete or inconsistent", claimed) from exc
    try:
        target = _check_target(body["target"])
    except CommandRefused as exc:
        raise CommandRefused(exc.code, exc.message, command_id) from None
    if not targets(target, device_id=device_id, site=site):
        raise CommandRefused(WRONG_TARGET, "the command is for another kiosk", command_id)
    now = time.time() if now is None else now
    if now > expires_at:
        raise CommandRefused(EXPIRED, "the command has expired", command_id)
    if issued_at > now + max_skew_s:
        raise CommandRefused(NOT_YET_VALID, "the command is issued in the future (check the clocks)", command_id)
    try:
        args = validate_args(action, body["args"])
    except CommandRefused as exc:
        raise CommandRefused(exc.code, exc.message, command_id) from None
    return Command(id=command_id, action=action, args=args, target=target, issued_at=issued_at,
                   expires_at=expires_at)


# -- app_status: application statuses pushed down for the residents' "my applications" lookup --------
#
# args: {"entries": [{"receipt_no", "service_code", "status", "updated_at", "lookup_tag"}, ...]}
# ``lookup_tag`` is HMAC-SHA256(site lookup key, normalised ID number) in lowercase hex, or "" when the
# application carries no ID number. Never the ID number or the name: the broker sees only tags, and a tag
# cannot be tested against guessed ID numbers without the site's key (which stays at the central and in
# the kiosks' secrets folders).

APP_STATUS = "app_status"
APP_STATUSES = ("received", "accepted", "processing", "supplement", "completed", "returned", "ready", "rejected")
# The back office's own words for them (kiosk-central status RECEIPT 办理中 works too).
APP_STATUS_WORDS = {"已接收": "received", "受理": "accepted", "已受理": "accepted", "办理中": "processing",
                    "补正": "supplement", "待补正": "supplement", "办结": "completed", "已办结": "completed",
                    "退回": "returned", "已退回": "returned", "待领取": "ready", "可领取": "ready",
                    "不予受理": "rejected"}
MAX_APP_STATUS_ENTRIES = 200
_TAG = re.compile(r"^[0-9a-f]{64}$")
_ID_NUMBER = re.compile(r"^[0-9]{17}[0-9X]$")
_ENTRY_FIELDS = frozenset({"receipt_no", "service_code", "status", "updated_at", "lookup_tag"})
# Optional: the decision in words for the resident (reason, missing materials and deadline, result and how to
# collect), {"zh": ..., "en": ...}, each at most MAX_DETAIL characters of printable text.
MAX_DETAIL = 600


def app_status_code(text: str) -> str:
    """An application status as an operator or the back office writes it (code or Chinese word)."""
    value = text.strip()
    code = APP_STATUS_WORDS.get(value, value.lower())
    if code not in APP_STATUSES:
        raise ValueError(f"status must be one of {', '.join(APP_STATUSES)} (or 受理, 办理中, 已办结, 退回, ...)")
    return code


def normalise_id_number(id_number: str) -> str:
    """The form every lookup tag is computed over: no spaces, full-width digits folded, upper-case X."""
    value = unicodedata.normalize("NFKC", id_number).replace(" ", "").strip().upper()
    if not _ID_NUMBER.match(value):
        raise ValueError("not an 18-character resident ID number")
    return value


def lookup_tag(site_key: bytes, id_number: str) -> str:
    """HMAC-SHA256(site lookup key, normalised ID number), lowercase hex (raises ValueError on a bad number)."""
    if len(site_key) < 32:
        raise ValueError("the site lookup key must be 32 bytes")
    return hmac.new(site_key, normalise_id_number(id_number).encode("ascii"), hashlib.sha256).hexdigest()


def validate_app_status(args: dict[str, Any]) -> dict[str, Any]:
    """``entries`` checked; an optional ``query`` marks the answer to a kiosk's card lookup
    (sync.protocol.card_lookup), which may have no entries."""
    entries, query = args.get("entries"), args.get("query")
    fewest = 0 if "query" in args else 1
    if (set(args) - {"query"} != {"entries"} or not isinstance(entries, list)
            or not fewest <= len(entries) <= MAX_APP_STATUS_ENTRIES):
        raise CommandRefused(BAD_ARGS, f"app_status takes entries: a list of 1-{MAX_APP_STATUS_ENTRIES} "
                                       "(0 in the answer to a query)")
    if "query" in args and not (isinstance(query, str) and card_lookup.QUERY.match(query)):
        raise CommandRefused(BAD_ARGS, "an app_status query is 8-64 letters, digits or dashes")
    out = []
    for e in entries:
        if not isinstance(e, dict) or set(e) - {"detail"} != _ENTRY_FIELDS:
            raise CommandRefused(BAD_ARGS, "each app_status entry has exactly receipt_no, service_code, status, "
                                           "updated_at, lookup_tag (and optionally detail); nothing applied")
        detail = _detail(e.get("detail"))
        receipt, code, status, tag = e["receipt_no"], e["service_code"], e["status"], e["lookup_tag"]
        try:
            updated = _number(e["updated_at"])
        except TypeError:
            updated = -1.0
        if (not isinstance(receipt, str) or not is_receipt_number(receipt)
                or not isinstance(code, str) or not 0 < len(code) <= 64 or not _printable(code)
                or status not in APP_STATUSES or updated <= 0
                or not isinstance(tag, str) or not (tag == "" or _TAG.match(tag))):
            raise CommandRefused(BAD_ARGS, "an app_status entry is invalid; nothing applied")
        entry: dict[str, Any] = {"receipt_no": receipt, "service_code": code, "status": status,
                                 "updated_at": updated, "lookup_tag": tag}
        if detail is not None:
            entry["detail"] = detail
        out.append(entry)
    return {"entries": out, "query": query} if "query" in args else {"entries": out}


def _detail(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if (not isinstance(value, dict) or set(value) != {"zh", "en"}
            or not all(isinstance(v, str) and len(v) <= MAX_DETAIL and (v == "" or _printable(v))
                       for v in value.values())):
        raise CommandRefused(BAD_ARGS, "an app_status entry's detail is {zh, en} of printable text; nothing applied")
    return {"zh": value["zh"], "en": value["en"]}


__all__ = ["ACTIONS", "CONFIG_KEYS", "MAX_PAYLOAD_BYTES", "REASONS", "Command", "CommandRefused", "ConfigKey",
           "canonical_json", "is_version", "new_command", "peek_command_id", "sign_command", "target_all",
           "target_device", "target_site", "targets", "validate_args", "verify_command"]
__all__ += ["RELEASE_FLOOR"]
__all__ += ["APP_STATUS", "APP_STATUSES", "app_status_code", "lookup_tag", "normalise_id_number",
            "validate_app_status"]
