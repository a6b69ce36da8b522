"""Give a kiosk home the TLS identity a provisioned kiosk of a TLS fleet has, straight from the fleet CA.

Why: the soak and ``kiosk-sim --tls`` run many kiosks against the shipped TLS + ACL broker. Enrolment itself
(CSR over the enrolment listener, token proof) is tested on its own; here the CA signs each kiosk's CSR
directly and the result is written where the sync daemon reads it (``sync.daemon.renewal.tls_files``):
``{home}/secrets/tls_client.pem`` (key and certificate in one 0600 file, CN = device id) and
``{home}/secrets/fleet_ca.pem`` (the only trust anchor for the broker). A home that already holds a
certificate for this device from this CA, with more than a third of its validity left, is kept as it is.
"""

from __future__ import annotations

import time
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from central.ca import CA_DIR, CAError, FleetCA, common_name, make_csr, new_key
from sync.daemon.renewal import identity_pem, tls_files
from sync.device import SECRETS_DIR
from sync.runtime.files import write_private


def load_ca(folder: Path) -> FleetCA:
    """The fleet CA in ``folder`` (``ca_key.pem`` + ``ca_cert.pem``), or in ``folder/ca`` (a central home)."""
    for d in (folder, folder / CA_DIR):
        key_path, cert_path = d / "ca_key.pem", d / "ca_cert.pem"
        if key_path.is_file() and cert_path.is_file():
            try:
                key = serialization.load_pem_private_key(key_path.read_bytes(), None)
                cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            except (OSError, ValueError, TypeError) as exc:
                raise CAError(f"the fleet CA in {d} is unreadable") from exc
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise CAError(f"{key_path} is not an EC key")
            return FleetCA(d, key, cert)
    raise CAError(f"no fleet CA (ca_key.pem, ca_cert.pem) in {folder} or {folder / CA_DIR}")


def _current(ca: FleetCA, home: Path, device_id: str) -> bool:
    files = tls_files(home)
    assert files.cert is not None
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        cert.verify_directly_issued_by(ca.cert)
        if files.ca.read_bytes() != ca.cert_pem:
            return False
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    start, end = cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp()
    return common_name(cert) == device_id and end - time.time() > (end - start) / 3


def issue_kiosk_identity(ca: FleetCA, home: Path, device_id: str) -> Path:
    """Write the kiosk's TLS client identity and the fleet CA into its secrets; returns the identity file."""
    files = tls_files(home)
    assert files.cert is not None
    if _current(ca, home, device_id):
        return files.cert
    secrets = home / SECRETS_DIR
    secrets.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = new_key()
    issued = ca.sign_device_csr(make_csr(key, device_id), device_id)
    write_private(files.ca, ca.cert_pem)
    write_private(files.cert, identity_pem(key, issued.cert_pem))
    return files.cert
