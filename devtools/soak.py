"""Soak: a kiosk fleet under injected faults for a bounded time, then the books are balanced.

Every part is the real, separately running program: a private Mosquitto (:class:`~devtools.broker.MosquittoBroker`,
with persistence, restarted on the same port), the central (``kiosk-central serve`` in its own process) and
one ``kiosk-syncd`` process per kiosk, each on its own home (``device.json`` + ``outbox.db``). This process
plays every kiosk's touchscreen: it queues fictional submissions (some with a document photo) into the
kiosks' outboxes at a steady rate for the whole fleet, exactly as the UI process does beside the daemon.

A seeded schedule injects the faults: broker restarts (SIGTERM or SIGKILL, then a start on the same port),
central restarts (SIGKILL: stored but perhaps not acked; then a new ``serve``) and ``kiosk-syncd`` kills
(SIGKILL of that kiosk's process; the kiosk keeps queueing while it is down; a new daemon later). The
intervals are the experiment's schedule; every other wait is on a condition with a deadline.

At the end the feed stops, every part is up again, and the soak waits for the drain, then reports what was
queued, stored (complete, with every attachment), lost (queued, never stored), duplicated (the same
submission twice: the same (device, seq) or the same receipt number in two rows) and unexpected (stored but
never queued), the resident size (RSS, from ``/proc``) of every process over time, and the alarms the
central raised and cleared (evaluated as the dashboard does, with a shorter offline threshold so that a
daemon killed for a few seconds is seen). Nothing reported carries personal data: ids and counts only.

With ``tls`` the broker runs the configuration the project ships (packaging/broker/mosquitto.conf: mutual TLS
with the fleet CA, certificate identity as the user name, the per-device ACL, the CRL), every kiosk holds a
client certificate from the central's fleet CA in its secrets (as a provisioned kiosk does), and the central
serves on ``mqtts://`` with its own TLS identity; broker restarts reinstall the same files. The report then
says which certificate identities the broker saw connect (from its log), so a run that silently fell back
to something else cannot pass for a TLS one.

``bench/soak.py`` is the command line; ``tests/test_soak.py`` runs a short one in CI.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from central.ca import FleetCA
from central.fleet import Thresholds, alarms_list, evaluate_alarms
from central.keys import CentralKeys
from central.models import Submission
from central.store import CentralStore
from central.trust import register_key
from devtools.broker import MosquittoBroker
from devtools.processes import stop_process
from devtools.provision_tls import issue_kiosk_identity
from devtools.sim import SITE_NAMES, fictional_fields
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.kiosk_config import apply_updates
from sync.outbox.models import OutboxMessage
from sync.outbox.store import Attachment, Outbox, OutboxFull
from sync.protocol.signing import DeviceSigner
from sync.protocol.topics import TopicError, check_device_id

log = logging.getLogger("kiosk.soak")

BIN = Path(sys.executable).parent
DAEMONS = ("kiosk-syncd", "paced")


class SoakError(ValueError):
    """Bad soak settings (shown to the operator as they are)."""


@dataclass(frozen=True)
class SoakSettings:
    kiosks: int = 10
    seconds: float = 60.0  # how long the fleet submits; the drain comes after
    rate: float = 10.0  # submissions per second for the whole fleet
    broker_restarts: int = 1
    central_restarts: int = 1
    daemon_kills: int = 2
    broker_down_s: tuple[float, float] = (1.0, 5.0)
    central_down_s: tuple[float, float] = (0.5, 4.0)
    daemon_down_s: tuple[float, float] = (2.0, 20.0)
    attachment_share: float = 0.1  # this share of submissions carries a document photo
    attachment_bytes: int = 300_000  # two chunks of 256 KiB
    heartbeat_s: int = 10
    offline_alarm_s: float = 6.0  # the dashboard's default is 300 s; a soak's kills last seconds
    evaluate_every_s: float = 1.0
    sample_every_s: float = 2.0
    start_timeout_s: float = 240.0
    drain_timeout_s: float = 300.0
    seed: int = 1
    id_prefix: str = "soak"
    # "kiosk-syncd": the product's daemon program; "paced": the same engine with slower idle polling in its
    # own process (devtools/soak_daemon.py), for fleets too large for the machine's cores.
    daemon: str = "kiosk-syncd"
    # The shipped broker configuration (packaging/broker/: mutual TLS with the fleet CA, the per-device ACL,
    # the CRL) instead of a plain TCP listener; every kiosk gets a client certificate, the central serves on
    # mqtts:// with its own TLS identity.
    tls: bool = False

    def check(self) -> None:
        if not 1 <= self.kiosks <= 500:
            raise SoakError("kiosks must be between 1 and 500")
        if self.seconds <= 0 or self.rate <= 0:
            raise SoakError("seconds and rate must be positive")
        if min(self.broker_restarts, self.central_restarts, self.daemon_kills) < 0:
            raise SoakError("fault counts must not be negative")
        for name in ("broker_down_s", "central_down_s", "daemon_down_s"):
            lo, hi = getattr(self, name)
            if lo < 0 or hi < lo:
                raise SoakError(f"{name} must be a range 0 <= low <= high")
        if not 0 <= self.attachment_share <= 1 or self.attachment_bytes < 1:
            raise SoakError("attachment_share must be within 0..1 and attachment_bytes positive")
        if not 5 <= self.heartbeat_s <= 3600:
            raise SoakError("heartbeat_s must be between 5 and 3600 (the kiosk's own limits)")
        if min(self.offline_alarm_s, self.evaluate_every_s, self.sample_every_s) <= 0:
            raise SoakError("alarm threshold and intervals must be positive")
        if self.drain_timeout_s <= 0 or self.start_timeout_s <= 0:
            raise SoakError("timeouts must be positive")
        if self.daemon not in DAEMONS:
            raise SoakError(f"daemon must be one of {', '.join(DAEMONS)}")
        try:
            check_device_id(f"{self.id_prefix}-{self.kiosks:04d}")
        except TopicError as exc:
            raise SoakError(f"id_prefix: {exc}") from exc


# -- the fault schedule --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    at_s: float  # seconds after the feed started
    target: str  # "broker", "central" or "syncd"
    down_s: float
    kiosk: int = -1  # for "syncd"
    hard: bool = True  # SIGKILL; brokers alternate SIGKILL (first) and SIGTERM


def schedule(settings: SoakSettings) -> list[Fault]:
    """The seeded faults. The first daemon kill comes alone, early, and stays down longest: its kiosk is
    offline long enough for the central's offline alarm to be raised and, once it is back, cleared. Every
    other fault (broker, central, the remaining kills) is spread evenly with jitter over the rest of the
    first 80 % of the feed, each kind offset from the others, so every recovery lands while the fleet submits;
    a kill may coincide with a broker or central outage, as it would in the field."""
    rng = random.Random(settings.seed)  # noqa: S311 - an experiment's schedule
    t = settings.seconds
    faults: list[Fault] = []
    kiosks = list(range(settings.kiosks))
    rng.shuffle(kiosks)
    start = 0.10 * t
    kills = settings.daemon_kills
    if kills:
        probe_at, probe_down = 0.05 * t, settings.daemon_down_s[1]
        faults.append(Fault(probe_at, "syncd", probe_down, kiosk=kiosks[0]))
        kills -= 1
        if probe_at + probe_down + 2.0 < 0.6 * t:
            start = probe_at + probe_down + 2.0
    span = 0.80 * t - start

    def times(n: int, offset: float) -> list[float]:
        return [start + span * (i + offset + rng.uniform(-0.15, 0.15)) / n for i in range(n)]

    for i, at in enumerate(times(settings.broker_restarts, 0.5)):
        faults.append(Fault(at, "broker", rng.uniform(*settings.broker_down_s), hard=i % 2 == 0))
    for at in times(settings.central_restarts, 0.2):
        faults.append(Fault(at, "central", rng.uniform(*settings.central_down_s)))
    for i, at in enumerate(times(kills, 0.8)):
        faults.append(Fault(at, "syncd", rng.uniform(*settings.daemon_down_s), kiosk=kiosks[(i + 1) % len(kiosks)]))
    return sorted(faults, key=lambda f: f.at_s)


# -- memory ---------------------------------------------------------------------------------------------------


def rss_kb(pid: int) -> int | None:
    """Resident set size of a live process, from ``/proc/PID/status`` (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class Incarnation:
    """One run of one process (a restart is a new incarnation): its RSS samples ``(t, kB)``."""

    role: str
    name: str
    pid: int
    started_s: float
    samples: list[tuple[float, int]] = field(default_factory=list)

    def growth_kb(self, warmup_s: float) -> int | None:
        """How much the process grew over the second half of its life after the warm-up: the highest RSS of
        that half minus the RSS at its start (None: too short-lived to judge). Start-up (imports, caches
        filling) is over by then even on a loaded machine, so what remains is what keeps growing."""
        settled = [kb for t, kb in self.samples if t - self.started_s >= warmup_s]
        if len(settled) < 4:
            return None
        half = settled[len(settled) // 2:]
        return max(half) - half[0]


def _mb(kb: float) -> float:
    return round(kb / 1024, 1)


# -- the soak -------------------------------------------------------------------------------------------------


@dataclass
class _Kiosk:
    index: int
    home: Path
    device: DeviceConfig
    outbox: Outbox
    proc: subprocess.Popen[bytes] | None = None
    queued: int = 0


class Soak:
    """One soak run; :meth:`run` returns the report (a JSON-ready dict)."""

    def __init__(self, settings: SoakSettings, home: Path | None = None) -> None:
        settings.check()
        self.s = settings
        self._own_home = home is None
        self.home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="kiosk-soak-"))
        self.rng = random.Random(settings.seed)  # noqa: S311 - fictional data
        self.central_home = self.home / "central"
        # TLS: the broker's files (CA, server certificate and key, CRL) are written once at provisioning into
        # this folder; every (re)start of the broker installs these same files again.
        self.broker_files = self.home / "broker-files" if settings.tls else None
        # Mosquitto drops to its own user before it reads the ACL files, so under TLS its folder is one of its
        # own in the system's temporary folder (the soak's home may be private); removed at the end.
        self.broker = MosquittoBroker(folder=None if settings.tls else self.home / "broker", persistence=True,
                                      tls_dir=self.broker_files)
        self.db_url = f"sqlite:///{self.central_home / 'central.db'}"
        self.keys = CentralKeys.generate()
        self.store: CentralStore | None = None
        self.central: subprocess.Popen[bytes] | None = None
        self.kiosks: list[_Kiosk] = []
        self.queued: dict[str, tuple[str, int, str]] = {}  # message id -> (device, seq, receipt)
        self.refused = 0
        self.with_photo = 0
        self.enqueue_ms: list[float] = []
        self.events: list[dict[str, Any]] = []
        self.unexpected_exits: list[dict[str, Any]] = []
        self.incarnations: dict[int, Incarnation] = {}
        self.stored_series: list[tuple[float, int]] = []
        self._queued_lock = threading.Lock()
        self._stop_feed = threading.Event()
        self._t0 = time.monotonic()

    def now_s(self) -> float:
        return round(time.monotonic() - self._t0, 2)

    # -- parts ----------------------------------------------------------------------------------------

    def _spawn(self, role: str, name: str, argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        self.incarnations[proc.pid] = Incarnation(role, name, proc.pid, self.now_s())
        return proc

    def _start_central(self) -> None:
        self.central = self._spawn("central", "central", [
            str(BIN / "kiosk-central"), "serve", "--home", str(self.central_home), "--broker", self.broker.url,
            "--db", self.db_url], self.central_home / "central.log")

    def _start_syncd(self, k: _Kiosk) -> None:
        argv = [str(BIN / "kiosk-syncd"), "--home", str(k.home)] if self.s.daemon == "kiosk-syncd" \
            else [sys.executable, "-m", "devtools.soak_daemon", "--home", str(k.home)]
        k.proc = self._spawn("syncd", k.device.device_id, argv, k.home / "syncd.log")

    def _start_broker(self) -> None:
        self.broker.start()
        assert self.broker.proc is not None
        self.incarnations[self.broker.proc.pid] = Incarnation("broker", "broker", self.broker.proc.pid, self.now_s())

    def _provision(self) -> None:
        self.central_home.mkdir(parents=True, exist_ok=True)
        self.keys.save(self.central_home)
        public = self.keys.public_keys()
        ca: FleetCA | None = None
        if self.broker_files is not None:
            # The fleet CA in the central's home (the central's own client identity is made with it), and the
            # broker's files for the address the kiosks dial, as `kiosk-central ca broker-files` writes them.
            ca = FleetCA.open(self.central_home)
            ca.server_files(self.broker_files, ["127.0.0.1", "localhost"])
        self.store = CentralStore(self.db_url)  # migrated before any central process starts
        for i in range(self.s.kiosks):
            device_id = f"{self.s.id_prefix}-{i + 1:04d}"
            home = self.home / "kiosks" / device_id
            home.mkdir(parents=True, exist_ok=True)
            device = DeviceConfig(device_id, SITE_NAMES[i % len(SITE_NAMES)], self.broker.url,
                                  public["seal_public_key"], public["command_public_key"])
            device.save(home)
            # Enrolled as ``kiosk-sim`` kiosks are: a device key in the home, its public half at the central.
            signer = DeviceSigner.generate()
            signer.save(home)
            register_key(self.store, device_id, signer.public_raw, how="soak")
            if ca is not None:  # its client certificate (CN = device id) where its daemon reads it
                issue_kiosk_identity(ca, home, device_id)
            apply_updates(home, {"heartbeat_interval_s": self.s.heartbeat_s}, source="soak", typed=True)
            # Created (and migrated) here first: the daemon and this process then share it, as kiosk and UI do.
            self.kiosks.append(_Kiosk(i, home, device, Outbox(home / OUTBOX_FILE)))

    def _connected(self) -> int:
        return sum(1 for k in self.kiosks if k.outbox.states().get("connected") == "1")

    # -- the feed (this process plays every kiosk's touchscreen) --------------------------------------------

    def _feed(self) -> None:
        photo = bytes(self.rng.getrandbits(8) for _ in range(min(self.s.attachment_bytes, 4096)))
        photo = (photo * (self.s.attachment_bytes // len(photo) + 1))[:self.s.attachment_bytes]
        t0 = time.monotonic()
        n = 0
        while not self._stop_feed.is_set():
            due = t0 + n / self.s.rate
            if self._stop_feed.wait(max(0.0, due - time.monotonic())):
                break
            k = self.kiosks[n % len(self.kiosks)]
            code, fields = fictional_fields(k.index * 100_000 + k.queued + 1, self.rng)
            files = [Attachment("身份证复印件.jpg", "image/jpeg", photo)] \
                if self.rng.random() < self.s.attachment_share else []
            started = time.perf_counter()
            try:
                receipt = k.outbox.enqueue_submission(k.device, code, fields, files)
            except OutboxFull as exc:
                self.refused += 1
                log.warning("%s refused a submission: %s", k.device.device_id, exc.code)
            else:
                self.enqueue_ms.append((time.perf_counter() - started) * 1000)
                k.queued += 1
                self.with_photo += bool(files)
                with self._queued_lock:
                    self.queued[receipt.message_id] = (k.device.device_id, receipt.seq, receipt.receipt_no)
            n += 1

    # -- faults -----------------------------------------------------------------------------------------

    def _kill(self, fault: Fault) -> dict[str, Any]:
        event: dict[str, Any] = {"t": self.now_s(), "target": fault.target, "down_s": round(fault.down_s, 1)}
        if fault.target == "broker":
            proc = self.broker.proc
            assert proc is not None
            event.update(pid=proc.pid, signal="SIGKILL" if fault.hard else "SIGTERM")
            if fault.hard:
                proc.kill()
                proc.wait(10)
            self.broker.stop()  # SIGTERM if still running; forgets the process either way
            event["exit"] = proc.returncode
        elif fault.target == "central":
            assert self.central is not None
            event.update(pid=self.central.pid, signal="SIGKILL")
            self.central.kill()
            self.central.wait(10)
            event["exit"] = self.central.returncode
            self.central = None
        else:
            k = self.kiosks[fault.kiosk]
            assert k.proc is not None
            event.update(kiosk=k.device.device_id, pid=k.proc.pid, signal="SIGKILL")
            k.proc.kill()
            k.proc.wait(10)
            event["exit"] = k.proc.returncode
            k.proc = None
        if self.store is not None:
            event["stored_at_kill"] = self.store.count()
        return event

    def _revive(self, fault: Fault) -> None:
        if fault.target == "broker":
            self._start_broker()
        elif fault.target == "central":
            self._start_central()
        else:
            self._start_syncd(self.kiosks[fault.kiosk])

    def _check_exits(self) -> None:
        """A part that died without being killed is a finding: recorded, then started again."""
        if self.central is not None and self.central.poll() is not None:
            self.unexpected_exits.append({"t": self.now_s(), "target": "central", "exit": self.central.returncode})
            self._start_central()
        if self.broker.proc is not None and self.broker.proc.poll() is not None:
            self.unexpected_exits.append({"t": self.now_s(), "target": "broker", "exit": self.broker.proc.returncode})
            self.broker.stop()
            self._start_broker()
        for k in self.kiosks:
            if k.proc is not None and k.proc.poll() is not None:
                self.unexpected_exits.append({"t": self.now_s(), "target": "syncd", "kiosk": k.device.device_id,
                                              "exit": k.proc.returncode})
                self._start_syncd(k)

    # -- observation ------------------------------------------------------------------------------------

    def _live_pids(self) -> list[int]:
        pids = [p.pid for p in (self.broker.proc, self.central, *(k.proc for k in self.kiosks)) if p is not None]
        return [*pids, os.getpid()]

    def _sample(self) -> None:
        t = self.now_s()
        if os.getpid() not in self.incarnations:
            self.incarnations[os.getpid()] = Incarnation("soak", "soak", os.getpid(), 0.0)
        for pid in self._live_pids():
            kb = rss_kb(pid)
            inc = self.incarnations.get(pid)
            if kb is not None and inc is not None:
                inc.samples.append((t, kb))
        if self.store is not None:
            with contextlib.suppress(SQLAlchemyError):  # the central held the lock a moment: the next one counts
                self.stored_series.append((t, self.store.count()))

    def _evaluate(self) -> None:
        if self.store is None:
            return
        try:
            changed = evaluate_alarms(self.store, thresholds=Thresholds(offline_alarm_s=self.s.offline_alarm_s))
        except SQLAlchemyError:
            return  # the database was busy; the next round evaluates again
        for kind in ("raised", "cleared"):
            for a in changed[kind]:
                log.info("alarm %s %s on %s", a["code"], kind, a["device_id"])

    def _alarms_clear(self) -> bool:
        assert self.store is not None
        try:
            return not alarms_list(self.store, open_only=True, limit=1)
        except SQLAlchemyError:
            return False

    def _acked_at_kiosks(self) -> int:
        return sum(k.outbox.counts_by_kind().get("submission", {}).get("acked", 0) for k in self.kiosks)

    def _stored(self) -> dict[str, tuple[str, int, str, bool]]:
        assert self.store is not None
        with self.store.session() as s:
            rows = s.execute(select(Submission.id, Submission.device_id, Submission.seq, Submission.receipt_no,
                                    Submission.complete)).all()
        return {r[0]: (r[1], r[2], r[3], bool(r[4])) for r in rows}

    def _drained(self) -> bool:
        assert self.store is not None
        with self._queued_lock:
            queued = len(self.queued)
        try:
            with self.store.session() as s:
                complete = s.scalar(select(func.count()).select_from(Submission)
                                    .where(Submission.complete.is_(True))) or 0
        except SQLAlchemyError:
            return False
        return complete >= queued and self._acked_at_kiosks() >= queued

    # -- the run ----------------------------------------------------------------------------------------

    def _every(self, period: float, action: Callable[[], None]) -> Callable[[float], float]:
        """A ticker: called with now, runs ``action`` when due and returns when it is due next."""
        due = [0.0]

        def tick(now: float) -> float:
            if now >= due[0]:
                action()
                due[0] = now + period
            return due[0]

        return tick

    def _run_until(self, deadline: float, actions: list[tuple[float, Callable[[], None]]] | None = None,
                   done: Callable[[], bool] | None = None) -> tuple[bool, list[tuple[float, Callable[[], None]]]]:
        """Run the timed actions, sampling, alarm evaluation and the exit check until ``deadline`` or until
        ``done()``; returns whether ``done`` held (True without one) and the actions not yet due."""
        tickers = [self._every(self.s.sample_every_s, self._sample),
                   self._every(self.s.evaluate_every_s, self._evaluate),
                   self._every(1.0, self._check_exits)]
        pending = sorted(actions or [], key=lambda a: a[0])
        wake = threading.Event()
        while True:
            while pending and pending[0][0] <= time.monotonic():
                pending.pop(0)[1]()
            next_due = min(tick(time.monotonic()) for tick in tickers)
            if done is not None and done():
                return True, pending
            if time.monotonic() >= deadline:
                return done is None, pending
            nxt = min([next_due, deadline, *(a[0] for a in pending[:1])])
            wake.wait(max(0.0, min(nxt - time.monotonic(), 1.0)))  # the schedule's own clock, not a condition

    def run(self) -> dict[str, Any]:
        try:
            return self._run()
        finally:
            self.close()

    def _run(self) -> dict[str, Any]:
        self._provision()
        self._start_broker()
        self._start_central()
        for k in self.kiosks:
            self._start_syncd(k)
        start_deadline = time.monotonic() + self.s.start_timeout_s
        if not self._run_until(start_deadline, done=lambda: self._connected() == len(self.kiosks))[0]:
            raise SoakError(f"only {self._connected()} of {len(self.kiosks)} kiosks connected "
                            f"within {self.s.start_timeout_s:.0f} s")
        startup_s = self.now_s()

        faults = schedule(self.s)
        feed_start = time.monotonic()
        feeder = threading.Thread(target=self._feed, name="soak-feed", daemon=True)
        feeder.start()
        actions: list[tuple[float, Callable[[], None]]] = []
        for f in faults:
            event: dict[str, Any] = {}

            def kill(f: Fault = f, event: dict[str, Any] = event) -> None:
                event.update(self._kill(f))
                self.events.append(event)

            def revive(f: Fault = f, event: dict[str, Any] = event) -> None:
                self._revive(f)
                event["revived_at"] = self.now_s()

            actions.append((feed_start + f.at_s, kill))
            actions.append((feed_start + f.at_s + f.down_s, revive))
        _, late = self._run_until(feed_start + self.s.seconds, actions)
        self._stop_feed.set()
        feeder.join(30)
        feed_s = time.monotonic() - feed_start
        for _, action in late:  # a part still down when the feed ends comes back now, then the drain
            action()
        drain_start = time.monotonic()
        drained, _ = self._run_until(drain_start + self.s.drain_timeout_s, done=self._drained)
        drain_s = time.monotonic() - drain_start
        # With everything back, the alarms clear once each kiosk's next heartbeat shows its queue drained.
        self._run_until(time.monotonic() + 2.5 * self.s.heartbeat_s + 2 * self.s.evaluate_every_s,
                        done=self._alarms_clear)
        self._sample()
        return self._report(drained, startup_s, feed_s, drain_s, faults)

    def _report(self, drained: bool, startup_s: float, feed_s: float, drain_s: float,
                faults: list[Fault]) -> dict[str, Any]:
        assert self.store is not None
        stored = self._stored()
        with self._queued_lock:
            queued = dict(self.queued)
        lost = sorted(set(queued) - {i for i, row in stored.items() if row[3]})
        unexpected = sorted(set(stored) - set(queued))
        by_seq = Counter((row[0], row[1]) for row in stored.values())
        by_receipt = Counter(row[2] for row in stored.values())
        duplicated = sum(n - 1 for n in by_seq.values() if n > 1) + sum(n - 1 for n in by_receipt.values() if n > 1)
        publishes = sum(self._publishes(k) for k in self.kiosks)
        all_alarms = alarms_list(self.store, open_only=False, limit=100_000)
        enq = sorted(self.enqueue_ms)
        report: dict[str, Any] = {
            "kiosks": self.s.kiosks,
            "seconds": round(feed_s, 1),
            "rate_per_s": self.s.rate,
            "seed": self.s.seed,
            "daemon": self.s.daemon,
            "tls": self._tls_report(),
            "enqueued": len(queued),
            "refused": self.refused,
            "with_attachment": self.with_photo,
            "stored": len(stored),
            "stored_complete": sum(1 for row in stored.values() if row[3]),
            "acked_at_kiosks": self._acked_at_kiosks(),
            "lost": len(lost),
            "duplicated": duplicated,
            "unexpected": len(unexpected),
            "lost_ids": lost[:10],
            "publishes": publishes,
            "resends": max(0, publishes - len(stored)),
            "drained": drained,
            "startup_s": startup_s,
            "drain_s": round(drain_s, 1),
            "enqueue_ms": {"p50": round(statistics.median(enq), 2) if enq else None,
                           "p95": round(enq[int(0.95 * (len(enq) - 1))], 2) if enq else None,
                           "max": round(enq[-1], 2) if enq else None},
            "faults": {"broker_restarts": sum(1 for e in self.events if e["target"] == "broker"),
                       "central_restarts": sum(1 for e in self.events if e["target"] == "central"),
                       "daemon_kills": sum(1 for e in self.events if e["target"] == "syncd"),
                       "unexpected_exits": len(self.unexpected_exits)},
            "events": self.events,
            "unexpected_exits": self.unexpected_exits,
            "alarms": {
                "offline_alarm_s": self.s.offline_alarm_s,
                # From the central's alarm table: those its evaluator raised and those its ingest opened itself
                # (trust and sequence checks); "cleared" are those closed again by the end.
                "raised": dict(Counter(a["code"] for a in all_alarms)),
                "cleared": dict(Counter(a["code"] for a in all_alarms if not a["open"])),
                "total": len(all_alarms),
                "open_at_end": [{"device_id": a["device_id"], "code": a["code"]} for a in all_alarms if a["open"]],
            },
            "memory_mb": self._memory(),
            "stored_series": self.stored_series[:: max(1, len(self.stored_series) // 60)],
            "schedule": [asdict(f) for f in faults],
        }
        report["ok"] = bool(drained and not lost and not duplicated and not unexpected)
        return report

    def _tls_report(self) -> dict[str, Any]:
        """The broker URL and the client-certificate identities the broker logged as user names (Mosquitto's
        notice "New client connected ... u'IDENTITY'"): device ids and ``_central``, never personal data."""
        seen: set[str] = set()
        with contextlib.suppress(OSError):
            text = self.broker.log_path.read_text(encoding="utf-8", errors="replace")
            seen = set(re.findall(r"New client connected from .*? u'([^']+)'\)", text))
        ids = {k.device.device_id for k in self.kiosks}
        listener: list[str] = []  # the kiosks' listener as the broker ran it (its own folder goes at the end)
        with contextlib.suppress(OSError):
            conf = (self.broker.folder / "mosquitto.conf").read_text(encoding="utf-8").splitlines()
            if f"listener {self.broker.port} 127.0.0.1" in conf:
                start = conf.index(f"listener {self.broker.port} 127.0.0.1")
                listener = list(itertools.takewhile(lambda line: not line.startswith("listener "), conf[start + 1:]))
        return {"enabled": self.s.tls, "broker_url": self.broker.url, "kiosk_identities_seen": len(ids & seen),
                "central_identity_seen": "_central" in seen, "other_identities": sorted(seen - ids - {"_central"}),
                "listener": [line.replace(str(self.broker.folder), "BROKER") for line in listener
                             if line and not line.startswith("#")]}

    @staticmethod
    def _publishes(k: _Kiosk) -> int:
        """Publishes of submissions (first sends and resends), from the outbox's attempt counts."""
        with Session(k.outbox.engine) as s:
            return int(s.scalar(select(func.coalesce(func.sum(OutboxMessage.attempts), 0))
                                .where(OutboxMessage.kind == "submission")) or 0)

    def _memory(self, warmup_s: float = 10.0) -> dict[str, Any]:
        """Per role (MB): the longest-lived process's RSS after its warm-up and at its end, the highest RSS of
        any, the worst growth of one process (incarnation) over the second half of its life
        (:meth:`Incarnation.growth_kb`), and the longest-lived one's RSS series (abridged)."""
        out: dict[str, Any] = {}
        roles: dict[str, list[Incarnation]] = {}
        for inc in self.incarnations.values():
            if inc.samples:
                roles.setdefault(inc.role, []).append(inc)
        for role, incs in roles.items():
            all_kb = [kb for inc in incs for _, kb in inc.samples]
            growths = [g for g in (inc.growth_kb(warmup_s) for inc in incs) if g is not None]
            longest = max(incs, key=lambda i: len(i.samples))
            settled = [kb for t, kb in longest.samples if t - longest.started_s >= warmup_s] or [longest.samples[-1][1]]
            entry: dict[str, Any] = {
                "processes": len(incs),
                "settled": _mb(settled[0]),  # the longest-lived one's first sample after its warm-up
                "max": _mb(max(all_kb)),
                "last": _mb(longest.samples[-1][1]),
                "max_growth": _mb(max(growths)) if growths else None,
                "series": [[t, _mb(kb)] for t, kb in longest.samples[:: max(1, len(longest.samples) // 40)]],
            }
            if role == "syncd":
                entry["median_last"] = _mb(statistics.median(inc.samples[-1][1] for inc in incs))
                del entry["series"]
                entry["series_longest"] = [[t, _mb(kb)] for t, kb in
                                           longest.samples[:: max(1, len(longest.samples) // 40)]]
            out[role] = entry
        return out

    def close(self) -> None:
        """Stop every part (daemons gracefully, all at once), then the broker, whatever happens on the way."""
        self._stop_feed.set()
        try:
            procs = [k.proc for k in self.kiosks if k.proc is not None]
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)  # all at once: they say goodbye in parallel
            for p in procs:
                stop_process(p, timeout=15)
            stop_process(self.central, timeout=15)
        finally:
            self.broker.cleanup()
            for k in self.kiosks:
                k.outbox.close()
            if self.store is not None:
                self.store.close()
            if self._own_home:
                shutil.rmtree(self.home, ignore_errors=True)


def run_soak(settings: SoakSettings, home: Path | None = None) -> dict[str, Any]:
    """Run one soak and return its report."""
    return Soak(settings, home).run()
