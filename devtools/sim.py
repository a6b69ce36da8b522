"""``kiosk-sim``: headless kiosks running the real sync engine, for load and fault tests and the fleet view.

Each simulated kiosk is what a real one is below its screen: its own home folder with a ``device.json``
and a real :class:`~sync.outbox.store.Outbox` (SQLite), and a real :class:`~sync.daemon.service.SyncDaemon`
on its own thread with its own MQTT connection. Submissions are fictional (测试用户0001, made-up ID
numbers and phones), sealed for the central's public key exactly as the touchscreen app seals them.

Library use::

    fleet = SimFleet(broker_url, devices=20, seal_key=b64_key).start()
    fleet.submit(per_device=50)            # rate=0: all at once; rate=R: R per second per kiosk
    assert fleet.wait_all_acked(60)
    fleet.kill(3)                          # abrupt: no offline status, the broker publishes the Will
    fleet.restart(3)                       # same outbox, next connection counter
    fleet.close()                          # graceful: every daemon publishes offline

The abrupt kill and the network drop shut the daemon's socket down without an MQTT DISCONNECT, which is
what a pulled cable followed by a TCP reset, or ``kill -9``, looks like to the broker.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import logging
import os
import random
import select as io_select
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from sync.daemon.service import SyncDaemon
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.models import OutboxMessage, State
from sync.outbox.store import Outbox, OutboxFull
from sync.protocol.broker_url import BrokerUrlError, parse_broker_url, uses_tls
from sync.protocol.signing import DEVICE_KEY_FILE, DeviceSigner
from sync.protocol.topics import TopicError, check_device_id
from sync.runtime.backoff import Backoff
from sync.runtime.cli_common import print_json
from sync.runtime.logconfig import setup_logging
from sync.runtime.mqtt import TlsFiles

log = logging.getLogger("kiosk.sim")

# Street offices (街道) the simulated kiosks stand in; --site-prefix puts a city/district before them.
SITE_NAMES = (
    "东华门街道", "景山街道", "交道口街道", "安定门街道", "北新桥街道", "东四街道", "朝阳门街道",
    "建国门街道", "和平里街道", "前门街道", "崇文门外街道", "天坛街道", "永定门外街道", "龙潭街道",
    "体育馆路街道", "月坛街道", "展览路街道", "德胜街道", "金融街街道", "什刹海街道", "广安门内街道",
    "白纸坊街道", "牛街街道", "陶然亭街道",
)

# (service code, item name, extra field label): fictional service items shaped like the catalogue's.
SERVICES = (
    ("MZ-LNYD-001", "老年人优待证申领", "居住地址"),
    ("MZ-GNBZ-002", "高龄津贴申请", "开户银行"),
    ("RS-SYDJ-003", "失业登记", "原工作单位"),
    ("YB-CBDJ-004", "城乡居民医保参保登记", "参保类别"),
    ("JS-ZSZM-005", "居住证明开具", "居住地址"),
    ("CL-CJZ-006", "残疾人证换领", "残疾类别"),
)

# Up to this many kiosks the daemons run with the product's timings; larger fleets poll less (_pacing).
SMALL_FLEET = 20
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _pacing(devices: int) -> tuple[float, float | None]:
    """(outbox poll interval, socket wait) for a fleet of this size: every daemon is a Python thread, and
    on two cores 200 of them polling SQLite ten times a second would leave nothing for delivering."""
    if devices <= SMALL_FLEET:
        return 0.1, None  # the daemon's own defaults
    if devices <= 100:
        return 0.5, 0.25
    return 2.0, 0.5


def default_heartbeat(devices: int) -> float:
    """10 s, or the daemon's own 30 s above 100 kiosks (a heartbeat costs a sim kiosk ~20 ms of CPU)."""
    return 10.0 if devices <= 100 else 30.0


class SimError(ValueError):
    """Bad simulator settings (shown to the operator as they are)."""


def fictional_id_number(rng: random.Random) -> str:
    """A well-formed but invented 18-digit number (GB 11643 check digit) in Dongcheng's region code."""
    born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 60))
    body = f"110101{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
    return body + _ID_CHECK[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]


def fictional_fields(n: int, rng: random.Random) -> tuple[str, list[dict[str, Any]]]:
    """A service code and about 1 KB of form fields for fictional applicant number ``n``."""
    code, item, extra = SERVICES[n % len(SERVICES)]
    name = f"测试用户{n % 10000:04d}"
    remark = f"模拟申请（{item}）：本记录由 kiosk-sim 生成，仅用于联调与压力测试，不含任何真实个人信息。" * 4
    fields: list[dict[str, Any]] = [
        {"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": name},
        {"id": "id_number", "kind": "id_number", "label": "公民身份号码", "value": fictional_id_number(rng)},
        {"id": "phone", "kind": "phone", "label": "联系电话", "value": f"139{rng.randrange(10**8):08d}"},
        {"id": "extra", "kind": "text", "label": extra, "value": f"模拟数据{rng.randrange(1000):03d}号"},
        {"id": "remark", "kind": "text", "label": "备注", "value": remark},
    ]
    return code, fields


def _poll_loop(client: mqtt.Client, floor: float) -> Callable[..., mqtt.MQTTErrorCode]:
    """``client.loop`` for a process holding many kiosks: paho's own loop waits with select(), which fails
    for descriptors above 1023 (FD_SETSIZE) and 200 kiosks with their SQLite files hold more than that.
    This one waits with poll() and then does what paho's does, through paho's external-loop calls.
    ``floor`` lengthens the daemon's 50 ms wait for large fleets; traffic still wakes it at once."""

    def loop(timeout: float = 1.0) -> mqtt.MQTTErrorCode:
        sock = client.socket()
        if sock is None:
            return mqtt.MQTT_ERR_NO_CONN
        poller = io_select.poll()
        try:
            poller.register(sock, io_select.POLLIN | (io_select.POLLOUT if client.want_write() else 0))
            events = poller.poll(max(timeout, floor) * 1000)
        except (OSError, ValueError, TypeError):
            return mqtt.MQTT_ERR_CONN_LOST
        ready = events[0][1] if events else 0
        if ready & (io_select.POLLIN | io_select.POLLERR | io_select.POLLHUP):
            rc = client.loop_read()
            if rc != mqtt.MQTT_ERR_SUCCESS:
                return rc
            if client.socket() is None:
                return mqtt.MQTT_ERR_CONN_LOST
        if client.want_write():
            rc = client.loop_write()
            if rc != mqtt.MQTT_ERR_SUCCESS:
                return rc
        return client.loop_misc()

    return loop


class SimDaemon(SyncDaemon):
    """The real sync daemon with two faults a test can inject: a dropped connection and an abrupt death."""

    def __init__(self, *args: Any, loop_timeout_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loop_timeout_s = loop_timeout_s
        self._abrupt = threading.Event()
        self._client: mqtt.Client | None = None  # the last paho client made (drop_connection cuts its socket)
        make = self.connection.client_factory

        def poll_client(client_id: str, tls: TlsFiles | None) -> mqtt.Client:
            client = make(client_id, tls)
            client.loop = _poll_loop(client, self.loop_timeout_s or 0.0)  # type: ignore[method-assign]
            self._client = client
            return client

        self.connection.client_factory = poll_client

    @property
    def conn(self) -> int:
        """The connection counter of the current (or last) connection, as in its status messages."""
        return self._conn_counter

    def drop_connection(self) -> bool:
        """Cut the TCP connection without an MQTT DISCONNECT (the broker publishes the Will); the daemon
        notices and reconnects with its next connection counter. False if it had no connection."""
        client = self._client
        sock = client.socket() if client is not None else None
        if not isinstance(sock, socket.socket):
            return False
        try:
            # Safe from another thread: the daemon's select() wakes up on the shut socket, paho reports the
            # loss, and the daemon's own thread closes it. The broker sees the connection end without an
            # MQTT DISCONNECT, as after kill -9, and publishes the Will.
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            return False
        return True

    def kill(self, timeout: float = 10.0) -> None:
        """Die like ``kill -9``: no offline status; the broker publishes the Will."""
        self._abrupt.set()
        self.drop_connection()
        self.stop(timeout)

    def _goodbye(self) -> mqtt.MQTTMessageInfo | None:
        if self._abrupt.is_set():
            return None  # killed: no offline status (the socket is already cut; the broker says the Will)
        return super()._goodbye()


def relax_fsync(outbox: Outbox) -> None:
    """``synchronous=NORMAL`` for a sim kiosk's outbox. A real kiosk fsyncs every commit on its own disk;
    200 sim kiosks share one disk, where that would measure the disk instead of the broker and the
    central. WAL + NORMAL still survives the death of the process, just not a power cut."""
    outbox.engine.dispose()  # connections opened so far were set up with FULL

    @event.listens_for(outbox.engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


@dataclass
class SimKiosk:
    index: int
    home: Path
    device: DeviceConfig
    outbox: Outbox
    daemon: SimDaemon | None = None
    submitted: int = 0
    refused: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def device_id(self) -> str:
        return self.device.device_id

    def submission_counts(self) -> dict[str, int]:
        counts = self.outbox.counts_by_kind().get("submission", {})
        return {state: int(counts.get(state, 0)) for state in State.ALL}

    def sends(self) -> int:
        """Publishes of submissions so far (first sends and resends)."""
        with Session(self.outbox.engine) as s:
            return int(s.scalar(select(func.coalesce(func.sum(OutboxMessage.attempts), 0))
                                .where(OutboxMessage.kind == "submission")) or 0)


class SimFleet:
    """N simulated kiosks; see the module docstring."""

    def __init__(self, broker_url: str, devices: int, *, seal_key: str, command_key: str = "",
                 home: Path | str | None = None, site_prefix: str = "", id_prefix: str = "sim",
                 heartbeat_s: float | None = None, poll_interval_s: float | None = None, keepalive_s: int = 30,
                 window: int = 20, backoff: tuple[float, float] = (0.5, 30.0), seed: int | None = None,
                 durable: bool = False, enroll: Callable[[str, bytes], None] | None = None,
                 issue_tls: Callable[[Path, str], None] | None = None) -> None:
        if devices < 1 or devices > 9999:
            raise SimError("--devices must be between 1 and 9999")
        try:
            parse_broker_url(broker_url)
        except BrokerUrlError as exc:
            raise SimError(str(exc)) from exc
        if uses_tls(broker_url) != (issue_tls is not None):
            raise SimError("an mqtts:// broker needs --tls CA_DIR (the kiosks' client certificates), and --tls "
                           "needs an mqtts:// broker")
        try:
            if len(base64.b64decode(seal_key, validate=True)) != 32:
                raise SimError("the central's seal key must be 32 bytes (base64)")
            if command_key and len(base64.b64decode(command_key, validate=True)) != 32:
                raise SimError("the central's command key must be 32 bytes (base64)")
        except binascii.Error as exc:
            raise SimError("central keys must be base64") from exc
        try:
            check_device_id(f"{id_prefix}-{devices:04d}")
        except TopicError as exc:
            raise SimError(f"--id-prefix: {exc}") from exc
        if heartbeat_s is None:
            heartbeat_s = default_heartbeat(devices)
        if heartbeat_s <= 0:
            raise SimError("--heartbeat must be positive")
        self.broker_url = broker_url
        self.n = devices
        self.seal_key = seal_key
        self.command_key = command_key
        if not command_key:  # sync.protocol.acksign: a kiosk without it acts on no ack, so nothing drains
            log.warning("no central command key: these kiosks will refuse every ack and never drain")
        self.site_prefix = site_prefix
        self.id_prefix = id_prefix
        self.heartbeat_s = heartbeat_s
        default_poll, self.loop_timeout_s = _pacing(devices)
        self.poll_interval_s = poll_interval_s if poll_interval_s is not None else default_poll
        self.keepalive_s = keepalive_s
        self.window = window
        self.backoff = backoff
        self.seed = seed
        self.durable = durable
        # Registers each kiosk's device key (device id, raw Ed25519 public key) with the central: the
        # central refuses messages of kiosks it does not know (central.trust.register_key).
        self.enroll = enroll
        # TLS fleets: writes kiosk (home, device id)'s client certificate and the fleet CA into its secrets, as
        # an enrolled kiosk has them (devtools.provision_tls.issue_kiosk_identity).
        self.issue_tls = issue_tls
        self._own_home = home is None
        self.home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="kiosk-sim-"))
        self.kiosks: list[SimKiosk] = []
        self._stop = threading.Event()
        self._feeder: threading.Thread | None = None
        self._target = 0
        self._fed = threading.Event()
        self._fed.set()
        self.started_at: float | None = None
        self.all_acked_at: float | None = None
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------------

    def device_id(self, index: int) -> str:
        return f"{self.id_prefix}-{index + 1:04d}"

    def start(self) -> SimFleet:
        """Provision every kiosk's home (kept if it exists: a rerun resumes its queue) and start the daemons."""
        self.home.mkdir(parents=True, exist_ok=True)
        for i in range(self.n):
            device_id = self.device_id(i)
            home = self.home / device_id
            home.mkdir(parents=True, exist_ok=True)
            site = self.site_prefix + SITE_NAMES[i % len(SITE_NAMES)]
            device = DeviceConfig(device_id, site, self.broker_url, self.seal_key, self.command_key)
            device.save(home)
            key_path = home / DEVICE_KEY_FILE
            signer = DeviceSigner.from_pem(key_path.read_bytes()) if key_path.exists() else DeviceSigner.generate()
            if not key_path.exists():
                signer.save(home)
            if self.enroll is not None:
                self.enroll(device_id, signer.public_raw)
            if self.issue_tls is not None:
                self.issue_tls(home, device_id)
            outbox = Outbox(home / OUTBOX_FILE)
            if not self.durable:
                relax_fsync(outbox)
            self.kiosks.append(SimKiosk(i, home, device, outbox))
        self.started_at = time.monotonic()
        for k in self.kiosks:
            self._start_daemon(k)
        return self

    def _start_daemon(self, kiosk: SimKiosk) -> SimDaemon:
        rng = random.Random(None if self.seed is None else self.seed * 100_003 + kiosk.index)  # noqa: S311
        daemon = SimDaemon(kiosk.outbox, kiosk.device, window=self.window, poll_interval_s=self.poll_interval_s,
                           keepalive_s=self.keepalive_s, heartbeat_interval_s=self.heartbeat_s,
                           backoff=Backoff(*self.backoff, rng=rng), loop_timeout_s=self.loop_timeout_s)
        kiosk.daemon = daemon
        daemon.start()
        return daemon

    def daemon(self, index: int) -> SimDaemon:
        d = self.kiosks[index].daemon
        if d is None:
            raise SimError(f"kiosk {index} has no daemon")
        return d

    def kill(self, index: int, timeout: float = 10.0) -> None:
        """Stop kiosk ``index``'s daemon abruptly: no offline status, so the broker publishes its Will."""
        self.daemon(index).kill(timeout)

    def drop_connection(self, index: int) -> bool:
        """Cut kiosk ``index``'s connection (its Will fires); the daemon reconnects by itself."""
        return self.daemon(index).drop_connection()

    def restart(self, index: int) -> SimDaemon:
        """A new daemon on the same outbox (after :meth:`kill` or :meth:`stop_one`)."""
        kiosk = self.kiosks[index]
        if kiosk.daemon is not None and kiosk.daemon._thread is not None and kiosk.daemon._thread.is_alive():
            raise SimError(f"kiosk {index}'s daemon is still running")
        return self._start_daemon(kiosk)

    def stop_one(self, index: int, timeout: float = 10.0) -> None:
        """Stop one daemon gracefully (it publishes offline)."""
        self.daemon(index).stop(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the feeder and every daemon gracefully (each publishes its offline status)."""
        self._stop.set()
        if self._feeder is not None:
            self._feeder.join(timeout)
        daemons = [k.daemon for k in self.kiosks if k.daemon is not None]
        for d in daemons:
            d.request_stop()  # all at once: they say goodbye in parallel
        deadline = time.monotonic() + timeout
        for d in daemons:
            d.stop(max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stop()
        for k in self.kiosks:
            k.outbox.close()
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> SimFleet:
        return self.start() if not self.kiosks else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- load ----------------------------------------------------------------------------------------

    def submit(self, per_device: int, rate: float = 0.0) -> None:
        """Queue ``per_device`` fictional submissions on every kiosk, from a feeder thread.

        ``rate`` is submissions per second per kiosk (0: all at once). Returns at once; see
        :meth:`wait_submitted`. Kiosks are fed round-robin, staggered so they do not submit in lockstep.
        """
        if per_device < 0 or rate < 0:
            raise SimError("submissions and rate must not be negative")
        if self._feeder is not None and self._feeder.is_alive():
            raise SimError("a feeder is already running")
        self._target += per_device * self.n
        self._fed.clear()
        self._feeder = threading.Thread(target=self._feed, args=(per_device, rate), name="kiosk-sim-feeder",
                                        daemon=True)
        self._feeder.start()

    def _feed(self, per_device: int, rate: float) -> None:
        rng = random.Random(self.seed)  # noqa: S311 - fictional data
        t0 = time.monotonic()
        try:
            for k in range(per_device):
                for kiosk in self.kiosks:
                    if rate > 0:
                        due = t0 + (k + kiosk.index / self.n) / rate
                        if self._stop.wait(max(0.0, due - time.monotonic())):
                            return
                    elif self._stop.is_set():
                        return
                    self._enqueue_one(kiosk, rng)
        finally:
            self._fed.set()

    def _enqueue_one(self, kiosk: SimKiosk, rng: random.Random) -> None:
        n = kiosk.index * 10_000 + kiosk.submitted + kiosk.refused + 1
        code, fields = fictional_fields(n, rng)
        try:
            kiosk.outbox.enqueue_submission(kiosk.device, code, fields)
        except OutboxFull as exc:
            kiosk.refused += 1
            log.warning("%s refused a submission: %s", kiosk.device_id, exc.code)
            return
        kiosk.submitted += 1

    def wait_submitted(self, timeout: float | None = None) -> bool:
        return self._fed.wait(timeout)

    # -- observation ---------------------------------------------------------------------------------

    def totals(self) -> dict[str, int]:
        out = dict.fromkeys(State.ALL, 0)
        for k in self.kiosks:
            for state, n in k.submission_counts().items():
                out[state] += n
        return out

    def all_acked(self) -> bool:
        if not self._fed.is_set():
            return False
        done = True
        for k in self.kiosks:
            counts = k.submission_counts()
            if counts[State.ACKED] + counts[State.REJECTED] < k.submitted:
                done = False
                break
        if done and self.all_acked_at is None:
            self.all_acked_at = time.monotonic()
        return done

    def wait_all_acked(self, timeout: float) -> bool:
        """True once every submission queued so far has been acknowledged (or refused) by the central."""
        deadline = time.monotonic() + timeout
        tick = 0.1 if self.n <= SMALL_FLEET else 0.5
        while not self.all_acked():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._stop.wait(min(tick, remaining))
            if self._stop.is_set():
                return self.all_acked()
        return True

    def connected(self) -> int:
        return sum(1 for k in self.kiosks if k.daemon is not None and k.daemon.connected.is_set())

    def summary(self) -> dict[str, Any]:
        """The figures ``kiosk-sim --json`` prints."""
        totals = self.totals()
        end = self.all_acked_at if self.all_acked_at is not None else time.monotonic()
        seconds = max(1e-6, end - (self.started_at or end))
        acked = totals[State.ACKED]
        sends = sum(k.sends() for k in self.kiosks)
        return {
            "devices": self.n,
            "submitted": sum(k.submitted for k in self.kiosks),
            "acked": acked,
            "pending": totals[State.PENDING] + totals[State.SENT],
            "rejected": totals[State.REJECTED],
            "refused": sum(k.refused for k in self.kiosks),
            "resends": max(0, sends - acked - totals[State.REJECTED]) if sends else 0,
            "seconds": round(seconds, 3),
            "msgs_per_s": round(acked / seconds, 1),
        }


# -- command line ------------------------------------------------------------------------------------


def _central_keys(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[str, str]:
    if args.central_home and args.seal_key:
        parser.error("give either --central-home or --seal-key, not both")
    if args.central_home:
        from central.keys import CentralKeys, KeysError  # the central side only for this option

        try:
            keys = CentralKeys.load(Path(args.central_home)).public_keys()
        except KeysError as exc:
            parser.error(str(exc))
        return keys["seal_public_key"], keys["command_public_key"]
    if args.seal_key:
        return args.seal_key, args.command_key or ""
    parser.error("the central's public key is needed: --central-home DIR or --seal-key B64")


def _enrolment(args: argparse.Namespace) -> tuple[Callable[[str, bytes], None] | None, Callable[[], None]]:
    """Where the simulated kiosks' keys are registered: ``--enroll-db``, else the central home's database."""
    url = args.enroll_db
    if not url and args.central_home and (Path(args.central_home) / "central.db").exists():
        url = f"sqlite:///{Path(args.central_home) / 'central.db'}"
    if not url:
        log.warning("no --enroll-db: the central must already know these kiosks' keys, or it refuses them")
        return None, lambda: None
    from central.store import CentralStore  # the central side only for this option
    from central.trust import register_key

    store = CentralStore(url)
    return (lambda device_id, raw: register_key(store, device_id, raw, how="kiosk-sim")), store.close


def _tls_issuer(args: argparse.Namespace,
                parser: argparse.ArgumentParser) -> Callable[[Path, str], None] | None:
    """``--tls CA_DIR``: the fleet CA that gives each simulated kiosk its client certificate."""
    if not args.tls:
        return None
    from central.ca import CAError  # the central side only for this option
    from devtools.provision_tls import issue_kiosk_identity, load_ca

    try:
        ca = load_ca(Path(args.tls))
    except CAError as exc:
        parser.error(f"--tls: {exc}")

    def issue(home: Path, device_id: str) -> None:
        issue_kiosk_identity(ca, home, device_id)

    return issue


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kiosk-sim",
        description="Headless kiosks running the real sync engine (outbox + sync daemon), for load and fault "
                    "tests and the fleet dashboard. Submissions are fictional.")
    p.add_argument("--devices", type=int, default=1, help="simulated kiosks (default 1)")
    p.add_argument("--submissions", type=int, default=0, help="submissions per kiosk, ~1 KB each (default 0)")
    p.add_argument("--broker", required=True, help="mqtt://host:port, or mqtts://host:port with --tls")
    p.add_argument("--central-home", help="the central's folder: its public keys are read from keys.json")
    p.add_argument("--seal-key", help="the central's X25519 public key (base64), instead of --central-home")
    p.add_argument("--command-key", help="the central's Ed25519 command key (base64), with --seal-key")
    p.add_argument("--enroll-db", help="the central's database (SQLAlchemy URL): the simulated kiosks' device keys "
                                       "are registered there (default: the database in --central-home, if any)")
    p.add_argument("--tls", metavar="CA_DIR",
                   help="the fleet CA's folder (ca_key.pem, ca_cert.pem; or the central's home): each kiosk gets a "
                        "client certificate signed by it, as an enrolled kiosk has, for an mqtts:// broker")
    p.add_argument("--home", help="folder for the kiosks' homes (default: a temporary folder, removed at exit)")
    p.add_argument("--site-prefix", default="", help="put before every site name, e.g. 北京市东城区")
    p.add_argument("--id-prefix", default="sim", help="device ids are PREFIX-0001, PREFIX-0002, ... (default sim)")
    p.add_argument("--rate", type=float, default=0.0, help="submissions per second per kiosk (0: all at once)")
    p.add_argument("--heartbeat", type=float,
                   help="heartbeat interval in seconds (default 10; 30 for more than 100 devices)")
    p.add_argument("--duration", type=float,
                   help="keep running (and heartbeating) for this many seconds; default: exit once all are acked")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="give up waiting for acks after this many seconds (default 300; exit status 1)")
    p.add_argument("--durable", action="store_true",
                   help="fsync every outbox commit as a real kiosk does (default: off, the kiosks share one disk)")
    p.add_argument("--seed", type=int, help="seed for the fictional data and the reconnect jitter")
    p.add_argument("--json", action="store_true", help="print a summary as JSON")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.submissions < 0:
        parser.error("--submissions must not be negative")
    if args.rate < 0:
        parser.error("--rate must not be negative")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if args.duration is not None and args.duration < 0:
        parser.error("--duration must not be negative")
    if args.command_key and not args.seal_key:
        parser.error("--command-key goes with --seal-key")
    seal_key, command_key = _central_keys(args, parser)
    issue_tls = _tls_issuer(args, parser)
    enroll, close_enrolment = _enrolment(args)
    setup_logging(args.verbose)
    if not args.verbose and not os.environ.get("KIOSK_LOG_LEVEL"):
        # N daemons each logging every connection and ack would drown the summary.
        logging.getLogger("kiosk").setLevel(logging.WARNING)
    try:
        fleet = SimFleet(args.broker, args.devices, seal_key=seal_key, command_key=command_key, home=args.home,
                         site_prefix=args.site_prefix, id_prefix=args.id_prefix, heartbeat_s=args.heartbeat,
                         seed=args.seed, durable=args.durable, enroll=enroll, issue_tls=issue_tls)
    except SimError as exc:
        parser.error(str(exc))

    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ok = True
    try:
        fleet.start()
        fleet.submit(args.submissions, args.rate)
        if args.duration is not None:
            stop.wait(args.duration)
            fleet.all_acked()
        else:
            deadline = time.monotonic() + args.timeout
            while not fleet.all_acked():
                if stop.wait(min(0.2 if args.devices <= SMALL_FLEET else 0.5, max(0.0, deadline - time.monotonic()))):
                    break
                if time.monotonic() >= deadline:
                    ok = False
                    log.warning("timed out after %.0f s with submissions still unacknowledged", args.timeout)
                    break
        fleet.stop()
        summary = fleet.summary()
    finally:
        fleet.close()
        close_enrolment()
    if summary["pending"] and args.duration is None and not stop.is_set():
        ok = False
    if args.json:
        print_json(summary)
    else:
        print(f"{summary['devices']} kiosks: {summary['acked']}/{summary['submitted']} submissions acknowledged "
              f"in {summary['seconds']:.1f} s ({summary['msgs_per_s']:.1f}/s), {summary['pending']} pending")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
