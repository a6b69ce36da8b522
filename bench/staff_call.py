"""Benchmark: how soon a resident's 呼叫工作人员 reaches an open console.

The real path on one machine: a kiosk's outbox (the event the journey's help button queues) and its sync daemon,
a private Mosquitto, the central's ingest worker on SQLite, the dashboard (uvicorn) with its production stream
tick (``sse_poll_s`` 1 s) and **no** alarm evaluator, and a logged-in viewer's ``/sse/fleet`` stream read over
HTTP. For each of ``--calls`` calls: the time from the outbox to the event stored at the central (the
transport, the same-run baseline: what no console change can go below) and to the stream carrying the call
(what the operator sees). Calls start at a random phase of the stream's tick; between calls an operator clears
the call and the stream shows it gone.

Before the change the call waited for the evaluator (every 5 s) and then the stream's tick: up to ~6 s.
``--before N`` calls go through that old path first, in the same run (ingest opens nothing, the dashboard's
evaluator runs every 5 s), for comparison.
Prints one JSON object (ms: p50, p95, max). Target: stream p95 <= 2 s.
Run: ``.venv/bin/python -m bench.staff_call [--calls 10]``. Never used as a timed assert in tests.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from central import alarms
from central.fleet import alarms_list, clear_alarm
from central.ingest import IngestWorker
from central.keys import CentralKeys
from central.models import Event
from central.store import CentralStore
from central.trust import register_key
from central.web import auth
from central.web.server import serve
from devtools.broker import MosquittoBroker
from sync.daemon.service import SyncDaemon
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol.signing import DeviceSigner
from sync.runtime.backoff import Backoff

DEVICE = "bench-kiosk-call"
META = {"code": "staff_call", "severity": "critical",
        "detail": "resident asks for help at the kiosk (screen identify, item -, language zh)"}


def _stats(xs: list[float]) -> dict[str, float]:
    ys = sorted(xs)
    return {"p50": round(ys[len(ys) // 2], 1), "p95": round(ys[min(len(ys) - 1, round(0.95 * (len(ys) - 1)))], 1),
            "max": round(ys[-1], 1)}


class Stream:
    """A viewer's ``/sse/fleet``: the open staff calls' alarm ids of each event, with its arrival time."""

    def __init__(self, url: str, cookies: httpx.Cookies) -> None:
        self.seen: list[tuple[float, set[int]]] = []
        self.cond = threading.Condition()
        self.client = httpx.Client(base_url=url, cookies=cookies, timeout=httpx.Timeout(5.0, read=None))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with self.client.stream("GET", "/sse/fleet") as r:
            event = ""
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "fleet":
                    ids = {int(c["alarm_id"]) for c in json.loads(line[6:])["staff_calls"]}
                    with self.cond:
                        self.seen.append((time.monotonic(), ids))
                        self.cond.notify_all()

    def wait(self, test: Any, after: float, timeout: float = 30.0) -> float:
        """The arrival time of the first event after ``after`` whose ids pass ``test``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for at, ids in self.seen:
                    if at >= after and test(ids):
                        return at
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit("the stream never showed it")
                self.cond.wait(left)


def _phase(store: CentralStore, outbox: Outbox, device: DeviceConfig, folder: Path, broker_url: str, calls: int,
           evaluate_every_s: float | None) -> tuple[list[float], list[float]]:
    """``calls`` calls to a fresh dashboard: (stored at the central, shown on the stream) in ms each."""
    dash = serve(store, "127.0.0.1", 0, keys_home=folder / "central", broker_url=broker_url,
                 session_secret=uuid.uuid4().hex * 2, evaluate_every_s=evaluate_every_s)  # the stream: 1 s tick
    try:
        web = httpx.Client(base_url=dash.url, follow_redirects=True)
        token = re.search(r'name="csrf" value="([^"]+)"', web.get("/login").text)
        assert token is not None
        web.post("/login", data={"username": "li", "password": "viewer-secret-1", "csrf": token.group(1),
                                 "next": "/"})
        stream = Stream(dash.url, web.cookies)
        stream.wait(lambda ids: not ids, 0.0)
        transport, console = [], []
        rnd = random.Random(19)
        for _ in range(calls):
            time.sleep(rnd.uniform(0.0, 1.0))  # calls come at any phase of the stream's tick
            t0 = time.monotonic()
            event_id = str(outbox.enqueue_event(device, "alarm", dict(META)))
            while True:  # the baseline: stored at the central (polled every 5 ms)
                with store.session() as s:
                    if s.get(Event, event_id) is not None:
                        break
                time.sleep(0.005)
            transport.append((time.monotonic() - t0) * 1000)
            console.append((stream.wait(bool, t0) - t0) * 1000)
            (call,) = [a for a in alarms_list(store) if a["code"] == "staff_call"]
            cleared = time.monotonic()
            clear_alarm(store, call["id"], "bench")
            stream.wait(lambda ids: not ids, cleared)
        web.close()
    finally:
        dash.stop()
    return transport, console


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--before", type=int, default=5, help="calls through the old path (evaluator every 5 s)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, MosquittoBroker() as broker:
        folder = Path(tmp)
        keys = CentralKeys.generate()
        keys.save(folder / "central")
        home = folder / "kiosk"
        home.mkdir()
        device = DeviceConfig(DEVICE, "基准街道", broker.url, base64.b64encode(keys.seal.public_raw).decode(),
                              base64.b64encode(keys.command_public_raw).decode())
        device.save(home)
        signer = DeviceSigner.generate()
        signer.save(home)
        store = CentralStore(f"sqlite:///{folder / 'central.db'}")
        register_key(store, DEVICE, signer.public_raw, how="bench")
        auth.add_operator(store, "li", "viewer-secret-1", "viewer")
        worker = IngestWorker(broker.url, store, keys, worker_id="bench", backoff=Backoff(0.05, 0.5)).start()
        worker.connected.wait(30)
        outbox = Outbox(home / OUTBOX_FILE)
        daemon = SyncDaemon(outbox, device, backoff=Backoff(0.05, 0.5), heartbeat_interval_s=3600).start()
        try:
            before: tuple[list[float], list[float]] = ([], [])
            if args.before:  # the old path, reproduced: nothing opened at ingest, the evaluator every 5 s
                live, alarms.LIVE_CODES = alarms.LIVE_CODES, frozenset()
                try:
                    before = _phase(store, outbox, device, folder, broker.url, args.before, 5.0)
                finally:
                    alarms.LIVE_CODES = live
            transport, console = _phase(store, outbox, device, folder, broker.url, args.calls, None)
        finally:
            daemon.stop()
            worker.stop()
            outbox.close()
            store.close()
    out: dict[str, Any] = {"bench": "staff_call", "calls": args.calls, "sse_poll_s": 1.0,
                           "baseline_stored_at_central_ms": _stats(transport), "shown_on_console_ms": _stats(console)}
    if args.before:
        out["before_change"] = {"calls": args.before, "evaluate_every_s": 5.0, "shown_on_console_ms": _stats(before[1])}
    out.update({"loadavg": [round(x, 2) for x in os.getloadavg()], "at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                        time.gmtime())})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
