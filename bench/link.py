"""Benchmark: a kiosk on a thin 4G link drains its backlog through a shaped link to a real broker and central.

Prints one JSON object. Run as root (network namespaces): ``.venv/bin/python -m bench.link [--rates 8,1]
[--apps 300] [--apps-slow 60] [--rtt-ms 150]``. Never used as a timed assert in tests.

Method (docs/BENCHMARKS.md, "A kiosk on a thin link"):
- The kiosk's sync daemon (``kiosk-syncd``, the real one) runs in its own network namespace, joined to the host
  by a veth pair. A token-bucket qdisc (``tc ... tbf``) shapes both directions at the link rate; segmentation
  offloads are off (``ethtool``), so the counters and the shaper see real packets. ``netem`` is not in this
  kernel, so the round trip comes from a delaying TCP proxy on the host end that holds every byte for half the
  round trip each way. TCP therefore sees the shaped link without the delay; the kiosk's application (PUBACK
  and ack round trips, the in-flight window) sees the full round trip.
- The broker is Mosquitto with the configuration the project ships (mutual TLS with the fleet CA, the per-device
  ACL); the central is ``kiosk-central serve`` over ``mqtts://`` with SQLite; the kiosk holds a client
  certificate from the fleet CA, as a provisioned kiosk of a TLS fleet does.
- The backlog: ``--apps`` applications queued while offline, each with two document photos taken from the
  simulated document camera at its real resolution (1920x1080, a fictional ID card face in the frame) and
  encoded as the kiosk encodes them (``drivers.camera.photo``).
- Drain time: daemon start to the last backlog application complete at the central (every photo chunk stored).
  Wire bytes: the kiosk's veth counters, both directions (Ethernet + IP + TCP + TLS + MQTT, acks included),
  over the drain. Goodput: the stored payload (the outbox's envelope bytes of the backlog) over the drain time,
  as a fraction of the link rate.
- A new application (two photos) is submitted during the drain by a Qt event loop in another process through
  the UI's real path (``kiosk.background.BackgroundRunner`` + ``kiosk.journey.submitter.Submitter``, the machine
  state polled as the journey polls it). Its latency: submitted to complete at the central. That loop's timer
  ticks every 5 ms; its longest gap is the UI thread's longest stall during the drain.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from central.ca import FleetCA
from central.keys import CentralKeys
from central.store import CentralStore
from central.trust import register_key
from devtools.broker import MosquittoBroker, free_port
from devtools.provision_tls import issue_kiosk_identity
from devtools.sim import fictional_fields
from sync.daemon.service import WINDOW_BYTES
from sync.device import DeviceConfig
from sync.outbox.store import Attachment, Outbox
from sync.protocol import topics
from sync.protocol.signing import DeviceSigner
from sync.runtime.mqtt import new_client

BIN = Path(sys.executable).parent
NS = "kiosklink"
HOST_IF, KIOSK_IF = "klh0", "klk0"
HOST_IP, KIOSK_IP = "10.77.0.1", "10.77.0.2"
DEVICE_ID = "link-0001"
PHOTOS_PER_APP = 2
QUEUE_MS = 400
UI_IDLE_S = 6.0  # the UI loop runs this long before the drain (its baseline stalls at the machine's load)
DISTINCT_FRAMES = 12  # camera frames to photograph (each photo is sealed on its own, so bytes never repeat)


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True)


class ShapedLink:
    """A network namespace joined to the host by a veth pair, both ends shaped by tbf at ``rate_mbit``."""

    def __init__(self, rate_mbit: float) -> None:
        self.rate_mbit = rate_mbit

    def __enter__(self) -> ShapedLink:
        self.close()  # a run that died before its clean-up
        sh("ip", "netns", "add", NS)
        sh("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", KIOSK_IF)
        sh("ip", "link", "set", KIOSK_IF, "netns", NS)
        sh("ip", "addr", "add", f"{HOST_IP}/30", "dev", HOST_IF)
        sh("ip", "link", "set", HOST_IF, "up")
        sh("ip", "netns", "exec", NS, "ip", "addr", "add", f"{KIOSK_IP}/30", "dev", KIOSK_IF)
        sh("ip", "netns", "exec", NS, "ip", "link", "set", KIOSK_IF, "up")
        sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up")
        self.offloads = shutil.which("ethtool") is not None
        if self.offloads:  # real packets for the shaper and the counters, not 64 KB GSO super-packets
            sh("ethtool", "-K", HOST_IF, "tso", "off", "gso", "off", "gro", "off", check=False)
            sh("ip", "netns", "exec", NS, "ethtool", "-K", KIOSK_IF, "tso", "off", "gso", "off", "gro", "off",
               check=False)
        rate = f"{self.rate_mbit}mbit"
        # burst: 10 ms at the rate (at least 3 frames); the queue holds up to QUEUE_MS of it (a 4G cell buffers
        # deeply; a shallow queue makes the test link drop and retransmit more than a real one would).
        burst = str(max(4500, int(self.rate_mbit * 1e6 / 8 * 0.010)))
        for prefix in ((), ("ip", "netns", "exec", NS)):
            dev = KIOSK_IF if prefix else HOST_IF
            sh(*prefix, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate, "burst", burst,
               "latency", f"{QUEUE_MS}ms")
        return self

    def counters(self) -> dict[str, int]:
        base = f"/sys/class/net/{KIOSK_IF}/statistics/"
        out = sh("ip", "netns", "exec", NS, "cat", base + "tx_bytes", base + "rx_bytes",
                 base + "tx_packets", base + "rx_packets").stdout.split()
        got = dict(zip(("tx_bytes", "rx_bytes", "tx_packets", "rx_packets"), map(int, out), strict=True))
        snmp = sh("ip", "netns", "exec", NS, "cat", "/proc/net/snmp").stdout.splitlines()
        tcp = [line.split()[1:] for line in snmp if line.startswith("Tcp:")]
        got["tcp_retrans_segs"] = int(dict(zip(tcp[0], tcp[1], strict=True))["RetransSegs"])
        return got

    def close(self) -> None:
        sh("ip", "link", "del", HOST_IF, check=False)  # its peer and both qdiscs go with it
        sh("ip", "netns", "del", NS, check=False)

    def __exit__(self, *exc: object) -> None:
        self.close()


def camera_photos(n: int, seed: int) -> list[bytes]:
    """``n`` document photos from the simulated document camera at its real resolution, encoded as the kiosk
    encodes them (drivers.camera.photo)."""
    import numpy as np

    from drivers.camera.photo import encode_document_photo
    from drivers.camera.sim_source import SimulatedCamera
    from drivers.ocr import synth

    rng = np.random.default_rng(seed)
    frames = [synth.place_in_frame(synth.render_card(synth.random_card(rng), rng), rng,
                                   synth.FrameParams(width=1920, height=1080, severity=0.3, jpeg=False))
              for _ in range(n)]
    photos = []
    for frame in frames:
        cam = SimulatedCamera("document.sim", frames=[frame], fps=5, width=1920, height=1080)
        cam.start()
        try:
            got = cam.latest_frame() or cam._slot.wait_newer(-1, 5.0)
            assert got is not None, "the simulated camera gave no frame"
            photos.append(encode_document_photo(got.image).data)
        finally:
            cam.close()
    return photos


class Rig:
    """Central keys, fleet CA, TLS broker, central, a provisioned kiosk home with its backlog."""

    def __init__(self, home: Path, proxy_port: int) -> None:
        self.home = home
        self.central_home = home / "central"
        self.central_home.mkdir(parents=True)
        self.broker_files = home / "broker-files"
        self.keys = CentralKeys.generate()
        self.keys.save(self.central_home)
        ca = self.ca = FleetCA.open(self.central_home)
        ca.server_files(self.broker_files, ["127.0.0.1", "localhost", HOST_IP])
        self.broker = MosquittoBroker(tls_dir=self.broker_files).start()
        self.db_url = f"sqlite:///{self.central_home / 'central.db'}"
        self.store = CentralStore(self.db_url)
        self.kiosk_home = home / "kiosk"
        self.kiosk_home.mkdir()
        public = self.keys.public_keys()
        self.device = DeviceConfig(DEVICE_ID, "link-site", f"mqtts://{HOST_IP}:{proxy_port}",
                                   public["seal_public_key"], public["command_public_key"])
        self.device.save(self.kiosk_home)
        signer = DeviceSigner.generate()
        signer.save(self.kiosk_home)
        register_key(self.store, DEVICE_ID, signer.public_raw, how="bench")
        issue_kiosk_identity(ca, self.kiosk_home, DEVICE_ID)
        self.outbox = Outbox(self.kiosk_home / "outbox.db")
        self.central: subprocess.Popen[bytes] | None = None
        self.syncd: subprocess.Popen[bytes] | None = None

    def start_central(self) -> None:
        log = open(self.central_home / "central.log", "ab")  # noqa: SIM115 - the child holds it
        self.central = subprocess.Popen([str(BIN / "kiosk-central"), "serve", "--home", str(self.central_home),
                                         "--broker", self.broker.url, "--db", self.db_url],
                                        stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def wait_central_online(self, timeout: float = 60.0) -> None:
        """Until the central announces itself online (retained, published once it has subscribed): the kiosk
        must not appear before, or its first messages wait for a resend and the figures measure that."""
        online = threading.Event()

        def on_message(_c: Any, _u: Any, message: Any) -> None:
            with contextlib.suppress(ValueError):
                if json.loads(message.payload).get("state") == "online":
                    online.set()

        client = new_client(f"bench-watch-{os.getpid()}-{time.monotonic_ns()}", self.ca.central_tls())
        client.on_message = on_message
        client.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe(topics.CENTRAL_STATUS, qos=1)
        client.connect("127.0.0.1", self.broker.port)
        client.loop_start()
        try:
            deadline = time.monotonic() + timeout
            while not online.wait(0.5):
                if self.central is not None and self.central.poll() is not None:
                    raise RuntimeError(f"kiosk-central serve exited: see {self.central_home / 'central.log'}")
                if time.monotonic() > deadline:
                    raise RuntimeError("the central did not come online")
        finally:
            client.disconnect()
            client.loop_stop()

    def start_syncd(self, window_bytes: int) -> None:
        log = open(self.kiosk_home / "syncd.log", "ab")  # noqa: SIM115
        self.syncd = subprocess.Popen(["ip", "netns", "exec", NS, str(BIN / "kiosk-syncd"),
                                       "--home", str(self.kiosk_home), "--window-bytes", str(window_bytes)],
                                      stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def backlog(self, apps: int, photos: list[bytes], seed: int) -> tuple[list[str], int, int]:
        """Queue ``apps`` applications; returns their ids, the stored payload (envelope bytes) and the raw
        bytes (photos + form fields as JSON)."""
        rng = random.Random(seed)
        ids = []
        raw = 0
        for n in range(apps):
            code, fields = fictional_fields(n + 1, rng)
            files = [Attachment(f"m{j}.webp", "image/webp", photos[(n * PHOTOS_PER_APP + j) % len(photos)])
                     for j in range(PHOTOS_PER_APP)]
            ids.append(self.outbox.enqueue_submission(self.device, code, fields, files).message_id)
            raw += sum(len(f.data) for f in files) + len(json.dumps(fields, ensure_ascii=False).encode())
        with sqlite3.connect(self.kiosk_home / "outbox.db") as db:
            stored = int(db.execute("select coalesce(sum(length(body)), 0) from outbox "
                                    "where state = 'pending'").fetchone()[0])
        return ids, stored, raw

    def complete(self, ids: list[str]) -> int:
        if not ids:
            return 0
        with contextlib.closing(sqlite3.connect(self.central_home / "central.db", timeout=5)) as db:
            marks = ",".join("?" * len(ids))
            return int(db.execute(f"select count(*) from submissions where complete = 1 and id in ({marks})",  # noqa: S608
                                  ids).fetchone()[0])

    def stop(self) -> None:
        for proc in (self.syncd, self.central):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self.broker.stop()
        self.outbox.close()


def ui_child(args: argparse.Namespace) -> int:
    """The UI's stand-in: a Qt event loop that enqueues through the UI's real path and times its own stalls."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QGuiApplication

    from kiosk.background import BackgroundRunner
    from kiosk.journey.submitter import Submitter

    app = QGuiApplication([])
    home = Path(args.ui_child)
    device = DeviceConfig.load(home)
    outbox = Outbox(home / "outbox.db", defer=True)
    submitter = Submitter(outbox, device)
    runner = BackgroundRunner()
    photos = [Path(p).read_bytes() for p in args.photo]
    last = time.perf_counter()
    worst = 0.0
    ticks = 0
    result: dict[str, Any] = {}

    def tick() -> None:
        nonlocal last, worst, ticks
        now = time.perf_counter()
        worst = max(worst, now - last)
        last = now
        ticks += 1

    def submitted(receipt: Any) -> None:
        if isinstance(receipt, BaseException):
            result["error"] = type(receipt).__name__
        else:
            result["message_id"] = receipt.message_id
        print(json.dumps({"submitted_at": result["submitted_at"], **result}), flush=True)

    def submit() -> None:
        code, fields = fictional_fields(999_999, random.Random(1))
        files = [Attachment(f"new{j}.webp", "image/webp", p) for j, p in enumerate(photos)]
        result["submitted_at"] = time.time()
        runner.run(lambda: submitter.submit(code, fields, files), submitted, submitted)

    stop_flag, drain_flag, submit_flag = home / "ui-stop", home / "ui-drain", home / "ui-submit"
    baseline: dict[str, float] = {}

    def finish() -> None:
        nonlocal worst, ticks
        if not baseline and drain_flag.exists():  # the drain starts: what came before is the idle baseline
            baseline.update(idle_max_stall_ms=round(worst * 1000, 1), idle_ticks=ticks)
            print(json.dumps(baseline), flush=True)
            worst, ticks = 0.0, 0
        if "submitted_at" not in result and submit_flag.exists():  # the drain is under way: a resident submits
            submit()
        if stop_flag.exists() or time.monotonic() > until:
            print(json.dumps({"max_stall_ms": round(worst * 1000, 1), "ticks": ticks}), flush=True)
            app.quit()

    until = time.monotonic() + args.ui_seconds

    timer = QTimer(interval=5)
    timer.timeout.connect(tick)
    timer.start()
    poll = QTimer(interval=2000)  # the journey's machine-state poll (JourneyConfig.status_poll_ms)
    poll.timeout.connect(lambda: runner.run(submitter.state, lambda _s: None, lambda _e: None))
    poll.start()
    stopper = QTimer(interval=100)
    stopper.timeout.connect(finish)
    stopper.start()
    app.exec()
    runner.shutdown()
    outbox.close()
    return 0


def cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


PROBE = ("import sys, time, pathlib\n"
         "flag = pathlib.Path(sys.argv[1]); worst = 0.0; last = time.perf_counter()\n"
         "while not flag.exists():\n"
         "    time.sleep(0.005); now = time.perf_counter(); worst = max(worst, now - last - 0.005); last = now\n"
         "print(round(worst * 1000, 1))\n")


def run_rate(rate_mbit: float, apps: int, rtt_ms: float, photos: list[bytes], seed: int,
             submit_share: float, window_bytes: int) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="kiosk-link-"))
    proxy_port = free_port()
    rig = Rig(home, proxy_port)
    photo_files = []
    for j in range(PHOTOS_PER_APP):
        p = home / f"new{j}.photo"
        p.write_bytes(photos[-1 - j])
        photo_files += ["--photo", str(p)]
    ids, stored, raw = rig.backlog(apps, photos, seed)
    ui: subprocess.Popen[str] | None = None
    try:
        rig.start_central()
        with ShapedLink(rate_mbit) as link:
            # The proxy runs in its own process: no GIL shared with this measuring loop.
            proxy = subprocess.Popen([sys.executable, "-m", "devtools.link_proxy",
                                      "--listen", f"{HOST_IP}:{proxy_port}", "--target", f"127.0.0.1:{rig.broker.port}",
                                      "--one-way-ms", str(rtt_ms / 2)], stdout=subprocess.PIPE, text=True)
            assert proxy.stdout is not None and proxy.stdout.readline().strip() == "ready"
            counters: dict[str, Any] = {}
            try:
                rig.wait_central_online()  # the central subscribes before the kiosk appears
                ui = subprocess.Popen([sys.executable, "-m", "bench.link", "--ui-child", str(rig.kiosk_home),
                                       "--ui-seconds", "3600", *photo_files],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                new_id, submitted_at, new_done = None, None, None
                lines: list[str] = []
                threading.Thread(target=lambda: lines.extend(iter(ui.stdout.readline, "")),  # type: ignore[union-attr]
                                 daemon=True).start()
                time.sleep(UI_IDLE_S)  # the UI loop's stalls with no drain running: the baseline at this load
                before = link.counters()
                t0 = time.time()
                (rig.kiosk_home / "ui-drain").touch()
                # A process that only sleeps 5 ms at a time: its longest oversleep is the machine's own share
                # of any stall (CPU starvation at this load), the rest is the UI path's.
                probe = subprocess.Popen([sys.executable, "-c", PROBE, str(rig.kiosk_home / "ui-stop")],
                                         stdout=subprocess.PIPE, text=True)
                rig.start_syncd(window_bytes)
                assert rig.syncd is not None and rig.central is not None and rig.broker.proc is not None
                pids = {"syncd": rig.syncd.pid, "central": rig.central.pid, "broker": rig.broker.proc.pid}
                cpu0 = {k: cpu_s(p) for k, p in pids.items()}
                submit_when = max(5, round(apps * submit_share))
                submitted_done = None
                deadline = t0 + max(120.0, 4 * stored * 8 / (rate_mbit * 1e6))
                done = 0
                t_done = None
                while time.time() < deadline:
                    if new_id is None:
                        for line in lines:
                            got = json.loads(line)
                            if "message_id" in got:
                                new_id, submitted_at = got["message_id"], got["submitted_at"]
                    if new_id is not None and new_done is None and rig.complete([new_id]):
                        new_done = time.time()
                    done = rig.complete(ids)
                    if submitted_done is None and done >= submit_when:
                        submitted_done = done
                        (rig.kiosk_home / "ui-submit").touch()
                    if done == len(ids) and t_done is None:
                        t_done = time.time()
                        after = link.counters()
                        cpu = {k: round(cpu_s(p) - cpu0[k], 1) for k, p in pids.items()}
                    if t_done is not None and (new_done is not None or time.time() > t_done + 30):
                        break
                    time.sleep(0.05)
                if t_done is None:
                    after = link.counters()
                    cpu = {k: round(cpu_s(p) - cpu0[k], 1) for k, p in pids.items()}
                (rig.kiosk_home / "ui-stop").touch()  # the UI loop reports its longest stall and ends
                probe_stall = float(probe.communicate(timeout=15)[0].strip() or "nan")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    ui.wait(15)
                time.sleep(0.2)
            finally:
                proxy.terminate()
                counters = json.loads(proxy.communicate(timeout=15)[0].strip().splitlines()[-1])
    finally:
        stall = None
        if ui is not None and ui.poll() is None:
            ui.kill()
            ui.wait(10)
        rig.stop()
    idle_stall = None
    for line in lines:
        got = json.loads(line)
        stall = got.get("max_stall_ms", stall)
        idle_stall = got.get("idle_max_stall_ms", idle_stall)
    drain_s = (t_done - t0) if t_done else None
    wire = (after["tx_bytes"] + after["rx_bytes"]) - (before["tx_bytes"] + before["rx_bytes"])
    tls = counters["up"] + counters["down"]
    first_up = counters["first_up"]
    out = {
        "link_mbit": rate_mbit, "rtt_ms": rtt_ms, "apps": apps, "photos_per_app": PHOTOS_PER_APP,
        "photo_bytes_mean": round(sum(len(p) for p in photos) / len(photos)),
        "drained": done, "drain_s": round(drain_s, 2) if drain_s else None,
        "stored_payload_bytes": stored, "raw_bytes": raw,
        "wire_bytes": wire, "tcp_retransmitted_segments": after["tcp_retrans_segs"] - before["tcp_retrans_segs"],
        "packets": (after["tx_packets"] + after["rx_packets"]) - (before["tx_packets"] + before["rx_packets"]),
        "wire_bytes_per_app": round(wire / apps), "tls_bytes": tls,
        "wire_over_stored": round(wire / stored, 3), "wire_over_raw": round(wire / raw, 3),
        "goodput_of_link": round(stored * 8 / drain_s / (rate_mbit * 1e6), 3) if drain_s else None,
        # from the kiosk's first byte on the link (the daemon's start-up and TLS handshake excluded)
        "transfer_s": round(t_done - first_up, 2) if t_done and first_up else None,
        "goodput_of_link_transfer": (round(stored * 8 / (t_done - first_up) / (rate_mbit * 1e6), 3)
                                     if t_done and first_up else None),
        "new_app_latency_s": round(new_done - submitted_at, 2) if new_done and submitted_at else None,
        "new_app_submitted_when_complete": submitted_done,
        "ui_max_stall_ms": stall, "ui_idle_max_stall_ms": idle_stall, "sleeper_max_stall_ms": probe_stall,
        "cpu_s_during_drain": cpu,
        "load_after": [round(x, 2) for x in os.getloadavg()], "offloads_off": link.offloads,
        "proxy_connections": counters["connections"], "window_bytes": window_bytes,
    }
    shutil.rmtree(home, ignore_errors=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="8,1", help="link rates in Mbit/s, comma-separated")
    ap.add_argument("--apps", type=int, default=300, help="backlog on the fastest link")
    ap.add_argument("--apps-slow", type=int, default=60,
                    help="backlog on links under 4 Mbit/s (300 would take ~10 min at 1 Mbit/s)")
    ap.add_argument("--rtt-ms", type=float, default=150.0)
    ap.add_argument("--submit-share", type=float, default=0.1,
                    help="the new application is submitted once this share of the backlog is at the central")
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--window-kib", default=str(WINDOW_BYTES // 1024),
                    help="the daemon's in-flight byte window(s) to run, comma-separated (default: the shipped one)")
    ap.add_argument("--ui-child", help=argparse.SUPPRESS)
    ap.add_argument("--ui-seconds", type=float, default=600, help=argparse.SUPPRESS)
    ap.add_argument("--photo", action="append", default=[], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.ui_child:
        return ui_child(a)
    if os.geteuid() != 0:
        print("bench.link needs root (network namespaces, tc)", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    load_before = [round(x, 2) for x in os.getloadavg()]
    photos = camera_photos(DISTINCT_FRAMES, a.seed)
    runs = []
    for rate in (float(r) for r in a.rates.split(",")):
        apps = a.apps if rate >= 4 else a.apps_slow
        for window in (int(w) * 1024 for w in a.window_kib.split(",")):
            runs.append(run_rate(rate, apps, a.rtt_ms, photos, a.seed, a.submit_share, window))
    print(json.dumps({
        "bench": "link", "runs": runs,
        "targets": {"goodput_of_link": 0.9, "wire_over_stored": 1.1, "new_app_latency_s_at_8mbit": 2.0,
                    "ui_max_stall_ms": 50},
        "scaled": {"apps_below_4mbit": a.apps_slow, "why": "a 300-application backlog takes ~10 min at 1 Mbit/s"},
        "load_before": load_before, "load_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(), "wall_s": round(time.monotonic() - t0, 1),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
