"""A TCP proxy standing in for a slow, far link: delay each way, optionally a rate cap, and cuts.

``bench/link.py`` puts it behind a tbf-shaped veth (the kernel here has no ``netem``) for the round trip;
tests use its rate cap and :meth:`LinkProxy.drop_all` to cut a link in the middle of a photo without root.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque


class LinkProxy:
    """A TCP proxy that holds every byte ``one_way_s`` each way (the round trip netem would add) and, with
    ``rate_bps``, lets bytes through no faster than that each way. Counts bytes; :meth:`drop_all` cuts every
    connection as a link going down would."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int], one_way_s: float = 0.0,
                 rate_bps: float | None = None) -> None:
        self.listen, self.target, self.one_way_s, self.rate_bps = listen, target, one_way_s, rate_bps
        self.first_up: float | None = None  # time.time() of the first byte from a client
        self.up = self.down = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="delay-proxy", daemon=True)

    def start(self) -> LinkProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        return self

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._client, *self.listen)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        with contextlib.suppress(asyncio.CancelledError):  # stop(): a finished task, not a cancelled one
            await asyncio.gather(self._pipe(reader, up_writer, "up"), self._pipe(up_reader, writer, "down"),
                                 return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, way: str) -> None:
        held: deque[tuple[float, bytes]] = deque()
        arrived = asyncio.Event()
        done = False

        async def release() -> None:
            while not (done and not held):
                if not held:
                    arrived.clear()
                    await arrived.wait()
                    continue
                due, data = held[0]
                wait = due - self._loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                held.popleft()
                writer.write(data)
                await writer.drain()
                if self.rate_bps:
                    await asyncio.sleep(len(data) * 8 / self.rate_bps)

        sender = asyncio.ensure_future(release())
        try:
            while data := await reader.read(16384 if self.rate_bps else 65536):
                if way == "up":
                    if self.first_up is None:
                        self.first_up = time.time()
                    self.up += len(data)
                else:
                    self.down += len(data)
                held.append((self._loop.time() + self.one_way_s, data))
                arrived.set()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            done = True
            arrived.set()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await sender
            writer.close()

    def drop_all(self) -> None:
        """Cut every connection (the link going down)."""
        def cut() -> None:
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()
        self._loop.call_soon_threadsafe(cut)

    def stop(self) -> None:
        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._writers):
                w.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)


def main() -> int:
    """Run one proxy in a process of its own (bench/link.py: no GIL shared with the measuring loop); on SIGTERM
    it prints its counters as JSON: up, down, first_up, connections."""
    import argparse
    import json
    import signal

    ap = argparse.ArgumentParser(description="a delaying, optionally rate-capped TCP proxy")
    ap.add_argument("--listen", required=True, help="HOST:PORT")
    ap.add_argument("--target", required=True, help="HOST:PORT")
    ap.add_argument("--one-way-ms", type=float, default=0.0)
    ap.add_argument("--rate-bps", type=float)
    a = ap.parse_args()

    def addr(text: str) -> tuple[str, int]:
        host, _, port = text.rpartition(":")
        return host, int(port)

    proxy = LinkProxy(addr(a.listen), addr(a.target), a.one_way_ms / 1000, a.rate_bps).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    counters = {"up": proxy.up, "down": proxy.down, "first_up": proxy.first_up, "connections": proxy.connections}
    proxy.stop()
    print(json.dumps(counters), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
