"""Which key each kiosk signs with: the central's cache of the ``device_keys`` table.

A message is attributed to a kiosk only if it verifies against the public key that kiosk enrolled
(``central.enrolment.accept``). The ingest looks keys up here on every message, so they are cached;
an entry is read again after ``ttl_s`` (a re-enrolled or revoked kiosk takes effect within that time) and
at once when a signature fails against a cached key (the kiosk may have just re-enrolled).
"""

from __future__ import annotations

import base64
import binascii
import threading
import time

from central.models import DeviceKey
from central.store import CentralStore
from sync.protocol.signing import SignatureError, VerifyKey, public_key

DEFAULT_TTL_S = 30.0
UNKNOWN_TTL_S = 5.0  # "no such kiosk" is remembered briefly: an enrolment in another worker shows up soon


class Keyring:
    def __init__(self, store: CentralStore, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, VerifyKey | None]] = {}

    def get(self, device_id: str, *, fresh: bool = False) -> VerifyKey | None:
        """The enrolled key of ``device_id``, or None for a kiosk the central does not know."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(device_id)
        if hit is not None and not fresh and now - hit[0] < (self.ttl_s if hit[1] is not None else UNKNOWN_TTL_S):
            return hit[1]
        with self.store.session() as s:
            row = s.get(DeviceKey, device_id)
            encoded = row.public_key if row is not None else None
        key = _decode(encoded) if encoded else None
        with self._lock:
            if len(self._cache) > 100_000:  # junk device ids must not grow this without bound
                self._cache.clear()
            self._cache[device_id] = (now, key)
        return key

    def forget(self, device_id: str) -> None:
        with self._lock:
            self._cache.pop(device_id, None)


def _decode(encoded: str) -> VerifyKey | None:
    try:
        return public_key(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError, SignatureError):
        return None


def register_key(store: CentralStore, device_id: str, public_raw: bytes, *, how: str = "registered",
                 now: float | None = None) -> None:
    """Record a kiosk's public key without an enrolment token: for operators moving a fleet onto device
    signatures, for ``kiosk-sim`` fleets and for tests. Enrolment proper is ``enrolment.accept``."""
    public_key(public_raw)  # 32 bytes of an Ed25519 key, or SignatureError
    with store.session() as s, s.begin():
        s.merge(DeviceKey(device_id=device_id, public_key=base64.b64encode(public_raw).decode("ascii"),
                          enrolled_at=time.time() if now is None else now, token_id=how[:64]))
