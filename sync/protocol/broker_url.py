"""Broker URLs as operators write them: ``mqtt://host:port``."""

from __future__ import annotations

from urllib.parse import urlsplit


class BrokerUrlError(ValueError):
    pass


def parse_broker_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise BrokerUrlError("broker URL must look like mqtt://host:port")
    return parts.hostname, parts.port or 1883
