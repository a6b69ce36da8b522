"""What the network & sync screen shows: broker reachability and TLS, the daemon's connection, last
delivery, queue counts by state, the oldest pending age; and "retry now". Counts and ages only:
never a row's content, so no personal data can reach this screen."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sync.daemon.service import CONNECT_ERROR_STATE
from sync.device import DeviceConfig
from sync.outbox.status import daemon_connected
from sync.outbox.store import Outbox

# The sync daemon polls this state key and, when set, reconnects at once / resends unacked rows.
RETRY_STATE = "retry_requested"
TLS_SCHEMES = ("mqtts", "ssl", "tls", "wss")


@dataclass(frozen=True)
class NetworkReport:
    broker: str  # host:port, or "" when not provisioned
    tls: bool
    reachable: bool | None  # TCP connect to the broker; None when not checked
    reach_error: str
    connected: bool  # the daemon's MQTT session
    daemon_running: bool
    last_delivery: float | None
    counts: dict[str, int]
    oldest_pending_s: float | None
    retry_pending: bool
    connect_error: dict[str, Any] | None = None  # the daemon's last failed attempt (CONNECT_ERROR_STATE)


def broker_endpoint(device: DeviceConfig | None) -> tuple[str, int, bool] | None:
    if device is None:
        return None
    parts = urlsplit(device.broker_url)
    if not parts.hostname:
        return None
    tls = parts.scheme in TLS_SCHEMES
    return parts.hostname, parts.port or (8883 if tls else 1883), tls


def probe(host: str, port: int, timeout_s: float = 2.0) -> tuple[bool, str]:
    """Can a TCP connection to the broker be opened? (error kind, never more)"""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True, ""
    except OSError as exc:
        return False, type(exc).__name__


def report(outbox: Outbox, device: DeviceConfig | None, *, check_broker: bool = True,
           now: float | None = None) -> NetworkReport:
    now = time.time() if now is None else now
    states = outbox.states()
    endpoint = broker_endpoint(device)
    reachable: bool | None = None
    error = ""
    if endpoint is not None and check_broker:
        reachable, error = probe(endpoint[0], endpoint[1])
    try:
        seen = float(states.get("daemon_seen", "0") or 0)
    except ValueError:
        seen = 0.0
    last = states.get("last_delivery")
    return NetworkReport(
        broker=f"{endpoint[0]}:{endpoint[1]}" if endpoint else "",
        tls=bool(endpoint and endpoint[2]),
        reachable=reachable,
        reach_error=error,
        connected=daemon_connected(states, now),
        daemon_running=now - seen < 15.0,
        last_delivery=float(last) if last else None,
        counts=outbox.counts(),
        oldest_pending_s=outbox.oldest_undelivered_age(),
        retry_pending=bool(states.get(RETRY_STATE)),
        connect_error=connect_error(outbox),
    )


def request_retry(outbox: Outbox) -> None:
    outbox.set_states({RETRY_STATE: str(time.time())})


def connect_error(outbox: Outbox) -> dict[str, Any] | None:
    """The daemon's last failed connection attempt (sync.daemon.service.CONNECT_ERROR_STATE), or None."""
    text = outbox.states().get(CONNECT_ERROR_STATE) or ""
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


_ERRORS = {
    "refused": "无法连接平台 {where}：对方拒绝连接（端口不对，或平台的消息服务未运行）",
    "unreachable": "无法连接平台 {where}：网络不通（请检查网线、路由或防火墙）",
    "name": "无法连接平台：找不到主机 {host}（请检查 DNS，或开通码中的平台地址）",
    "timeout": "连接平台 {where} 超时（请检查网络或防火墙）",
    "tls": "与平台 {where} 的加密连接（TLS）失败：{detail}",
    "clock": "平台 {where} 的证书校验失败（{detail}）：本机时间为 {time}，请先校准时间",
    "broker_refused": "平台 {where} 拒绝了本机的连接（{detail}）",
    "other": "无法连接平台 {where}（{detail}）",
}


def explain_connect_error(error: dict[str, Any] | None) -> str:
    """A failed connection in the technician's words: which host and port, TLS or not, and what went wrong."""
    if not error:
        return "尚未连接平台"
    host, port = str(error.get("host", "")), error.get("port", "")
    where = f"{host}:{port}" + ("（TLS）" if error.get("tls") else "")
    at = error.get("at")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(at))) if isinstance(at, (int, float)) else "?"
    template = _ERRORS.get(str(error.get("error")), _ERRORS["other"])
    return template.format(where=where, host=host, detail=str(error.get("detail", "")), time=when)
