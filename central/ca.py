"""The fleet CA: the central's own small certificate authority for the broker's TLS.

Why a CA of our own: every broker connection must be a known device, and the broker must be able to tell
which one without asking the central. A client certificate whose Common Name is the device id gives the
broker exactly that (Mosquitto's ``use_identity_as_username``), and an ACL pattern on ``%u`` then keeps
each kiosk to its own topics. Certificates are short-lived (30 days by default) and renewed over MQTT, so
a stolen kiosk left alone loses access by itself; revocation (a CRL the broker reloads) cuts it off now.

Everything is ECDSA P-256 (small certificates, fast handshakes on a kiosk's CPU). Files live in
``{central home}/ca/`` (folder 0700, private keys 0600):

``ca_key.pem``/``ca_cert.pem`` the CA; ``central_key.pem``/``central_cert.pem`` the central's own client
identity (CN ``_central``, which no device id can be); ``crl.pem`` the revocation list.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sync.protocol.enrolment import make_csr  # noqa: F401 - re-exported for the CA's users
from sync.protocol.topics import TopicError, check_device_id
from sync.runtime.files import write_private
from sync.runtime.mqtt import TlsFiles

CA_DIR = "ca"
CENTRAL_IDENTITY = "_central"  # starts with "_": never a valid device id, so never a device's topic root
DEFAULT_VALIDITY_S = 30 * 24 * 3600
CA_VALIDITY_S = 10 * 365 * 24 * 3600
SERVER_VALIDITY_S = 2 * 365 * 24 * 3600
CRL_VALIDITY_S = 7 * 24 * 3600
CRL_PROBE_IDENTITY = "_crl-probe"  # starts with "_": never a device id
CRL_PROBE_VALIDITY_S = 15 * 60
CLOCK_SKEW_S = 300  # certificates start a little in the past: a kiosk's clock may run behind
# The file names the shipped broker configuration (packaging/broker/mosquitto.conf) expects.
BROKER_FILES = ("ca.pem", "server.pem", "server.key", "crl.pem")


class CAError(ValueError):
    """A request the CA will not sign; the message is safe to log (no personal data)."""


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)




def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return _key_pem(key)


def common_name(cert: x509.Certificate | x509.CertificateSigningRequest) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if len(attrs) == 1 else ""


def public_key_der(obj: x509.Certificate | x509.CertificateSigningRequest | ec.EllipticCurvePrivateKey) -> bytes:
    key = obj.public_key()
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class Issued:
    serial: str  # hex
    cert_pem: bytes
    not_before: float
    not_after: float


class FleetCA:
    def __init__(self, folder: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self.folder = folder
        self.key = key
        self.cert = cert

    # -- files ---------------------------------------------------------------------------------------

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def crl_path(self) -> Path:
        return self.folder / "crl.pem"

    @property
    def ca_path(self) -> Path:
        return self.folder / "ca_cert.pem"

    @classmethod
    def open(cls, central_home: Path, *, create: bool = True) -> FleetCA:
        """The CA in ``{central_home}/ca``; created (with the central's client identity and an empty
        CRL) on first use."""
        folder = central_home / CA_DIR
        key_path, cert_path = folder / "ca_key.pem", folder / "ca_cert.pem"
        if key_path.exists() and cert_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise CAError(f"{key_path} is not an EC key")
            return cls(folder, key, x509.load_pem_x509_certificate(cert_path.read_bytes()))
        if not create:
            raise CAError(f"no fleet CA in {folder}: run `kiosk-central ca init`")
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        key = new_key()
        now = time.time()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kiosk fleet CA"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "street-office kiosks")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(_utc(now - CLOCK_SKEW_S)).not_valid_after(_utc(now + CA_VALIDITY_S))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                                             key_cert_sign=True, crl_sign=True, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        write_private(key_path, _key_pem(key))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ca = cls(folder, key, cert)
        ca.write_crl([])
        ca.central_tls()
        return ca

    def central_tls(self, validity_s: float = SERVER_VALIDITY_S) -> TlsFiles:
        """The central's client certificate (made when missing or within a third of its end)."""
        key_path, cert_path = self.folder / "central_key.pem", self.folder / "central_cert.pem"
        if cert_path.exists() and key_path.exists():
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            left = cert.not_valid_after_utc.timestamp() - time.time()
            if left > validity_s / 3:
                return TlsFiles(self.ca_path, cert_path, key_path)
        key = new_key()
        issued = self._issue(CENTRAL_IDENTITY, key.public_key(), validity_s, client=True)
        write_private(key_path, _key_pem(key))
        cert_path.write_bytes(issued.cert_pem)
        return TlsFiles(self.ca_path, cert_path, key_path)

    # -- issuing -------------------------------------------------------------------------------------

    def _issue(self, cn: str, public_key: ec.EllipticCurvePublicKey, validity_s: float, *, client: bool,
               names: Sequence[str] = (), not_before: float | None = None) -> Issued:
        start = (time.time() - CLOCK_SKEW_S) if not_before is None else not_before
        serial = x509.random_serial_number()
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                   .issuer_name(self.cert.subject).public_key(public_key).serial_number(serial)
                   .not_valid_before(_utc(start)).not_valid_after(_utc(start + validity_s))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client
                                                         else ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                                  critical=False))
        if names:
            alt: list[x509.GeneralName] = []
            for n in names:
                try:
                    alt.append(x509.IPAddress(ipaddress.ip_address(n)))
                except ValueError:
                    alt.append(x509.DNSName(n))
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(format(serial, "x"), cert.public_bytes(serialization.Encoding.PEM), start, start + validity_s)

    def sign_device_csr(self, csr_pem: bytes, device_id: str, *, validity_s: float = DEFAULT_VALIDITY_S,
                        not_before: float | None = None) -> Issued:
        """Sign a kiosk's CSR into a client certificate whose CN is its device id (and nothing else)."""
        try:
            check_device_id(device_id)
        except TopicError as exc:
            raise CAError("not a device id") from exc
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise CAError("unreadable CSR") from exc
        if not csr.is_signature_valid:
            raise CAError("CSR signature is not valid")
        if common_name(csr) != device_id:
            raise CAError("CSR names another device")
        key = csr.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise CAError("CSR key must be EC P-256")
        return self._issue(device_id, key, validity_s, client=True, not_before=not_before)

    def crl_probe(self, validity_s: float = CRL_PROBE_VALIDITY_S) -> tuple[Issued, ec.EllipticCurvePrivateKey]:
        """A short-lived client certificate (CN ``_crl-probe``, never a device id) that a revocation puts on the
        CRL beside the kiosk's: once the broker refuses it, the broker runs the new CRL (cert_service.cut_off)."""
        key = new_key()
        return self._issue(CRL_PROBE_IDENTITY, key.public_key(), validity_s, client=True), key

    def server_files(self, out: Path, names: Iterable[str], *, validity_s: float = SERVER_VALIDITY_S,
                     revoked: Sequence[tuple[str, float]] = ()) -> Path:
        """What the broker needs, under the names the shipped mosquitto.conf uses: the CA, a server
        certificate for ``names`` (host names / IP addresses the kiosks dial), its key, and the CRL."""
        out.mkdir(parents=True, exist_ok=True)
        key = new_key()
        issued = self._issue("kiosk broker", key.public_key(), validity_s, client=False, names=list(names))
        (out / "ca.pem").write_bytes(self.cert_pem)
        (out / "server.pem").write_bytes(issued.cert_pem)
        write_private(out / "server.key", _key_pem(key))
        self.write_crl(revoked, also=out / "crl.pem")
        return out

    # -- revocation ----------------------------------------------------------------------------------

    def write_crl(self, revoked: Sequence[tuple[str, float]], *, also: Path | None = None) -> Path:
        """Write the CRL (serial hex, revoked-at) to ``ca/crl.pem`` and, if given, a copy the broker reads."""
        now = time.time()
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.cert.subject)
                   .last_update(_utc(now - CLOCK_SKEW_S)).next_update(_utc(now + CRL_VALIDITY_S)))
        for serial, at in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(int(serial, 16)).revocation_date(_utc(at)).build())
        pem = builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        for path in (self.crl_path, also):
            if path is not None:
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_bytes(pem)
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
        return self.crl_path

    def verify(self, cert_pem: bytes) -> x509.Certificate:
        """A certificate this CA signed (signature only; dates are the caller's business)."""
        cert = x509.load_pem_x509_certificate(cert_pem)
        try:
            cert.verify_directly_issued_by(self.cert)
        except (InvalidSignature, ValueError, TypeError) as exc:
            raise CAError("not signed by the fleet CA") from exc
        return cert
