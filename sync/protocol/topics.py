"""MQTT topic names: ``kiosk/v1/{device_id}/{up|down}/{kind}``."""

from __future__ import annotations

import re
from dataclasses import dataclass

ROOT = "kiosk/v1"
UP_KINDS = frozenset({"submission", "attachment", "status", "telemetry", "event", "batch"})
# What an envelope's own "kind" may be: up/batch carries submission envelopes (sync.protocol.batch).
ENVELOPE_KINDS = UP_KINDS - {"batch"}
DOWN_KINDS = frozenset({"ack", "cmd"})
# The central's presence (retained; its Will says offline). Kiosks send every unacked message again
# when a new central epoch comes online, as Sparkplug's primary-host STATE does: what the broker
# dropped while no ingest worker was subscribed is not left waiting for the resend timeout.
CENTRAL_STATUS = f"{ROOT}/_central/status"
# Several central workers split the fleet's uplink between them (MQTT 5 shared subscription).
CENTRAL_SHARED_SUBSCRIPTION = f"$share/central/{ROOT}/+/up/#"
# Enrolment over TLS (docs/PROTOCOL.md, Transport trust): requests reach the broker's enrolment listener,
# where a kiosk has no certificate yet; the central's certificate service answers on the reply topic.
ENROL_ROOT = f"{ROOT}/_enrol"
# The certificate service's share of enrolment and renewal requests (several central processes split them).
ENROL_SUBSCRIPTION = f"$share/central-ca/{ENROL_ROOT}/+/request"
CSR_SUBSCRIPTION = f"$share/central-ca/{ROOT}/+/up/csr"

_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class TopicError(ValueError):
    """A topic that is not one of ours."""


def check_device_id(device_id: str) -> str:
    if not _DEVICE_ID.match(device_id):
        raise TopicError("device id must be 1-64 characters of A-Z a-z 0-9 _ - (not starting with _ or -)")
    return device_id


def up(device_id: str, kind: str) -> str:
    if kind not in UP_KINDS:
        raise TopicError(f"unknown uplink kind {kind!r}")
    return f"{ROOT}/{check_device_id(device_id)}/up/{kind}"


def down(device_id: str, kind: str) -> str:
    if kind not in DOWN_KINDS:
        raise TopicError(f"unknown downlink kind {kind!r}")
    return f"{ROOT}/{check_device_id(device_id)}/down/{kind}"


def enrol_request_topic(device_id: str) -> str:
    return f"{ENROL_ROOT}/{check_device_id(device_id)}/request"


def enrol_reply_topic(device_id: str) -> str:
    return f"{ENROL_ROOT}/{check_device_id(device_id)}/reply"


def csr_topic(device_id: str) -> str:
    """Where a kiosk asks for a renewed certificate (under its own ``up/``, so the broker ACL admits it)."""
    return f"{ROOT}/{check_device_id(device_id)}/up/csr"


def cert_topic(device_id: str) -> str:
    return f"{ROOT}/{check_device_id(device_id)}/down/cert"


def barrier_topic(device_id: str) -> str:
    """A topic no one publishes on: subscribing to it after another subscription and waiting for its SUBACK
    tells that the retained messages of the first have arrived (central.cert_service)."""
    return f"{ROOT}/_central/drop/{check_device_id(device_id)}"


@dataclass(frozen=True)
class Topic:
    device_id: str
    direction: str  # "up" | "down"
    kind: str


def parse(topic: str) -> Topic:
    parts = topic.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != ROOT:
        raise TopicError("not a kiosk/v1 topic")
    _, _, device_id, direction, kind = parts
    check_device_id(device_id)
    if (direction == "up" and kind in UP_KINDS) or (direction == "down" and kind in DOWN_KINDS):
        return Topic(device_id, direction, kind)
    raise TopicError("unknown direction or kind")
