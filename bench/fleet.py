"""Benchmark: K kiosks heartbeating every 10 s against one central (``kiosk-central serve`` as its own
process, SQLite, dashboard on): the central's CPU, the ingest lag (heartbeat sent -> stored), and the
dashboard's fleet page and JSON API times. Prints one JSON object.

The kiosks are heartbeat-only: each is one MQTT 5 connection with the real topics, a retained ``online``
status with its Will, and a signed telemetry envelope (the figures a real daemon sends) every
``--interval`` seconds, phases spread evenly. They run many to a thread (paho's external loop on epoll),
so 1,000 kiosks cost the bench process little next to the central it measures. Each is enrolled the way
the central knows kiosks (its Ed25519 public key in ``device_keys``), so the central checks every
signature as in production.

- ``central_cpu_pct``: the central process's user+system CPU over the measured window / wall time, from
  ``/proc/{pid}/stat`` (100 = one core).
- ``lag_ms``: per heartbeat, the device's ``last_seen`` (set when the central's transaction commits)
  minus the time the heartbeat was published; observed by polling the ``devices`` table every 100 ms
  (so up to 100 ms of polling granularity is inside the figure).
- ``baseline_lag_ms``: the same heartbeats seen by a bare paho subscriber (publish -> on_message): the
  broker's own round trip, measured in the same run, to set the central's lag against.
- ``dashboard_ms``: GET ``/`` (the fleet page, server-rendered with K rows) and ``/api/fleet`` after the run.

Run: ``.venv/bin/python -m bench.fleet [--kiosks 1000] [--duration 60] [--interval 10] [--threads 4]``.
Never used as a timed assert in tests.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from sqlalchemy import select

from central.keys import CentralKeys
from central.models import Device, DeviceKey
from central.store import CentralStore
from central.web import auth
from devtools.broker import MosquittoBroker, free_port
from devtools.sim import SITE_NAMES
from sync.protocol import topics
from sync.protocol.envelope import Envelope
from sync.protocol.ids import new_message_id
from sync.protocol.signing import DeviceSigner
from sync.runtime.mqtt import kiosk_client_id, new_client

CLK_TCK = os.sysconf("SC_CLK_TCK")
OPERATOR = ("bench", "bench-password-1")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary_ms(values: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50": _r(pct(ms, 50)), "p95": _r(pct(ms, 95)), "p99": _r(pct(ms, 99)),
            "max": _r(max(ms) if ms else None)}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def telemetry_meta(interval: float, uptime: float) -> dict[str, Any]:
    """What a real daemon reports (sync.daemon.service.SyncDaemon.telemetry), an idle kiosk's figures."""
    return {"queue": {"submission": {"acked": 12}, "event": {"acked": 15}}, "oldest_pending_s": None,
            "last_delivery": time.time() - 120, "disk_free": 40 * 2**30,
            "drivers": [{"driver": d, "state": "ok", "last_error": None, "last_success": time.time() - 30,
                         "changed_at": time.time() - 3600} for d in ("idcard", "scanner", "document", "printer")],
            "versions": {"app": "0.1.0", "catalog": "2026.1.0", "release": None}, "uptime_s": round(uptime, 1),
            "refusing": None, "maintenance": False, "heartbeat_interval_s": interval}


class BenchKiosk:
    def __init__(self, index: int, prefix: str) -> None:
        self.device_id = f"{prefix}-{index + 1:04d}"
        self.site = SITE_NAMES[index % len(SITE_NAMES)]
        self.signer = DeviceSigner.generate()
        self.seq = 0
        self.client: mqtt.Client | None = None
        self.connected = False
        self.next_beat = 0.0
        self.sent: list[float] = []  # publish times of heartbeats


class KioskDriver(threading.Thread):
    """Runs many kiosks' MQTT connections on one thread (paho's external loop on epoll)."""

    def __init__(self, kiosks: list[BenchKiosk], host: str, port: int, interval: float, started: float) -> None:
        super().__init__(daemon=True, name=f"kiosks-{kiosks[0].device_id}")
        self.kiosks, self.host, self.port, self.interval, self.started = kiosks, host, port, interval, started
        self.stop_event = threading.Event()
        self.beating = threading.Event()
        self.errors = 0
        self.sel = selectors.DefaultSelector()

    def _connect(self, k: BenchKiosk) -> None:
        client = new_client(kiosk_client_id(k.device_id, k.signer))  # as a real kiosk's (sync.runtime.mqtt)
        status = {"state": "offline", "conn": int(time.time() * 1000), "since": time.time(), "version": "0.1.0",
                  "site": k.site}
        client.will_set(topics.up(k.device_id, "status"), json.dumps(status), qos=1, retain=True)

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
            if rc.is_failure:
                self.errors += 1
                return
            k.connected = True
            c.publish(topics.up(k.device_id, "status"), json.dumps({**status, "state": "online"}), qos=1, retain=True)

        client.on_connect = on_connect
        client.connect(self.host, self.port, keepalive=60, clean_start=True)
        k.client = client
        self.sel.register(client.socket(), selectors.EVENT_READ, k)

    def beat(self, k: BenchKiosk, now: float) -> None:
        assert k.client is not None
        k.seq += 1
        env = k.signer.sign(Envelope(id=new_message_id(), seq=k.seq, device_id=k.device_id, kind="telemetry",
                                     created_at=now, meta=telemetry_meta(self.interval, now - self.started)))
        # Recorded before the publish: the poller must never see the central's last_seen of this heartbeat while
        # the list still ends at the previous one (it would count a whole interval of lag).
        k.sent.append(now)
        k.client.publish(topics.up(k.device_id, "telemetry"), env.to_bytes(), qos=1)

    def run(self) -> None:
        for k in self.kiosks:
            try:
                self._connect(k)
            except OSError:
                self.errors += 1
        last_misc = 0.0
        while not self.stop_event.is_set():
            for key, _ev in self.sel.select(timeout=0.05):
                k = key.data
                if k.client is not None and k.client.loop_read() != mqtt.MQTT_ERR_SUCCESS:
                    self.errors += 1
                    self.sel.unregister(key.fileobj)
                    k.client = None
            now = time.time()
            for k in self.kiosks:
                if k.client is None:
                    continue
                if self.beating.is_set() and k.connected and now >= k.next_beat:
                    self.beat(k, now)
                    k.next_beat += self.interval
                if k.client.want_write():
                    k.client.loop_write()
            if now - last_misc > 1.0:
                last_misc = now
                for k in self.kiosks:
                    if k.client is not None:
                        k.client.loop_misc()
        for k in self.kiosks:
            if k.client is not None:
                k.client.disconnect()
                k.client.loop_write()


def start_central(home: Path, db: str, broker_url: str, http_port: int) -> subprocess.Popen[bytes]:
    exe = str(Path(sys.executable).with_name("kiosk-central"))
    return subprocess.Popen([exe, "serve", "--home", str(home), "--db", db, "--broker", broker_url,
                             "--http", f"127.0.0.1:{http_port}"], stdout=subprocess.DEVNULL,
                            stderr=open(home / "serve.log", "wb"))


def run(kiosks_n: int, duration: float, interval: float, threads: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    home = folder / "central"
    keys = CentralKeys.generate()
    keys.save(home)
    db = f"sqlite:///{home / 'central.db'}"
    prefix = "bf"
    kiosks = [BenchKiosk(i, prefix) for i in range(kiosks_n)]
    store = CentralStore(db)
    with store.session() as s, s.begin():
        for k in kiosks:
            s.add(DeviceKey(device_id=k.device_id, public_key=base64.b64encode(k.signer.public_raw).decode(),
                            enrolled_at=time.time(), token_id="bench"))  # noqa: S106 (an id)
    auth.add_operator(store, OPERATOR[0], OPERATOR[1], "viewer")
    result: dict[str, Any] = {"kiosks": kiosks_n, "interval_s": interval, "duration_s": duration,
                              "threads": threads, "cpu_count": os.cpu_count(), "python": platform.python_version()}
    with MosquittoBroker() as broker:
        host, port = broker.url.removeprefix("mqtt://").rsplit(":", 1)
        http_port = free_port()
        central = start_central(home, db, broker.url, http_port)
        # Baseline: a bare subscriber timing the same heartbeats from publish to delivery.
        baseline: list[float] = []
        sub = new_client("bench-baseline")
        sub.on_message = lambda _c, _u, m: baseline.append(time.time() - json.loads(m.payload)["created_at"])
        sub.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe("kiosk/v1/+/up/telemetry", qos=1)
        sub.connect(host, int(port))
        sub.loop_start()
        try:
            base = f"http://127.0.0.1:{http_port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or central.poll() is not None:
                    raise RuntimeError("the central did not start; see " + str(home / "serve.log"))
                time.sleep(0.1)
            started = time.time()
            per = (kiosks_n + threads - 1) // threads
            drivers = [KioskDriver(kiosks[i:i + per], host, int(port), interval, started)
                       for i in range(0, kiosks_n, per)]
            t0 = time.monotonic()
            for d in drivers:
                d.start()
            while sum(k.connected for k in kiosks) < kiosks_n and time.monotonic() - t0 < 120:
                time.sleep(0.1)
            result["connect_s"] = round(time.monotonic() - t0, 2)
            result["connected"] = sum(k.connected for k in kiosks)
            first = time.time() + 1.0
            for i, k in enumerate(kiosks):
                k.next_beat = first + interval * i / kiosks_n  # phases spread evenly over one interval
            for d in drivers:
                d.beating.set()
            # Warm-up: one interval (every kiosk beats once), then measure.
            time.sleep(1.0 + interval)
            cpu0, wall0 = cpu_seconds(central.pid), time.monotonic()
            lags: list[float] = []
            seen: dict[str, float] = {}
            measure_from = time.time()
            end = time.monotonic() + duration
            with store.session() as s:
                while time.monotonic() < end:
                    for device_id, last_seen in s.execute(select(Device.device_id, Device.last_seen)):
                        if last_seen and seen.get(device_id) != last_seen:
                            seen[device_id] = last_seen
                            k = kiosks[int(device_id.rsplit("-", 1)[1]) - 1] if device_id.startswith(prefix) else None
                            sent = [t for t in (k.sent if k else []) if t <= last_seen]
                            if sent and sent[-1] >= measure_from:
                                lags.append(last_seen - sent[-1])
                    s.rollback()  # a fresh snapshot next time
                    time.sleep(0.1)
            cpu1, wall1 = cpu_seconds(central.pid), time.monotonic()
            beats = sum(len([t for t in k.sent if t >= measure_from]) for k in kiosks)
            result["central_cpu_pct"] = round(100 * (cpu1 - cpu0) / (wall1 - wall0), 1)
            result["heartbeats_measured"] = beats
            result["heartbeats_per_s"] = round(beats / (wall1 - wall0), 1)
            result["lag_ms"] = summary_ms(lags)
            result["baseline_lag_ms"] = summary_ms(baseline[-beats:] if beats else baseline)
            with httpx.Client(base_url=base, timeout=30) as web:
                page = web.get("/login")
                token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
                web.post("/login", data={"username": OPERATOR[0], "password": OPERATOR[1], "csrf": token,
                                         "next": "/"})
                times: dict[str, list[float]] = {"/": [], "/api/fleet": []}
                sizes: dict[str, int] = {}
                for _ in range(10):
                    for path in times:
                        t = time.perf_counter()
                        r = web.get(path)
                        times[path].append(time.perf_counter() - t)
                        assert r.status_code == 200, (path, r.status_code)
                        sizes[path] = len(r.content)
                rows = len(web.get("/api/fleet").json())
            result["dashboard_ms"] = {"fleet_page": summary_ms(times["/"]),
                                      "api_fleet": summary_ms(times["/api/fleet"]),
                                      "fleet_page_bytes": sizes["/"], "api_fleet_bytes": sizes["/api/fleet"],
                                      "rows": rows}
            result["driver_errors"] = sum(d.errors for d in drivers)
            result["target_met"] = {"cpu_below_50pct": result["central_cpu_pct"] < 50,
                                    "lag_p95_below_1s": (result["lag_ms"]["p95"] or 1e9) < 1000}
            for d in drivers:
                d.stop_event.set()
            for d in drivers:
                d.join(10)
        finally:
            sub.loop_stop()
            sub.disconnect()
            central.send_signal(signal.SIGTERM)
            try:
                central.wait(20)
            except subprocess.TimeoutExpired:
                central.kill()
                central.wait()
            store.close()
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kiosks", type=int, default=1000)
    p.add_argument("--duration", type=float, default=60.0, help="measured seconds (after one interval of warm-up)")
    p.add_argument("--interval", type=float, default=10.0, help="heartbeat interval per kiosk")
    p.add_argument("--threads", type=int, default=4, help="threads carrying the kiosks' connections")
    args = p.parse_args(argv)
    if args.kiosks < 1 or args.duration <= 0 or args.interval <= 0 or args.threads < 1:
        p.error("kiosks, duration, interval and threads must be positive")
    print(json.dumps(run(args.kiosks, args.duration, args.interval, args.threads), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
