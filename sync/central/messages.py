"""Parsing and opening what arrives on ``kiosk/v1/+/up/#``: the ingest worker's first step, before any
database work. Every refusal carries a reason that is safe to log (no personal data)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sync.central.keys import CentralKeys
from sync.protocol.envelope import Envelope, EnvelopeError
from sync.protocol.sealing import SealError
from sync.protocol.topics import Topic

MAX_ATTACHMENTS = 20
MAX_CHUNKS = 4096


class Refused(ValueError):
    """A message the central will not store; ``message_id`` set when the kiosk can be told."""

    def __init__(self, reason: str, message_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message_id = message_id


@dataclass(frozen=True)
class Incoming:
    topic: Topic
    envelope: Envelope | None  # None for status messages
    opened: dict[str, Any] = field(default_factory=dict)  # the opened sealed part, if any
    status: dict[str, Any] = field(default_factory=dict)  # for up/status

    @property
    def device_id(self) -> str:
        return self.topic.device_id


def _open_json(keys: CentralKeys, env: Envelope, aad: bytes) -> dict[str, Any]:
    try:
        plain = keys.opener.open(env.sealed, aad=aad)
    except SealError as exc:
        raise Refused(f"sealed payload: {exc}", env.id) from exc
    try:
        body = json.loads(plain)
    except ValueError as exc:
        raise Refused("sealed payload is not JSON", env.id) from exc
    if not isinstance(body, dict):
        raise Refused("sealed payload is not an object", env.id)
    return body


def parse(keys: CentralKeys, topic: Topic, payload: bytes) -> Incoming:
    if topic.kind == "status":
        try:
            status = json.loads(payload)
            if not isinstance(status, dict) or status.get("state") not in ("online", "offline"):
                raise ValueError("state")
            int(status.get("conn", 0))
        except (ValueError, TypeError) as exc:
            raise Refused("malformed status") from exc
        return Incoming(topic, None, status=status)
    try:
        env = Envelope.from_bytes(payload)
    except EnvelopeError as exc:
        raise Refused(f"unreadable envelope: {exc}") from exc
    if env.device_id != topic.device_id:
        # Never told to the topic's device: the message is not what that device sent.
        raise Refused("device id does not match the topic")
    if env.kind != topic.kind:
        raise Refused("envelope kind does not match the topic", env.id)
    try:
        if env.kind == "submission":
            return _submission(keys, topic, env)
        if env.kind == "attachment":
            return _attachment(topic, env)
        if env.kind == "event":
            env.meta_str("type", 32)
            opened = _open_json(keys, env, env.id.encode("ascii")) if env.sealed else {}
            return Incoming(topic, env, opened)
        if env.kind == "telemetry":
            return Incoming(topic, env)
    except EnvelopeError as exc:
        raise Refused(str(exc), env.id) from exc
    raise Refused("unsupported kind", env.id)


def _submission(keys: CentralKeys, topic: Topic, env: Envelope) -> Incoming:
    service_code = env.meta_str("service_code")
    env.meta_str("receipt_no", 32)
    files = env.meta.get("attachments", [])
    if not isinstance(files, list) or len(files) > MAX_ATTACHMENTS:
        raise Refused("bad attachment manifest", env.id)
    for i, f in enumerate(files):
        if not isinstance(f, dict) or f.get("file") != i or not isinstance(f.get("chunks"), int) \
                or not 1 <= f["chunks"] <= MAX_CHUNKS:
            raise Refused("bad attachment manifest", env.id)
    body = _open_json(keys, env, env.id.encode("ascii"))
    fields = body.get("fields")
    if body.get("service_code") != service_code or not isinstance(fields, list) \
            or not all(isinstance(f, dict) for f in fields):
        raise Refused("payload does not match its envelope", env.id)
    return Incoming(topic, env, body)


def _attachment(topic: Topic, env: Envelope) -> Incoming:
    env.meta_str("submission_id")
    chunks = env.meta_int("chunks", 1, MAX_CHUNKS)
    env.meta_int("file", 0, MAX_ATTACHMENTS - 1)
    env.meta_int("chunk", 0, chunks - 1)
    env.meta_int("file_size", 1, 2**31)
    if hashlib.sha256(env.sealed).hexdigest() != env.meta_str("sha256"):
        raise Refused("attachment chunk fails its checksum", env.id)
    env.meta_str("file_sha256")
    return Incoming(topic, env)
