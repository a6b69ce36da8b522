"""The dashboard's "revoke" button: the same as ``kiosk-central revoke``, for an admin at the device page.

Revoking records the kiosk in ``device_revocations`` (the ingest workers drop its messages from then on),
marks its certificates revoked and rewrites the CRL (``{central home}/ca/crl.pem`` and, when the central was
started with ``--crl-copy``, the copy the broker reads), then, on an ``mqtts://`` broker, has the broker
reload the CRL (``--broker-reload``), waits until the broker refuses a probe certificate on that CRL, and only
then drops the kiosk's live connection by taking over its client id, so its reconnect is refused
(``cert_service.cut_off``). Whatever the broker does, the central refuses everything the kiosk sends and
sends it nothing.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from central.ca import CAError, FleetCA
from central.cert_service import cut_off, revoked_devices
from central.store import CentralStore
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
    crl_active: bool = False  # the broker was seen running the new CRL before the drop (mqtts:// only)


def is_revoked(store: CentralStore, device_id: str) -> bool:
    return device_id in revoked_devices(store)


def revoke_kiosk(store: CentralStore, central_home: Path, broker_url: str, device_id: str, *, reason: str = "",
                 crl_copy: Path | None = None, broker_reload: Callable[[], None] | None = None) -> RevokeResult:
    """Revoke ``device_id`` and cut its live connection; :class:`RevokeFailed` says why it could not."""
    try:
        ca = FleetCA.open(central_home)
        tls = ca.central_tls() if broker_url and uses_tls(broker_url) else None
        done = cut_off(store, ca, device_id, broker_url=broker_url, tls=tls, reason=reason, crl_copy=crl_copy,
                       reload=broker_reload)
    except (CAError, TopicError, BrokerUrlError, OSError, subprocess.SubprocessError) as exc:
        log.warning("revoking %s failed: %s", device_id, type(exc).__name__)
        raise RevokeFailed(f"{type(exc).__name__}: {exc}") from exc
    return RevokeResult(done.revoked.device_id, len(done.revoked.serials), done.dropped, done.crl_active)


def reload_command(command: str) -> Callable[[], None]:
    """``--broker-reload CMD``: run CMD (split like a shell line, never through a shell) to make the broker
    re-read its CRL, e.g. ``systemctl reload mosquitto``; a failure raises ``CalledProcessError``."""
    argv = shlex.split(command)
    if not argv:
        raise ValueError("--broker-reload needs a command")

    def run() -> None:
        subprocess.run(argv, check=True, timeout=30, stdin=subprocess.DEVNULL, capture_output=True)

    return run
