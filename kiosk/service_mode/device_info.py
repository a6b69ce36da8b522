"""What the device page shows: who this kiosk is (id, site, display name), what it runs (version, release),
where it is on the network (its addresses, the broker) and until when its TLS certificate is valid. No
secret and no personal data: the page is for the technician and the hotline."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from cryptography import x509

from sync.daemon.service import APP_VERSION
from sync.device import SECRETS_DIR, TLS_IDENTITY_FILE, DeviceConfig
from sync.kiosk_config import load_config

log = logging.getLogger("kiosk.service")


def certificate_expiry(home: Path) -> float | None:
    """``not_valid_after`` of the kiosk's TLS client certificate, or None (no TLS fleet, or unreadable)."""
    path = home / SECRETS_DIR / TLS_IDENTITY_FILE
    try:
        pem = path.read_bytes()
    except OSError:
        return None
    start = pem.find(b"-----BEGIN CERTIFICATE-----")
    if start < 0:
        return None
    try:
        cert = x509.load_pem_x509_certificate(pem[start:])
    except ValueError:
        log.warning("the TLS client certificate cannot be read")
        return None
    return cert.not_valid_after_utc.timestamp()


def device_info(home: Path, device: DeviceConfig | None, states: dict[str, str],
                addresses: list[str]) -> dict[str, Any]:
    config = load_config(home)
    expiry = certificate_expiry(home)
    host_port = ""
    if device is not None:
        host, port = device.broker_host_port
        host_port = f"{host}:{port}"
    release = states.get("release_version") or ""
    return {
        "deviceId": device.device_id if device else "",
        "site": device.site if device else "",
        "siteName": str(config.get("site_display_name") or ""),
        "version": APP_VERSION + (f"（{release}）" if release else ""),
        "addresses": ", ".join(addresses),
        "broker": (device.broker_url if device else ""),
        "brokerHostPort": host_port,
        "certExpiry": (dt.datetime.fromtimestamp(expiry).strftime("%Y-%m-%d %H:%M") if expiry is not None else ""),
    }
