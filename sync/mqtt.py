"""paho-mqtt construction shared by the daemon, the central and the simulators (MQTT 5 only).

With ``tls`` the client speaks TLS 1.2+ to the broker, trusts only the fleet CA (not the system's
store: a broker with any other certificate, even a publicly valid one, is refused), checks the broker's
host name against its certificate, and presents its own client certificate (mutual TLS).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt


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


def new_client(client_id: str, tls: TlsFiles | None = None) -> mqtt.Client:
    # paho's own reconnect is not used: each owner reconnects with jittered backoff on its one thread.
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if tls is not None:
        # Files are read at every new client, i.e. every (re)connect: a renewed certificate is used at once.
        client.tls_set_context(tls_context(tls))
    return client
