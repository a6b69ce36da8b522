"""paho-mqtt construction shared by the daemon, the central and the simulators (MQTT 5 only).

With ``tls`` the client speaks TLS 1.2+ to the broker, trusts only the fleet CA (not the system's
store: a broker with any other certificate, even a publicly valid one, is refused), checks the broker's
host name against its certificate, and presents its own client certificate (mutual TLS).
"""

from __future__ import annotations

import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sync.protocol import signatures
from sync.protocol.signing import DeviceSigner


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the fleet CA certificate (PEM): the only trust anchor
    cert: Path | None  # this client's certificate (PEM); None for server-only TLS (enrolment)
    key: Path | None  # its private key (PEM, 0600)


def tls_context(tls: TlsFiles) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile=str(tls.ca))
    if tls.cert is not None:
        ctx.load_cert_chain(str(tls.cert), str(tls.key) if tls.key else None)
    return ctx


def unguessable_client_id(prefix: str) -> str:
    """``{prefix}-{128 random bits in hex}``: a client id no other client can guess and take over (MQTT
    session takeover: a second connection with the same id closes the first, on any listener of the broker).
    Never published anywhere, so only its owner knows it."""
    return f"{prefix}-{secrets.token_hex(16)}"


KIOSK_CLIENT_ID_DOMAIN = signatures.CLIENT_ID


def kiosk_client_id(device_id: str, signer: DeviceSigner | None) -> str:
    """A kiosk's client id: ``kiosk-{device id}-{32 hex}``. With its device key (provisioned), the hex is the
    first 16 bytes of its Ed25519 signature over ``KIOSK_CLIENT_ID_DOMAIN + device id``: Ed25519 is
    deterministic, so the id stays the same across restarts and changes with the key, and nobody without the
    key can compute it (not the dashboard, not the token's holder). Without a key: 128 random bits.
    The central learns the id only from the kiosk's own retained status (``client``), to cut a revoked
    kiosk off (:func:`central.cert_service.drop_connection`)."""
    if signer is None:
        return unguessable_client_id(f"kiosk-{device_id}")
    proof = signer.sign_bytes(signatures.statement(KIOSK_CLIENT_ID_DOMAIN, device_id.encode()))
    return f"kiosk-{device_id}-{proof[:16].hex()}"


def is_kiosk_client_id(device_id: str, client_id: object) -> bool:
    """Whether ``client_id`` has the shape :func:`kiosk_client_id` gives ``device_id``."""
    prefix = f"kiosk-{device_id}-"
    if not isinstance(client_id, str) or not client_id.startswith(prefix) or len(client_id) != len(prefix) + 32:
        return False
    return all(c in "0123456789abcdef" for c in client_id[len(prefix):])


def max_packet_properties(max_bytes: int) -> Properties:
    """CONNECT properties asking the broker (MQTT 5 Maximum Packet Size) never to send this client a packet
    larger than ``max_bytes``: the broker drops such a message for this client instead of delivering it."""
    props = Properties(PacketTypes.CONNECT)
    props.MaximumPacketSize = max_bytes
    return props


def new_client(client_id: str, tls: TlsFiles | None = None) -> mqtt.Client:
    # paho's own reconnect is not used: each owner reconnects with jittered backoff on its one thread.
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if tls is not None:
        # Files are read at every new client, i.e. every (re)connect: a renewed certificate is used at once.
        client.tls_set_context(tls_context(tls))
    return client
