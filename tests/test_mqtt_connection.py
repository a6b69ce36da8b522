"""The one MQTT connection worker (sync.runtime.connection) against a real Mosquitto: it outlives the broker
(killed and started again), subscribes again, spaces its attempts with bounded jitter, reports MQTT 5 PUBACK
refusals, and never lets paho be called from a thread other than its owner's."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.reasoncodes import ReasonCode

from devtools.broker import MosquittoBroker, free_port
from sync.runtime.backoff import Backoff
from sync.runtime.connection import MqttConnection, WrongThread
from sync.runtime.mqtt import TlsFiles, new_client
from tests.helpers import wait_until

PAHO_CALLS = ("connect", "loop", "loop_read", "publish", "subscribe", "disconnect", "will_set", "tls_set_context")


class Recorder:
    """A client factory whose clients note the thread of every paho call and callback (instrumentation only:
    the clients are real and talk to the real broker)."""

    def __init__(self) -> None:
        self.threads: set[int] = set()
        self.attempt_times: list[float] = []
        self.lock = threading.Lock()

    def note(self) -> None:
        with self.lock:
            self.threads.add(threading.get_ident())

    def factory(self, client_id: str, tls: TlsFiles | None) -> mqtt.Client:
        self.note()
        self.attempt_times.append(time.monotonic())
        client = new_client(client_id, tls)
        for name in PAHO_CALLS:
            setattr(client, name, self._wrap(getattr(client, name)))
        return client

    def _wrap(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.note()
            return method(*args, **kwargs)

        return call


class Probe:
    """A separate client on the broker (its own network thread): publishes and watches."""

    def __init__(self, port: int, topic: str) -> None:
        self.got: list[bytes] = []
        subscribed = threading.Event()
        self.client = new_client(f"probe-{uuid.uuid4().hex[:8]}")
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.on_message = lambda _c, _u, m: self.got.append(bytes(m.payload))
        self.client.connect("127.0.0.1", port, clean_start=True)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        assert subscribed.wait(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Owner:
    """A connection driven by its own thread, as the daemon, ingest and the CA service drive theirs."""

    def __init__(self, port: int, recorder: Recorder, backoff: Backoff, topic: str) -> None:
        self.received: list[bytes] = []
        self.connects = 0
        self.losses = 0
        self.outbox: list[bytes] = []  # what the test asks the owner thread to publish
        self.stop = threading.Event()
        self.conn = MqttConnection("127.0.0.1", port, client_id=f"owner-{uuid.uuid4().hex[:8]}", backoff=backoff,
                                   subscriptions=[(topic, 1)], stop=self.stop, client_factory=recorder.factory,
                                   on_connected=self._connected, on_lost=self._lost,
                                   on_message=self._message, name="test owner")
        self.recorder = recorder
        self.thread = threading.Thread(target=self.conn.run, kwargs={"tick": self._tick}, daemon=True)

    def _connected(self) -> None:
        self.recorder.note()
        self.connects += 1

    def _lost(self) -> None:
        self.recorder.note()
        self.losses += 1

    def _message(self, message: mqtt.MQTTMessage) -> None:
        self.recorder.note()
        self.received.append(bytes(message.payload))

    def _tick(self) -> None:
        while self.outbox and self.conn.connected.is_set():
            self.conn.publish("worker/out", self.outbox.pop(0))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def owner(own_broker: MosquittoBroker, recorder: Recorder) -> Iterator[Owner]:
    o = Owner(own_broker.port, recorder, Backoff(0.05, 0.3, random.Random(1)), "worker/in")
    o.thread.start()
    yield o
    o.close()


def test_outlives_a_broker_killed_and_started_again_and_subscribes_again(own_broker: MosquittoBroker,
                                                                        owner: Owner, recorder: Recorder) -> None:
    wait_until(owner.conn.connected.is_set, 10, "the first connection")
    probe = Probe(own_broker.port, "worker/out")
    try:
        owner.outbox.append(b"before")
        wait_until(lambda: b"before" in probe.got, 10, "a publish through the first connection")
    finally:
        probe.close()

    own_broker.stop()  # killed: the connection is lost, attempts fail until it is back
    wait_until(lambda: owner.losses == 1 and not owner.conn.connected.is_set(), 10, "the loss to be noticed")
    attempts = owner.conn.attempts
    wait_until(lambda: owner.conn.attempts >= attempts + 2, 10, "attempts against the dead broker")
    assert owner.connects == 1

    own_broker.start()  # same port, no persistence: the old subscription is gone from the broker
    wait_until(lambda: owner.connects == 2 and owner.conn.connected.is_set(), 10, "the reconnection")
    probe = Probe(own_broker.port, "worker/out")
    try:
        # Subscribed again by the worker itself: a message to its topic reaches it on the new connection.
        probe.client.publish("worker/in", b"after", qos=1).wait_for_publish(5)
        wait_until(lambda: b"after" in owner.received, 10, "a message on the re-made subscription")
        owner.outbox.append(b"again")
        wait_until(lambda: b"again" in probe.got, 10, "a publish through the new connection")
    finally:
        probe.close()
    assert owner.losses == 1
    # Every paho call and every callback ran on the owner's thread, through the kill and the restart.
    assert recorder.threads == {owner.thread.ident}


def test_paho_is_never_called_from_another_thread(owner: Owner) -> None:
    wait_until(owner.conn.connected.is_set, 10, "the connection")
    with pytest.raises(WrongThread):
        owner.conn.publish("worker/out", b"from the wrong thread")
    with pytest.raises(WrongThread):
        owner.conn.step()
    with pytest.raises(WrongThread):
        owner.conn.close()
    assert owner.conn.connected.is_set()  # refused before reaching paho: the connection is untouched


def test_reconnect_delays_are_jittered_within_their_bounds() -> None:
    initial, maximum = 0.1, 1.6
    schedules = []
    for seed in (1, 2):
        b = Backoff(initial, maximum, random.Random(seed))
        delays = [b.next_delay() for _ in range(12)]
        for attempt, delay in enumerate(delays):
            assert initial / 2 <= delay <= min(maximum, initial * 2 ** attempt)
        schedules.append(delays)
        b.reset()
        assert b.next_delay() <= initial  # a success starts again from the shortest delay
    # Two kiosks that lost the same broker do not come back in lockstep.
    assert schedules[0] != schedules[1]
    assert len({round(d, 6) for d in schedules[0][5:]}) > 1  # capped delays still vary


def test_attempts_against_a_dead_port_follow_the_backoff(recorder: Recorder) -> None:
    stop = threading.Event()
    refused: list[BaseException] = []
    conn = MqttConnection("127.0.0.1", free_port(), client_id="nobody", stop=stop,
                          backoff=Backoff(0.05, 0.2, random.Random(7)), client_factory=recorder.factory,
                          on_connect_error=refused.append, name="dead port")
    delays: list[float] = []
    deadline = time.monotonic() + 1.5
    conn.bind()
    while time.monotonic() < deadline and len(recorder.attempt_times) < 8:
        before = conn.attempts
        conn.step()
        if conn.attempts > before:
            delays.append(conn.last_delay)
    assert len(recorder.attempt_times) >= 5
    assert all(isinstance(e, ConnectionRefusedError) for e in refused) and len(refused) == conn.attempts
    gaps = [b - a for a, b in zip(recorder.attempt_times, recorder.attempt_times[1:], strict=False)]
    for gap, delay in zip(gaps, delays, strict=False):
        assert 0.025 <= delay <= 0.2
        assert gap >= delay - 0.005  # never sooner than drawn (the wait is on the stop event, not a spin)
        assert gap <= delay + 0.5  # and not much later (slack for a loaded machine)


def test_one_attempt_only_gives_up(recorder: Recorder) -> None:
    conn = MqttConnection("127.0.0.1", free_port(), client_id="once", reconnect=False,
                          client_factory=recorder.factory, name="once")
    started = time.monotonic()
    conn.run_until(lambda: False, timeout_s=5)
    assert conn.gave_up and conn.attempts == 1
    assert time.monotonic() - started < 2  # no waiting out the timeout once the attempt failed


class AclBroker(MosquittoBroker):
    """A plain broker that lets clients publish only under ``ok/``."""

    def _plain_lines(self) -> list[str]:
        acl = Path(self.folder) / "acl"
        acl.write_text("topic readwrite ok/#\n")
        return [*super()._plain_lines(), f"acl_file {acl}"]


def test_puback_refusals_reach_on_publish_as_failures() -> None:
    results: dict[int, ReasonCode] = {}
    with AclBroker() as broker:
        conn = MqttConnection("127.0.0.1", broker.port, client_id="acl-test",
                              on_publish=lambda mid, rc: results.__setitem__(mid, rc), name="acl")
        conn.run_until(conn.connected.is_set, 10)
        refused = conn.publish("denied/x", b"no").mid
        accepted = conn.publish("ok/x", b"yes").mid
        conn.run_until(lambda: len(results) == 2, 10)
        conn.close()
    assert results[refused].is_failure and "authorized" in str(results[refused]).lower()
    assert not results[accepted].is_failure
