"""Enrolment tokens: what the central issues for one new kiosk, as text and as a QR code.

``KIOSKPROV1:`` + base64url(JSON ``{"t": body, "sig": base64}``), where ``sig`` is Ed25519 by the
central's command key over the canonical JSON of ``body`` (sorted keys, no spaces, UTF-8). The body
carries what a kiosk needs: token id, device id, site, broker URL, the device's broker secret, the
central's sealing and command-verify public keys, issue and expiry times.

A fresh kiosk has no trust anchor of its own: the signature (checked with the key inside the token)
catches a damaged or edited token, and a key pinned at install (``/etc/kiosk/central-command.pub`` or
``{home}/central-command.pub``) makes a token from any other central fail. What makes a token good is
the central: it accepts each token once, before it expires, for the device it names.

Over TLS (an ``mqtts://`` broker URL) the token also names the broker's enrolment listener (``enrol_url``).
There the kiosk sends an enrolment request with its Ed25519 key and a CSR for its TLS key, proven with an
HMAC keyed by the token's secret (which never travels), and the central answers with a reply it signs with
its command key: the client certificate and the fleet CA certificate. Renewal later uses the same reply,
asked for on the device's own ``up/csr`` topic with a request the device signs with its Ed25519 key.
See docs/PROTOCOL.md, Transport trust.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.protocol import signatures, strict_json
from sync.protocol.broker_url import BrokerUrlError, parse_broker_url
from sync.protocol.canonical import canonical_json
from sync.protocol.topics import (  # noqa: F401 - the topic names are re-exported for enrolment's callers
    ENROL_ROOT,
    TopicError,
    cert_topic,
    check_device_id,
    csr_topic,
    enrol_reply_topic,
    enrol_request_topic,
)

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
    lookup_key: str = ""  # base64 site key for the residents' status lookup (central.status_push); optional
    enrol_url: str = ""  # the broker's enrolment listener (TLS fleets only; see Transport trust)


OPTIONAL_FIELDS = frozenset({"lookup_key", "enrol_url"})  # a token may lack these


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_token(command_private_raw: bytes, body: TokenBody) -> str:
    payload = asdict(body)
    if not body.enrol_url:
        del payload["enrol_url"]  # tokens for plain-TCP fleets stay exactly as before
    sig = Ed25519PrivateKey.from_private_bytes(command_private_raw).sign(signatures.object_statement(payload))
    wrapped = canonical_json({"t": payload, "sig": base64.b64encode(sig).decode("ascii")})
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
        body = TokenBody(**{k: payload[k] for k in TokenBody.__dataclass_fields__
                            if k not in OPTIONAL_FIELDS or k in payload})
        for name in ("tid", "device_id", "site", "broker_url", "secret", "seal_key", "command_key", *OPTIONAL_FIELDS):
            if not isinstance(getattr(body, name), str):
                raise TypeError(name)
        if set(payload) - OPTIONAL_FIELDS != set(TokenBody.__dataclass_fields__) - OPTIONAL_FIELDS:
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
        Ed25519PublicKey.from_public_bytes(command_key).verify(sig, signatures.object_statement(payload))
    except (InvalidSignature, ValueError) as exc:
        raise EnrolmentError("bad_signature", "开通码签名无效（可能被修改），请向平台重新申请") from exc
    try:
        check_device_id(body.device_id)
        parse_broker_url(body.broker_url)
        if body.enrol_url:
            parse_broker_url(body.enrol_url)
    except (TopicError, BrokerUrlError) as exc:
        raise EnrolmentError("malformed", "开通码内容不完整或已损坏，请重新扫描") from exc
    now = time.time() if now is None else now
    if now > body.exp:
        raise EnrolmentError("expired", "开通码已过期，请向平台重新申请")
    if now + 300 < body.iat:
        raise EnrolmentError("not_yet_valid", "开通码尚未生效，请检查本机时间")
    return body


# -- enrolment and renewal over TLS ---------------------------------------------------------------------

MAX_MESSAGE = 16 * 1024


class TrustMessageError(ValueError):
    """An enrolment/renewal request or reply that is malformed or fails its proof; safe to log."""


def _proof(secret_sha256: str, fields: dict[str, Any]) -> str:
    mac = hmac.new(secret_sha256.encode("ascii"), canonical_json(fields), hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def secret_hash(secret: str) -> str:
    """What the central keeps of a token's secret, and what keys the enrolment proof."""
    return hashlib.sha256(secret.encode()).hexdigest()


def enrol_event_proof(secret_sha256: str, device_id: str, token_id: str, device_public_key: str) -> str:
    """The proof an enrolment over plain MQTT (an ``enrol`` event, whose ``meta`` travels in clear) carries:
    HMAC-SHA256 keyed by the token's secret hash over the device id, token id and the device key it enrols.
    Without the secret (which never travels, and which no page of the central shows) no one can make it; a
    copy seen on the wire enrols nothing but that very key, whose private half the kiosk alone holds."""
    return _proof(secret_sha256, {"v": 1, "purpose": "enrol_event", "device_id": device_id, "token_id": token_id,
                                  "device_public_key": device_public_key})


def check_enrol_event_proof(secret_sha256: str, device_id: str, token_id: str, device_public_key: str,
                            proof: object) -> bool:
    return isinstance(proof, str) and hmac.compare_digest(
        enrol_event_proof(secret_sha256, device_id, token_id, device_public_key).encode(), proof.encode())


RETIRE_DOMAIN = signatures.RETIREMENT


def retirement_bytes(old_device_id: str, new_device_id: str, token_id: str) -> bytes:
    """What a re-enrolling kiosk signs with its old device key (Ed25519): that the old identity hands over to
    the new one. The central checks it against the old id's enrolled key and retires that id cleanly (no
    offline or trust alarm for it afterwards); no one without the old key can retire a kiosk."""
    return signatures.statement(RETIRE_DOMAIN,
                                canonical_json({"old": old_device_id, "new": new_device_id, "token_id": token_id}))


def make_enrol_request(body: TokenBody, device_public_key: str, csr_pem: str, *, now: float | None = None) -> bytes:
    fields = {"v": 1, "device_id": body.device_id, "token_id": body.tid, "device_public_key": device_public_key,
              "csr": csr_pem, "at": time.time() if now is None else now}
    return canonical_json({**fields, "proof": _proof(secret_hash(body.secret), fields)})


def _load(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_MESSAGE:
        raise TrustMessageError("too large")
    try:
        data = strict_json.loads(payload)  # numbers bounded: an "at" of 400 digits is not JSON we read
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise TrustMessageError("not JSON") from exc
    if not isinstance(data, dict) or data.get("v") != 1:
        raise TrustMessageError("not a v1 object")
    return data


def read_enrol_request(payload: bytes) -> dict[str, Any]:
    """The request's fields (form only; ``check_enrol_proof`` once the token is known)."""
    data = _load(payload)
    if set(data) != {"v", "device_id", "token_id", "device_public_key", "csr", "at", "proof"}:
        raise TrustMessageError("wrong fields")
    for name in ("device_id", "token_id", "device_public_key", "csr", "proof"):
        if not isinstance(data[name], str):
            raise TrustMessageError(f"{name} is not text")
    return data


def check_enrol_proof(request: dict[str, Any], secret_sha256: str) -> bool:
    fields = {k: v for k, v in request.items() if k != "proof"}
    return hmac.compare_digest(_proof(secret_sha256, fields), str(request.get("proof", "")))


def make_renew_request(device_id: str, csr_pem: str, device_private_pem: bytes, *, now: float | None = None) -> bytes:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(device_private_pem, None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TrustMessageError("the device key is not Ed25519")
    body = {"device_id": device_id, "csr": csr_pem, "at": time.time() if now is None else now}
    sig = base64.b64encode(key.sign(signatures.object_statement(body))).decode("ascii")
    return canonical_json({"v": 1, "body": body, "sig": sig})


def read_renew_request(payload: bytes, device_public_key: bytes) -> dict[str, Any]:
    """A renewal request signed by the device's enrolled Ed25519 key (its ``body``)."""
    data = _load(payload)
    body = data.get("body")
    if set(data) != {"v", "body", "sig"} or not isinstance(body, dict) or set(body) != {"device_id", "csr", "at"}:
        raise TrustMessageError("wrong fields")
    try:
        sig = base64.b64decode(str(data["sig"]), validate=True)
        Ed25519PublicKey.from_public_bytes(device_public_key).verify(sig, signatures.object_statement(body))
    except (InvalidSignature, ValueError, binascii.Error) as exc:
        raise TrustMessageError("bad device signature") from exc
    return body


@dataclass(frozen=True)
class CertReply:
    device_id: str
    ok: bool
    reason: str  # "ok" or why the central refused
    cert_pem: str
    ca_pem: str
    csr_sha256: str  # binds the reply to the request it answers


def make_csr(key: ec.EllipticCurvePrivateKey, common_name: str) -> bytes:
    """A PEM CSR for a kiosk's TLS key, its CN the device id (enrolment and renewal)."""
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


def csr_digest(csr_pem: str) -> str:
    return hashlib.sha256(csr_pem.encode()).hexdigest()


def make_cert_reply(command_private_raw: bytes, reply: CertReply) -> bytes:
    body = asdict(reply)
    sig = Ed25519PrivateKey.from_private_bytes(command_private_raw).sign(signatures.object_statement(body))
    return canonical_json({"v": 1, "body": body, "sig": base64.b64encode(sig).decode("ascii")})


def read_cert_reply(payload: bytes, command_public_raw: bytes) -> CertReply:
    """A reply signed by the central's command key; anything else is refused."""
    data = _load(payload)
    body = data.get("body")
    if set(data) != {"v", "body", "sig"} or not isinstance(body, dict) \
            or set(body) != set(CertReply.__dataclass_fields__):
        raise TrustMessageError("wrong fields")
    try:
        sig = base64.b64decode(str(data["sig"]), validate=True)
        Ed25519PublicKey.from_public_bytes(command_public_raw).verify(sig, signatures.object_statement(body))
    except (InvalidSignature, ValueError, binascii.Error) as exc:
        raise TrustMessageError("bad central signature") from exc
    reply = CertReply(**body)
    if not all(isinstance(getattr(reply, k), str) for k in ("device_id", "reason", "cert_pem", "ca_pem",
                                                             "csr_sha256")) or not isinstance(reply.ok, bool):
        raise TrustMessageError("wrong field types")
    return reply
