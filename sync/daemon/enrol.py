"""The kiosk's enrolment client, the edge's side of provisioning: the two exchanges with the central that run
before the sync daemon may speak for the new identity. The touchscreen's service mode
(``kiosk.service_mode.provisioning``) drives them and turns their outcomes into messages; it never runs an MQTT
client itself.

- :func:`deliver_enrolment` (a plain-MQTT fleet): the signed ``enrol`` event alone, then the central's signed ack.
- :func:`enrol_over_tls` (a TLS fleet): a certificate request to the broker's enrolment listener.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric import ec
from paho.mqtt.reasoncodes import ReasonCode

from sync.daemon.ackcheck import AckGate
from sync.daemon.renewal import check_issued, identity_pem, tls_files
from sync.daemon.service import connect_error_json
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol import enrolment as proto
from sync.protocol import topics
from sync.protocol.broker_url import parse_broker_url
from sync.protocol.enrolment import TokenBody
from sync.protocol.envelope import Envelope
from sync.runtime.connection import MqttConnection
from sync.runtime.files import write_private
from sync.runtime.mqtt import kiosk_client_id


@dataclass(frozen=True)
class EnrolOutcome:
    state: str  # acked | rejected | unreachable | pending
    reason: str = ""
    error: dict[str, Any] | None = None  # sync.daemon.service.connect_error_json, parsed


def deliver_enrolment(outbox: Outbox, device: DeviceConfig, message_id: str, timeout_s: float) -> EnrolOutcome:
    """Send the enrol event alone and wait for the central's signed answer. Unlike the sync daemon this
    client publishes no retained status, no Last Will and no heartbeat on the device's channel, so a kiosk
    whose enrolment the central refuses (a reused token) never speaks for the kiosk that holds the id."""
    host, port = device.broker_host_port
    row = outbox.find(message_id)
    if row is None or row.body is None:
        return EnrolOutcome("rejected", "lost")
    payload = outbox.key_file.sign(Envelope.from_bytes(row.body)).to_bytes() \
        if row.body[-98:-90] != b',"sig":"' else row.body
    gate = AckGate(outbox, device)
    done: dict[str, Any] = {}

    def on_connected() -> None:
        done["connected"] = True
        conn.publish(topics.up(device.device_id, "event"), payload)

    def on_message(m: mqtt.MQTTMessage) -> None:
        ack = gate.check(bytes(m.payload))
        if ack is None:
            return
        for rejected_id, reason in ack.rejected:
            if rejected_id == message_id:
                done["rejected"] = reason
        if message_id in ack.ids:
            done["acked"] = True

    def refused(rc: ReasonCode) -> None:
        done["error"] = json.loads(connect_error_json(host, port, False, f"refused:{rc}"))

    def unreachable(exc: BaseException) -> None:
        done["unreachable"] = json.loads(connect_error_json(host, port, False, exc))

    # One attempt, no reconnect: the service screen reports the outcome and the technician may retry.
    conn = MqttConnection(host, port, client_id=kiosk_client_id(device.device_id, outbox.key_file.signer()),
                          subscriptions=[(topics.down(device.device_id, "ack"), 1)], reconnect=False,
                          on_connected=on_connected, on_message=on_message, on_refused=refused,
                          on_connect_error=unreachable, name="enrolment")
    try:
        conn.run_until(lambda: bool({"acked", "rejected", "error"} & done.keys()), timeout_s)
    finally:
        conn.close()
    if "unreachable" in done:
        return EnrolOutcome("unreachable", error=done["unreachable"])
    if done.get("acked"):
        outbox.record_delivery([message_id], [message_id])
        return EnrolOutcome("acked")
    if "rejected" in done:
        outbox.mark_rejected(message_id, str(done["rejected"]))
        return EnrolOutcome("rejected", str(done["rejected"]))
    if not done.get("connected"):
        error = done.get("error") or json.loads(connect_error_json(host, port, False, TimeoutError()))
        return EnrolOutcome("unreachable", error=error)
    return EnrolOutcome("pending")


@dataclass(frozen=True)
class CertOutcome:
    state: str  # enrolled | refused | unreachable | bad_certificate
    reason: str = ""  # the central's reason when refused
    error: dict[str, Any] | None = None  # where and why, when unreachable


def enrol_over_tls(home: Path, body: TokenBody, device: DeviceConfig, public_key: str,
                   timeout_s: float) -> CertOutcome:
    """A TLS fleet: ask the broker's enrolment listener for a client certificate (Transport trust in
    docs/PROTOCOL.md) and, when the central's signed reply checks out, store the fleet CA and this kiosk's
    TLS identity. The channel is encrypted; the request is proven with the token's secret and the reply is
    signed by the central's command key, so neither can be forged by whoever sits in between."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = proto.make_csr(key, device.device_id).decode()
    host, port = parse_broker_url(body.enrol_url or body.broker_url)
    replies: list[proto.CertReply] = []

    def on_message(m: mqtt.MQTTMessage) -> None:
        try:
            got = proto.read_cert_reply(bytes(m.payload), base64.b64decode(body.command_key))
        except proto.TrustMessageError:
            return  # not from our central: keep waiting for the real answer
        if got.device_id == device.device_id and got.csr_sha256 == proto.csr_digest(csr):
            replies.append(got)

    def on_connected() -> None:
        conn.publish(proto.enrol_request_topic(device.device_id), proto.make_enrol_request(body, public_key, csr))

    # No fleet CA yet to check the enrolment listener with: TLS here only hides the exchange from onlookers.
    # One attempt, no reconnect (the service screen reports the outcome).
    conn = MqttConnection(host, port, client_id=device.device_id, tls_context=unverified_tls(),
                          subscriptions=[(proto.enrol_reply_topic(device.device_id), 1)], reconnect=False,
                          on_connected=on_connected, on_message=on_message, name="enrolment (TLS)")
    try:
        conn.run_until(lambda: bool(replies), timeout_s)
    finally:
        conn.close()
    reply = replies[0] if replies else None
    if reply is None:
        return CertOutcome("unreachable", error={"host": host, "port": port, "tls": True, "error": "unreachable",
                                                 "detail": "", "at": time.time()})
    if not reply.ok:
        return CertOutcome("refused", reply.reason)
    try:
        check_issued(reply, key, device.device_id, reply.ca_pem.encode())
    except (proto.TrustMessageError, ValueError):
        return CertOutcome("bad_certificate")
    files = tls_files(home)
    write_private(files.ca, reply.ca_pem.encode())
    assert files.cert is not None
    write_private(files.cert, identity_pem(key, reply.cert_pem.encode()))
    return CertOutcome("enrolled")


def unverified_tls() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
