"""Certificate renewal on the kiosk: a new TLS key and certificate before the old one runs out.

Client certificates are short-lived (30 days by default) so a lost kiosk loses access on its own. The sync
daemon asks for a new one over its own MQTT connection when less than a third of the current certificate's
validity remains: a fresh EC P-256 key, a CSR signed with it, the request signed with the device's Ed25519
key, published on ``kiosk/v1/{id}/up/csr``. The central answers on ``down/cert`` with a reply signed by its
command key. The new key and certificate replace the old ones in one atomic rename (one PEM file holds
both), so a crash leaves a working pair; the live connection is kept, and the next connect uses the new
certificate. Nothing in the outbox is touched: queued submissions simply keep flowing.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sync.device import FLEET_CA_FILE, SECRETS_DIR, TLS_IDENTITY_FILE, DeviceConfig
from sync.protocol import enrolment as proto
from sync.protocol.broker_url import uses_tls
from sync.runtime.connection import MqttConnection
from sync.runtime.files import write_private
from sync.runtime.mqtt import TlsFiles

log = logging.getLogger("kiosk.syncd.renewal")

RENEW_FRACTION = 1 / 3  # renew when less than this share of the validity remains
RETRY_S = 60.0  # a request without an answer is sent again after this long


def tls_files(home: Path) -> TlsFiles:
    secrets = home / SECRETS_DIR
    return TlsFiles(secrets / FLEET_CA_FILE, secrets / TLS_IDENTITY_FILE, None)


def identity_pem(key: ec.EllipticCurvePrivateKey, cert_pem: bytes) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()) + cert_pem




def check_issued(reply: proto.CertReply, key: ec.EllipticCurvePrivateKey, device_id: str,
                 ca_pem: bytes) -> x509.Certificate:
    """The certificate in a reply must carry our key and our device id, and be signed by the fleet CA."""
    cert = x509.load_pem_x509_certificate(reply.cert_pem.encode())
    ca = x509.load_pem_x509_certificate(ca_pem)
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        raise proto.TrustMessageError("certificate is not for our key")
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if len(names) != 1 or names[0].value != device_id:
        raise proto.TrustMessageError("certificate names another device")
    try:
        cert.verify_directly_issued_by(ca)
    except Exception as exc:  # InvalidSignature, ValueError, TypeError: all mean "not from our CA"
        raise proto.TrustMessageError("certificate is not signed by the fleet CA") from exc
    return cert


class CertRenewal:
    """Owned by the sync daemon's thread: every method is called from its loop or paho callbacks."""

    def __init__(self, home: Path, device: DeviceConfig, *, fraction: float = RENEW_FRACTION,
                 retry_s: float = RETRY_S) -> None:
        self.home = home
        self.device = device
        self.fraction = fraction
        self.retry_s = retry_s
        self.renewed = 0
        self._pending: tuple[ec.EllipticCurvePrivateKey, str, float] | None = None  # key, csr digest, sent at

    @classmethod
    def for_device(cls, home: Path, device: DeviceConfig) -> CertRenewal | None:
        return cls(home, device) if uses_tls(device.broker_url) else None

    @property
    def files(self) -> TlsFiles:
        return tls_files(self.home)

    def certificate(self) -> x509.Certificate | None:
        assert self.files.cert is not None
        try:
            return x509.load_pem_x509_certificate(self.files.cert.read_bytes())
        except (OSError, ValueError):
            return None

    def due(self, now: float | None = None) -> bool:
        cert = self.certificate()
        if cert is None:
            return False  # not enrolled over TLS yet: nothing to renew (provisioning makes the first one)
        now = time.time() if now is None else now
        start, end = cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp()
        return end - now < (end - start) * self.fraction

    def on_connect(self, client: MqttConnection) -> None:
        client.subscribe(proto.cert_topic(self.device.device_id), qos=1)
        self._pending = None  # a reply to a request of the last connection cannot come any more
        self.tick(client)

    def tick(self, client: MqttConnection) -> None:
        if not self.due():
            return
        if self._pending is not None and time.monotonic() - self._pending[2] < self.retry_s:
            return
        try:
            device_key = (self.home / SECRETS_DIR / "device_key").read_bytes()
        except OSError:
            log.error("certificate renewal is due but the device key is missing")
            return
        key = ec.generate_private_key(ec.SECP256R1())
        csr = proto.make_csr(key, self.device.device_id).decode()
        payload = proto.make_renew_request(self.device.device_id, csr, device_key)
        client.publish(proto.csr_topic(self.device.device_id), payload, qos=1)
        self._pending = (key, proto.csr_digest(csr), time.monotonic())
        log.info("certificate renewal requested")

    def handle(self, topic: str, payload: bytes) -> bool:
        """Take a ``down/cert`` reply; False for any other topic (the daemon handles it)."""
        if topic != proto.cert_topic(self.device.device_id):
            return False
        command_key = self.device.command_public_key
        if command_key is None:
            log.warning("a certificate arrived but this kiosk has no central key to check it")
            return True
        try:
            reply = proto.read_cert_reply(payload, command_key)
            if self._pending is None or reply.csr_sha256 != self._pending[1]:
                raise proto.TrustMessageError("not the answer to our request")
            if not reply.ok:
                log.warning("the central refused the certificate renewal: %s", reply.reason)
                self._pending = None
                return True
            ca_pem = self.files.ca.read_bytes()
            check_issued(reply, self._pending[0], self.device.device_id, ca_pem)
        except (proto.TrustMessageError, ValueError, OSError) as exc:
            log.warning("ignored a certificate reply: %s", exc)
            return True
        assert self.files.cert is not None
        write_private(self.files.cert, identity_pem(self._pending[0], reply.cert_pem.encode()))
        self._pending = None
        self.renewed += 1
        log.info("client certificate renewed")
        return True
