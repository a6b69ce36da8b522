"""A private Mosquitto for the demo, the tests and the benchmarks: its own port, config and folder.

Started as root, mosquitto drops to the ``mosquitto`` user, so the data folder is made for that user.
The process is stopped by its PID; nothing touches the system's own broker.

``tls_dir`` starts the broker from the configuration the project ships (packaging/broker/mosquitto.conf:
mutual TLS on the fleet listener, the enrolment listener, the ACL files), with its paths and ports
substituted, so the tests exercise the real thing. ``tls_dir`` holds ca.pem, server.pem, server.key and
crl.pem (``FleetCA.server_files`` writes them).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from devtools.processes import stop_process

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")
SHIPPED_CONFIG = Path(__file__).resolve().parents[1] / "packaging" / "broker"
SHIPPED_DIR = "/etc/mosquitto/kiosk/"  # where the shipped configuration expects its files


class BrokerError(RuntimeError):
    pass


def find_mosquitto() -> str:
    found = shutil.which("mosquitto") or next((p for p in MOSQUITTO_CANDIDATES if os.path.exists(p)), None)
    if not found:
        raise BrokerError("mosquitto is not installed (Debian package `mosquitto`)")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MosquittoBroker:
    def __init__(self, port: int | None = None, folder: Path | None = None, persistence: bool = False,
                 tls_dir: Path | None = None, enrol_port: int | None = None) -> None:
        self.port = port or free_port()
        self.persistence = persistence
        self.tls_dir = tls_dir
        self.enrol_port = (enrol_port or free_port()) if tls_dir is not None else None
        self._own_folder = folder is None
        self.folder = folder or Path(tempfile.mkdtemp(prefix="kiosk-mosquitto-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls_dir else 'mqtt'}://127.0.0.1:{self.port}"

    @property
    def enrol_url(self) -> str:
        """The enrolment listener (TLS mode only)."""
        if self.enrol_port is None:
            raise BrokerError("only a TLS broker has an enrolment listener")
        return f"mqtts://127.0.0.1:{self.enrol_port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "mosquitto.log"

    @property
    def installed_tls_dir(self) -> Path:
        """Where the broker reads its TLS files and ACLs (the production /etc/mosquitto/kiosk/)."""
        return self.folder / "kiosk"

    def _install_tls_files(self) -> None:
        """Copy the certificates and CRL from ``tls_dir`` and the shipped ACL files into the broker's own
        folder, readable by the user mosquitto drops to (it re-reads them on SIGHUP as that user)."""
        assert self.tls_dir is not None
        dest = self.installed_tls_dir
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("ca.pem", "server.pem", "server.key", "crl.pem"):
            shutil.copyfile(self.tls_dir / name, dest / name)
        for name in ("acl", "acl-enrol"):
            src = self.tls_dir / name if (self.tls_dir / name).exists() else SHIPPED_CONFIG / name
            shutil.copyfile(src, dest / name)
        if os.geteuid() == 0:
            try:
                mosq = pwd.getpwnam("mosquitto")
            except KeyError:
                return
            for p in (dest, *dest.iterdir()):
                os.chown(p, mosq.pw_uid, mosq.pw_gid)

    def _shipped_lines(self) -> list[str]:
        """The shipped TLS configuration with our folder and ports."""
        self._install_tls_files()
        text = (SHIPPED_CONFIG / "mosquitto.conf").read_text().replace(SHIPPED_DIR, f"{self.installed_tls_dir}/")
        lines = []
        for line in text.splitlines():
            if line == "listener 8883":
                line = f"listener {self.port} 127.0.0.1"
            elif line == "listener 8884":
                line = f"listener {self.enrol_port} 127.0.0.1"
            elif line.startswith("persistence "):
                continue  # set below, as for the plain broker
            lines.append(line)
        return lines

    def _write_config(self) -> Path:
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        lines = self._shipped_lines() if self.tls_dir is not None else self._plain_lines()
        if self.persistence:
            lines += ["persistence true", f"persistence_location {data}/", "autosave_interval 1"]
        else:
            lines.append("persistence false")
        if os.geteuid() == 0:
            try:
                mosq = pwd.getpwnam("mosquitto")
                for p in (self.folder, data):
                    os.chown(p, mosq.pw_uid, mosq.pw_gid)
            except KeyError:
                lines.append("user root")
        conf = self.folder / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def _plain_lines(self) -> list[str]:
        return [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            # Per-client queue bounds, count and bytes (the central's backlog lives here). Dropping on a full
            # queue loses nothing: kiosks resend every row until the central's signed ack names it.
            "max_queued_messages 100000",
            "max_queued_bytes 268435456",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]

    def start(self, timeout: float = 10.0) -> MosquittoBroker:
        if self.proc is not None and self.proc.poll() is None:
            return self
        conf = self._write_config()
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen([find_mosquitto(), "-c", str(conf)], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerError(f"mosquitto exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)  # the port is not open yet: poll again shortly
        self.stop()
        raise BrokerError(f"mosquitto did not open port {self.port} within {timeout} s")

    def reload(self) -> None:
        """Install the TLS files again and SIGHUP: Mosquitto 2 re-reads the CRL, the ACL files and the server
        certificate (connected clients stay connected; the new CRL applies to every new TLS handshake)."""
        if self.proc is None or self.proc.poll() is not None:
            raise BrokerError("mosquitto is not running")
        if self.tls_dir is not None:
            self._install_tls_files()  # as an operator would copy the new crl.pem into place
        self.proc.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_process(self.proc)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.cleanup()
