"""The dashboard's "revoke" button: the same as ``kiosk-central revoke``, for an admin at the device page.

Revoking records the kiosk in ``device_revocations`` (the ingest workers drop its messages from then on),
marks its certificates revoked and rewrites the CRL (``{central home}/ca/crl.pem`` and, when the central was
started with ``--crl-copy``, the copy the broker reads), then, on an ``mqtts://`` broker, drops the kiosk's
live connection by taking over its client id. The broker refuses the kiosk's next handshake once it has
re-read the CRL (Mosquitto: SIGHUP); until then the central still refuses everything it sends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sync.central.ca import CAError, FleetCA
from sync.central.cert_service import drop_connection, revoke, revoked_devices
from sync.central.store import CentralStore
from sync.protocol.broker_url import BrokerUrlError, uses_tls
from sync.protocol.topics import TopicError

log = logging.getLogger("kiosk.central.web")


class RevokeFailed(RuntimeError):
    """The revocation could not be done; the text is safe to show and to audit."""


@dataclass(frozen=True)
class RevokeResult:
    device_id: str
    certificates: int
    dropped: bool  # the live connection was taken over (mqtts:// brokers only)


def is_revoked(store: CentralStore, device_id: str) -> bool:
    return device_id in revoked_devices(store)


def revoke_kiosk(store: CentralStore, central_home: Path, broker_url: str, device_id: str, *, reason: str = "",
                 crl_copy: Path | None = None) -> RevokeResult:
    """Revoke ``device_id`` and cut its live connection; :class:`RevokeFailed` says why it could not."""
    try:
        ca = FleetCA.open(central_home)
        done = revoke(store, ca, device_id, reason=reason, crl_copy=crl_copy)
        dropped = bool(broker_url and uses_tls(broker_url)
                       and drop_connection(broker_url, ca.central_tls(), device_id))
    except (CAError, TopicError, BrokerUrlError, OSError) as exc:
        log.warning("revoking %s failed: %s", device_id, type(exc).__name__)
        raise RevokeFailed(f"{type(exc).__name__}: {exc}") from exc
    return RevokeResult(done.device_id, len(done.serials), dropped)
