"""``kiosk selftest`` asks the running app: a local socket in the kiosk's home through which the command
line reaches the drivers the touchscreen app really runs (a fresh simulated or configured set would pass
while the app's camera is unplugged, and would fight the app for the devices).

``{home}/ui-control.sock`` (a Unix socket, owner only). One request per connection, one JSON line each way:
``{"op": "selftest", "timeout_s": float}`` -> ``{"ok": true, "reports": [...]}`` (drivers.registry's
reports). Nothing else is served; nothing of a resident ever is.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger("kiosk.service")

SOCKET_FILE = "ui-control.sock"
MAX_REQUEST = 4096
SUN_PATH_MAX = 107


def socket_path(home: Path) -> Path:
    return home / SOCKET_FILE


class ControlServer(QObject):
    """Serves the running app's self-test to ``kiosk selftest`` (on the UI thread; the tests run off it)."""

    def __init__(self, home: Path, selftest: Callable[[float, Callable[[list[dict[str, Any]]], None]], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._selftest = selftest
        self._clients: list[QLocalSocket] = []
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        path = socket_path(home)
        self.listening = False
        if len(os.fsencode(path)) > SUN_PATH_MAX:
            log.warning("the control socket's path is too long for a Unix socket: kiosk selftest tests a fresh set")
            return
        if path.exists() and ask(home, {"op": "ping"}, 0.5) is None:
            QLocalServer.removeServer(str(path))  # left by an app that died
        self.listening = self.server.listen(str(path))
        if not self.listening:
            log.warning("control socket not available: %s", self.server.errorString())
        self.server.newConnection.connect(self._accept)

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            conn = self.server.nextPendingConnection()
            self._clients.append(conn)
            conn.readyRead.connect(lambda c=conn: self._read(c))
            conn.disconnected.connect(lambda c=conn: self._drop(c))

    def _drop(self, conn: QLocalSocket) -> None:
        if conn in self._clients:
            self._clients.remove(conn)
        conn.deleteLater()

    def _read(self, conn: QLocalSocket) -> None:
        if not conn.canReadLine():
            if conn.bytesAvailable() > MAX_REQUEST:
                conn.abort()
            return
        try:
            request = json.loads(bytes(conn.readLine().data()).decode("utf-8"))
            op = request.get("op") if isinstance(request, dict) else None
        except (ValueError, UnicodeDecodeError):
            op = None
        if op == "ping":
            self._reply(conn, {"ok": True})
        elif op == "selftest":
            timeout = float(request.get("timeout_s", 5.0)) if isinstance(request.get("timeout_s"), (int, float)) \
                else 5.0
            self._selftest(min(max(timeout, 0.5), 30.0), lambda reports: self._reply(conn, {"ok": True,
                                                                                             "reports": reports}))
        else:
            self._reply(conn, {"ok": False, "error": "unknown request"})

    def _reply(self, conn: QLocalSocket, answer: dict[str, Any]) -> None:
        if conn.state() != QLocalSocket.LocalSocketState.ConnectedState:
            return
        conn.write((json.dumps(answer, ensure_ascii=False) + "\n").encode("utf-8"))
        conn.flush()
        conn.disconnectFromServer()

    def close(self) -> None:
        self.server.close()


def ask(home: Path, request: dict[str, Any], timeout_s: float) -> dict[str, Any] | None:
    """One request to the running app; None when no app answers (not running, or no socket)."""
    path = socket_path(home)
    if not path.exists():
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout_s)
            s.connect(str(path))
            s.sendall((json.dumps(request) + "\n").encode("utf-8"))
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    try:
        answer = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return answer if isinstance(answer, dict) else None
