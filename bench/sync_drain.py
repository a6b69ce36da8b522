"""Benchmark: drain an offline kiosk's outbox through a private Mosquitto into the central.

Queues N submissions (~1 KB envelopes) while the broker is down, measuring each enqueue's latency; then
starts the broker and the central (IngestWorker + CentralStore on SQLite; by default two processes on the
shared subscription, as ``kiosk-central serve --processes 2`` runs on a 2-core machine, so the kiosk's
daemon and the central do not share one GIL), starts the real SyncDaemon (which sends runs of submissions
as ``up/batch`` messages of ``--batch`` envelopes, its default; ``--batch 1`` sends one per message) and
measures the time until the kiosk has seen every ack (the central acks only after it
commits, and the count it stored is checked). In the same run, on the same broker, the baseline: raw paho
QoS 1, one publisher (``max_inflight`` = the daemon's window) and one subscriber (placed where the central
runs), 1 KB payloads, end to end until the subscriber has received all.

The CPU each path spends per message is reported (``cpu_ms_per_msg``), with what the two mandatory crypto
checks cost on this machine (device signature, unsealing) and, from those, the best ratio the machine
allows (``ceiling``; see :func:`ceiling`).

CPU seconds of each part during the drain are read from ``/proc`` (the central's process, the daemon's
thread, the broker), so where the time goes is measured in the same run; ``--profile DIR`` also writes a
cProfile of the central's worker thread and of the daemon's thread there (slower; not for the figures).

Prints one JSON object. Run: ``.venv/bin/python -m bench.sync_drain [--n 10000] [--window 20] [--quick]
[--central process|thread] [--workers N] [--threads N] [--batch N] [--profile DIR]``. Targets on a 2-core
machine: ratio >= 0.5, enqueue p95 < 10 ms. Never used as a timed assert in tests.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from central.field_encryption import MASTER_KEY_FILE, KeySource
from central.ingest import IngestWorker
from central.keys import CentralKeys
from central.store import CentralStore
from central.trust import register_key
from devtools.broker import MosquittoBroker, free_port
from sync.daemon.service import BATCH_SIZE, SyncDaemon
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol.broker_url import parse_broker_url
from sync.protocol.signing import DeviceSigner
from sync.runtime.backoff import Backoff
from sync.runtime.mqtt import new_client

ROOT = Path(__file__).resolve().parents[1]
BASE_TOPIC = "bench/raw"


def _pct(xs: list[float], q: float) -> float:
    ys = sorted(xs)
    return ys[min(len(ys) - 1, round(q / 100 * (len(ys) - 1)))] if ys else float("nan")


def _cpu_s(pid: int, tid: int | None = None) -> float:
    """user + system CPU seconds of a process (or one of its threads) from /proc; 0 if it is gone."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid is not None else f"/proc/{pid}/stat"
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _profiled(target: Any, out: str | None) -> Any:
    """``target`` run under cProfile, the stats written to ``out`` (or ``target`` itself)."""
    if not out:
        return target

    def run() -> None:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        try:
            target()
        finally:
            prof.disable()
            prof.dump_stats(out)

    return run


def _fields(i: int) -> list[dict[str, str]]:
    # Sized so that the sealed envelope is about 1 KB.
    return [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "孙九"},
            {"id": "id_number", "kind": "id_number", "label": "身份证号", "value": "110101199003074514"},
            {"id": "phone", "kind": "phone", "label": "联系电话", "value": "13800138000"},
            {"id": "address", "kind": "text", "label": "住址", "value": f"幸福街道{i}号" + "x" * 95}]


# -- the central / the raw subscriber, in their own process ------------------------------------------------


def serve_central(broker_url: str, db: str, keys_home: str, threads: str = "1", profile: str = "") -> None:
    """``--serve-central``: run ``threads`` ingest workers on the shared subscription in this process (as
    ``kiosk-central serve --workers N`` does) until stdin closes; say 'ready' once connected."""
    store = CentralStore(f"sqlite:///{db}", master_keys=KeySource.resolve(Path(keys_home)))
    keys = CentralKeys.load(Path(keys_home))
    workers = [IngestWorker(broker_url, store, keys, worker_id=f"bench-{os.getpid()}-{i}", backoff=Backoff(0.05, 0.5))
               for i in range(int(threads))]
    runners = [threading.Thread(target=_profiled(w.run, f"{profile}.{i}" if profile else None), daemon=True)
               for i, w in enumerate(workers)]
    for runner in runners:
        runner.start()
    if not all(w.connected.wait(30) for w in workers):
        sys.exit("central did not connect")
    print("ready", flush=True)
    sys.stdin.read()
    for w in workers:
        w.request_stop()
    for runner in runners:
        runner.join(10)
    print(json.dumps({"stored": store.count()}), flush=True)
    store.close()


def serve_subscriber(broker_url: str, n: int) -> None:
    """``--serve-sub``: receive n messages on the baseline topic; print the monotonic time of the last."""
    host, port = parse_broker_url(broker_url)
    got = 0
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(_c: Any, _u: Any, _m: Any) -> None:
        nonlocal got
        got += 1
        if got == n:
            print(f"done {time.monotonic()}", flush=True)
            done.set()

    client = new_client(f"bench-sub-{os.getpid()}")
    client.on_message = on_message
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect(host, port, clean_start=True)
    client.subscribe(BASE_TOPIC, qos=1)
    client.loop_start()
    if not subscribed.wait(10):
        sys.exit("subscriber did not subscribe")
    print("ready", flush=True)
    done.wait(600)
    client.loop_stop()
    client.disconnect()


class _Child:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.sync_drain", *args], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.proc.kill()
            raise RuntimeError(f"child {args[0]} did not start: {line!r}")

    def readline(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def finish(self) -> str:
        out, _ = self.proc.communicate(timeout=60)
        return out.strip()


# -- the measurements --------------------------------------------------------------------------------------


def raw_paho(broker: MosquittoBroker, n: int, window: int, payload: int, central: str,
             cpu: dict[str, float] | None = None) -> float:
    """Messages per second, first publish to last message received by the subscriber; ``cpu`` (if given)
    gets the CPU seconds the publisher's process, the subscriber's process and the broker spent on it."""
    sub = _Child("--serve-sub", broker.url, str(n)) if central == "process" else None
    assert broker.proc is not None
    cpu0 = {"broker": _cpu_s(broker.proc.pid), "publisher_process": _cpu_s(os.getpid()),
            "subscriber": _cpu_s(sub.proc.pid) if sub is not None else 0.0}
    done_at: list[float] = []
    local: Any = None
    if sub is None:
        got = [0]
        ready = threading.Event()
        local = new_client("bench-sub-local")

        def on_message(_c: Any, _u: Any, _m: Any) -> None:
            got[0] += 1
            if got[0] == n:
                done_at.append(time.monotonic())

        local.on_message = on_message
        local.on_subscribe = lambda *_a: ready.set()
        local.connect("127.0.0.1", broker.port, clean_start=True)
        local.subscribe(BASE_TOPIC, qos=1)
        local.loop_start()
        ready.wait(10)
    pub = new_client("bench-pub")
    pub.max_inflight_messages_set(window)
    connected = threading.Event()
    pub.on_connect = lambda *_a: connected.set()
    pub.connect("127.0.0.1", broker.port, clean_start=True)
    pub.loop_start()
    connected.wait(10)
    body = os.urandom(payload // 2).hex().encode()[:payload]
    t0 = time.monotonic()
    infos = [pub.publish(BASE_TOPIC, body, qos=1) for _ in range(n)]
    if sub is not None:
        line = sub.readline()
        done_at.append(float(line.split()[1]))
        if cpu is not None:
            cpu["subscriber"] = round(_cpu_s(sub.proc.pid) - cpu0["subscriber"], 2)
        sub.finish()
    else:
        deadline = time.monotonic() + 600
        while not done_at and time.monotonic() < deadline:
            time.sleep(0.005)
        local.loop_stop()
        local.disconnect()
    infos[-1].wait_for_publish(10)
    if cpu is not None:
        cpu["broker"] = round(_cpu_s(broker.proc.pid) - cpu0["broker"], 2)
        cpu["publisher_process"] = round(_cpu_s(os.getpid()) - cpu0["publisher_process"], 2)
    pub.loop_stop()
    pub.disconnect()
    return n / (done_at[0] - t0)


def crypto_floor(keys: CentralKeys, folder: Path, m: int = 2000) -> dict[str, float]:
    """CPU ms per message of the two checks the central must make on every submission and no raw publish
    pays for: the device signature (``sync.protocol.signing.verify``, #9) and the unsealing
    (``Opener.open``, X25519 + HKDF + AES-GCM), on ``m`` envelopes built by a real Outbox."""
    from bench.ingest import KEYS_BY_DEVICE, build_envelopes
    from sync.protocol import signing
    from sync.protocol.envelope import Envelope

    device_id, bodies = build_envelopes(m, keys, folder / "floor")
    envs = [Envelope.from_bytes(b) for b in bodies]
    key = signing.public_key(KEYS_BY_DEVICE[device_id])
    t0 = time.process_time()
    for env in envs:
        signing.verify(env, key)
    t1 = time.process_time()
    for env in envs:
        keys.opener.open(env.sealed, aad=env.id.encode("ascii"))
    t2 = time.process_time()
    return {"verify_ms": round((t1 - t0) / m * 1000, 4), "unseal_ms": round((t2 - t1) / m * 1000, 4)}


def ceiling(raw_rate: float, raw_cpu_ms: float, verify_ms: float, unseal_ms: float, batch: int,
            drain_cpu_ms: float, cores: int) -> dict[str, float]:
    """What the raw baseline's own cost says about the best ratio this machine allows.

    Both paths are CPU-bound here (the raw one keeps ``raw_cores_busy`` of the cores busy). Sent one per MQTT
    message, a submission costs at least what a raw publish costs (the same paho client at each end, the same
    broker) plus the two mandatory crypto checks, so that protocol cannot beat
    ``cores / (raw_cpu_ms + verify_ms + unseal_ms)`` messages a second: over ``raw_rate``, that is
    ``ratio_ceiling_one_per_message``. ``budget_ms_at_ratio_0.5`` is the CPU per message it leaves, at ratio
    0.5, for everything else (JSON, the fsynced SQLite transactions at both ends, sequence tracking, acks).
    ``up/batch`` (``batch`` > 1) pays the paho, broker and signature costs once per ``batch`` submissions;
    ``rest_ms`` is what this run spent per message beyond its own transport and crypto share."""
    one = cores / ((raw_cpu_ms + verify_ms + unseal_ms) / 1000)
    share = (raw_cpu_ms + verify_ms) / max(1, batch) + unseal_ms
    return {"raw_cores_busy": round(raw_cpu_ms / 1000 * raw_rate, 2),
            "ratio_ceiling_one_per_message": round(one / raw_rate, 3),
            "budget_ms_at_ratio_0.5": round(cores / (0.5 * raw_rate) * 1000 - raw_cpu_ms - verify_ms - unseal_ms, 4),
            "rest_ms": round(drain_cpu_ms - share, 4)}


def drain(n: int, window: int, central: str, folder: Path, workers: int = 1, threads: int = 1,
          profile: Path | None = None, batch: int = BATCH_SIZE) -> dict[str, Any]:
    keys = CentralKeys.generate()
    keys_home = folder / "central"
    keys.save(keys_home)
    KeySource(path=keys_home / MASTER_KEY_FILE).create()  # the master key of the personal data at rest
    port = free_port()
    home = folder / "kiosk"
    home.mkdir(parents=True)
    device = DeviceConfig("bench-kiosk-1", "基准测试", f"mqtt://127.0.0.1:{port}",
                          base64.b64encode(keys.seal.public_raw).decode(),
                          base64.b64encode(keys.command_public_raw).decode())
    device.save(home)
    signer = DeviceSigner.generate()  # the kiosk's device key: the outbox signs every envelope with it
    signer.save(home)
    outbox = Outbox(home / OUTBOX_FILE)
    latencies: list[float] = []
    t_enqueue = time.monotonic()
    for i in range(n):
        t0 = time.perf_counter()
        outbox.enqueue_submission(device, "MZ-LNYD-001", _fields(i))
        latencies.append((time.perf_counter() - t0) * 1000)
    enqueue_s = time.monotonic() - t_enqueue
    sizes = [len(m.body) for m in outbox.pending_batch(50)]
    db = folder / "central.db"
    enrolled = CentralStore(f"sqlite:///{db}")  # the central refuses kiosks whose key it does not hold
    register_key(enrolled, device.device_id, signer.public_raw, how="bench")
    enrolled.close()
    with MosquittoBroker(port=port) as broker:
        children: list[_Child] = []
        worker: IngestWorker | None = None
        store: CentralStore | None = None
        if central == "process":
            for i in range(workers):
                prof = str(profile / f"central-{i}.prof") if profile else ""
                children.append(_Child("--serve-central", broker.url, str(db), str(keys_home), str(threads), prof))
        else:
            store = CentralStore(f"sqlite:///{db}", master_keys=KeySource.resolve(keys_home))
            worker = IngestWorker(broker.url, store, keys, worker_id="bench", backoff=Backoff(0.05, 0.5)).start()
            worker.connected.wait(30)
        assert broker.proc is not None
        pids = {"broker": broker.proc.pid, **{f"central-{i}": c.proc.pid for i, c in enumerate(children)}}
        cpu0 = {name: _cpu_s(pid) for name, pid in pids.items()}
        t0 = time.monotonic()
        daemon = SyncDaemon(outbox, device, window=window, backoff=Backoff(0.05, 0.5), heartbeat_interval_s=3600,
                            batch_size=batch)
        thread = threading.Thread(target=_profiled(daemon.run, str(profile / "daemon.prof") if profile else None),
                                  name="kiosk-syncd", daemon=True)
        thread.start()
        deadline = t0 + max(600.0, n / 10)
        while daemon.acked_total < n and time.monotonic() < deadline:
            time.sleep(0.02)
        seconds = time.monotonic() - t0
        cpu = {name: round(_cpu_s(pid) - cpu0[name], 2) for name, pid in pids.items()}
        if thread.native_id is not None:
            cpu["daemon_thread"] = round(_cpu_s(os.getpid(), thread.native_id), 2)
        cpu["bench_process_total"] = round(_cpu_s(os.getpid()), 2)
        daemon.request_stop()
        thread.join(10)
        acked = outbox.counts()["acked"]
        if children:
            stored = max(int(json.loads(c.finish().splitlines()[-1])["stored"]) for c in children)
        else:
            assert worker is not None and store is not None
            worker.stop()
            stored = store.count()
            store.close()
        raw_cpu: dict[str, float] = {}
        raw = raw_paho(broker, n, window, 1024, central, raw_cpu)
        raw20 = raw if window == 20 else raw_paho(broker, n, 20, 1024, central)
    outbox.close()
    rate = n / seconds
    floor = crypto_floor(keys, folder)
    drain_cpu_ms = sum(v for k, v in cpu.items() if k != "bench_process_total") / n * 1000
    raw_cpu_ms = sum(raw_cpu.values()) / n * 1000
    return {
        "n": n, "window": window, "central": central, "central_processes": len(children),
        "workers_per_process": threads if children else 1,
        "seconds": round(seconds, 3), "msgs_per_s": round(rate, 1), "raw_paho_msgs_per_s": round(raw, 1),
        "raw_paho_window20_msgs_per_s": round(raw20, 1), "ratio": round(rate / raw, 3),
        "acked": acked, "stored": stored, "envelope_bytes": round(statistics.mean(sizes)),
        "cpu_s_during_drain": cpu, "cpu_s_during_raw_paho": raw_cpu,
        "cpu_ms_per_msg": {"drain": round(drain_cpu_ms, 3), "raw_paho": round(raw_cpu_ms, 3), **floor},
        "batch": batch,
        "ceiling": ceiling(raw, raw_cpu_ms, floor["verify_ms"], floor["unseal_ms"], batch, drain_cpu_ms,
                           os.cpu_count() or 1),
        "enqueue_ms": {"p50": round(_pct(latencies, 50), 3), "p95": round(_pct(latencies, 95), 3),
                       "p99": round(_pct(latencies, 99), 3), "max": round(max(latencies), 3)},
        "enqueue_total_s": round(enqueue_s, 3),
        "targets": {"ratio>=0.5": rate / raw >= 0.5, "enqueue_p95<10ms": _pct(latencies, 95) < 10},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_after": os.getloadavg()[0]},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="n = 1,000")
    ap.add_argument("--central", choices=("process", "thread"), default="process",
                    help="run the central in its own process (default) or in this one")
    ap.add_argument("--workers", type=int, default=2,
                    help="central processes on the shared subscription (with --central process; default 2, "
                         "as kiosk-central serve --processes 2 on a 2-core machine)")
    ap.add_argument("--batch", type=int, default=BATCH_SIZE,
                    help=f"submissions per up/batch message (the daemon's default {BATCH_SIZE}; 1: one per message)")
    ap.add_argument("--threads", type=int, default=1,
                    help="ingest workers per central process (kiosk-central serve --workers)")
    ap.add_argument("--profile", type=Path, help="write cProfile stats of the central and the daemon here")
    ap.add_argument("--serve-central", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    ap.add_argument("--serve-sub", nargs=2, metavar=("BROKER", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve_central:
        serve_central(*args.serve_central)
        return 0
    if args.serve_sub:
        serve_subscriber(args.serve_sub[0], int(args.serve_sub[1]))
        return 0
    n = 1000 if args.quick else args.n
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-drain-") as tmp:
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        result = drain(n, args.window, args.central, Path(tmp), args.workers, args.threads, args.profile,
                       args.batch)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
