"""Broker URLs as operators write them: ``mqtt://host:port`` (plain TCP) or ``mqtts://host:port`` (TLS,
with the fleet's client certificates; see docs/PROTOCOL.md, Transport trust)."""

from __future__ import annotations

from urllib.parse import urlsplit


class BrokerUrlError(ValueError):
    pass


_DEFAULT_PORTS = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}


def parse_broker_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise BrokerUrlError("broker URL must look like mqtt://host:port or mqtts://host:port")
    try:
        port = parts.port
    except ValueError as exc:
        raise BrokerUrlError("broker URL has a bad port") from exc
    return parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def uses_tls(url: str) -> bool:
    return urlsplit(url).scheme in ("mqtts", "ssl")
