"""One MQTT connection owned by one thread: connect (TLS), reconnect with jittered backoff, subscribe again on
every connect, and hand the owner what arrives. Used by the kiosk's sync daemon and enrolment client and by the
central's ingest workers and certificate service.

paho's client is not thread-safe, and its own reconnect has no jitter (a fleet that lost its broker would come
back in lockstep). So paho's background thread and reconnect are not used: the owner drives the connection
with :meth:`MqttConnection.step` (or :meth:`run` / :meth:`run_until`) on its own thread, doing its own work
between steps, and every call that reaches paho checks it is made on that thread (:class:`WrongThread`).
Every callback (``on_connected``, ``on_message``, ``on_publish`` ...) therefore runs on the owner's thread too.

A reconnect builds a new paho client: the client id and TLS files are read again (a renewed certificate is used
at once) and the session starts clean, so ``subscriptions`` are made again on every CONNACK, before
``on_connected`` runs. MQTT 5 PUBACK failures (the broker refused a message) reach ``on_publish`` with
``reason_code.is_failure`` set.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from sync.runtime.backoff import Backoff
from sync.runtime.mqtt import TlsFiles, new_client

log = logging.getLogger("kiosk.mqtt")

IDLE_WAIT_S = 0.2  # while waiting to reconnect, step() returns at least this often (the owner's other work)
Subscriptions = Sequence[tuple[str, int]]


class WrongThread(RuntimeError):
    """paho was about to be called from a thread that does not own the connection."""


class MqttConnection:
    """See the module. ``client_id`` and ``tls`` may be callables, asked again at every attempt.
    ``reconnect=False``: one attempt only (a short exchange such as enrolment); after a failure or a loss
    :attr:`gave_up` is set and :meth:`step` does nothing more."""

    def __init__(self, host: str, port: int, *, client_id: str | Callable[[], str],
                 tls: TlsFiles | Callable[[], TlsFiles | None] | None = None,
                 tls_context: ssl.SSLContext | None = None,
                 subscriptions: Subscriptions = (), keepalive: int = 30, backoff: Backoff | None = None,
                 connect_properties: Properties | None = None, read_ahead: int = 0, reconnect: bool = True,
                 stop: threading.Event | None = None, connected: threading.Event | None = None,
                 configure: Callable[[mqtt.Client], None] | None = None,
                 on_connected: Callable[[], None] | None = None,
                 on_refused: Callable[[ReasonCode], None] | None = None,
                 on_connect_error: Callable[[BaseException], None] | None = None,
                 on_message: Callable[[mqtt.MQTTMessage], None] | None = None,
                 on_publish: Callable[[int, ReasonCode], None] | None = None,
                 on_lost: Callable[[], None] | None = None,
                 client_factory: Callable[[str, TlsFiles | None], mqtt.Client] = new_client,
                 name: str = "mqtt") -> None:
        self.host = host
        self.port = port
        self._client_id = client_id
        self._tls = tls
        self._tls_context = tls_context
        self.subscriptions = list(subscriptions)
        self.keepalive = keepalive
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.connect_properties = connect_properties
        self.read_ahead = read_ahead  # after each loop(), read up to this many more waiting packets
        self.reconnect = reconnect
        self.stop_event = stop or threading.Event()
        self.connected = connected or threading.Event()
        self.configure = configure  # on each new client before it connects: Last Will, in-flight window
        self.on_connected = on_connected
        self.on_refused = on_refused
        self.on_connect_error = on_connect_error
        self.on_message = on_message
        self.on_publish = on_publish
        self.on_lost = on_lost
        self.client_factory = client_factory  # builds each attempt's paho client (tests may wrap it)
        self.name = name
        self.attempts = 0  # connection attempts so far
        self.gave_up = False  # reconnect=False and the one attempt is over
        self.last_delay = 0.0  # the last reconnect delay drawn from the backoff
        self._client: mqtt.Client | None = None
        self._next_attempt = 0.0
        self._owner: int | None = None

    # -- the owner thread ------------------------------------------------------------------------------------

    def bind(self) -> None:
        """Make the calling thread the owner (the first :meth:`step` does this by itself)."""
        self._owner = threading.get_ident()

    def _check_owner(self) -> None:
        me = threading.get_ident()
        if self._owner is None:
            self._owner = me
        elif self._owner != me:
            raise WrongThread(f"{self.name}: paho called from thread {me}, owned by {self._owner}")

    @property
    def has_client(self) -> bool:
        """A connection is open or opening (False while waiting to reconnect)."""
        return self._client is not None

    # -- driving it ------------------------------------------------------------------------------------------

    def step(self, timeout: float = 0.05) -> bool:
        """One turn: connect if due, then let paho read and write for up to ``timeout`` (callbacks run now).
        While waiting to reconnect it waits on the stop event instead (at most ``IDLE_WAIT_S``). True while a
        connection is open (not necessarily acknowledged yet: :attr:`connected` says that)."""
        self._check_owner()
        if self._client is None:
            if self.gave_up:
                return False
            wait = self._next_attempt - time.monotonic()
            if wait > 0:
                self.stop_event.wait(min(IDLE_WAIT_S, wait))
                return False
            self._attempt()
            if self._client is None:
                return False
        client = self._client  # connected just now, or earlier: paho reads and writes (a CONNACK, callbacks)
        rc = client.loop(timeout=timeout)
        if rc == mqtt.MQTT_ERR_SUCCESS and self.read_ahead:
            rc = client.loop_read(max_packets=self.read_ahead)  # every PUBACK and message waiting now
        if rc != mqtt.MQTT_ERR_SUCCESS:
            self._lose(f"loop: {mqtt.error_string(rc)}")
            return False
        return True

    def run(self, tick: Callable[[], None] | None = None, turn_s: float = 0.1,
            goodbye: Callable[[], mqtt.MQTTMessageInfo | None] | None = None) -> None:
        """Step until the stop event is set, calling ``tick`` after every step; then :meth:`close`."""
        self.bind()
        try:
            while not self.stop_event.is_set():
                self.step(turn_s)
                if tick is not None:
                    tick()
        finally:
            self.close(goodbye)

    def run_until(self, done: Callable[[], bool], timeout_s: float, turn_s: float = 0.05) -> None:
        """Step until ``done()``, ``timeout_s`` passes, or (``reconnect=False``) the connection is over; the
        connection stays open (call :meth:`close`)."""
        self.bind()
        deadline = time.monotonic() + timeout_s
        while not done() and time.monotonic() < deadline and not self.gave_up and not self.stop_event.is_set():
            self.step(turn_s)

    def retry_now(self) -> None:
        """Skip the rest of the backoff: the next step connects (a technician's "retry now")."""
        self.backoff.reset()
        self._next_attempt = 0.0

    def drop(self, retry_in: float | None = None) -> None:
        """Leave the connection at once without ``on_lost`` (the owner's state is already reset); reconnect
        after ``retry_in`` seconds, or the next backoff delay."""
        self._check_owner()
        if self._client is not None:
            self._discard(self._client)
        self._schedule(retry_in)

    def close(self, goodbye: Callable[[], mqtt.MQTTMessageInfo | None] | None = None, wait_s: float = 2.0) -> None:
        """Disconnect. When connected, ``goodbye()`` publishes a last message first (e.g. an offline status),
        waited for up to ``wait_s`` (a Last Will covers a connection that dies meanwhile)."""
        self._check_owner()
        client = self._client
        if client is None:
            return
        if goodbye is not None and self.connected.is_set():
            info = goodbye()
            deadline = time.monotonic() + wait_s
            try:
                while info is not None and not info.is_published() and time.monotonic() < deadline:
                    if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                        break
            except RuntimeError:
                # paho raises from is_published() once the connection is lost: the Last Will says it for us.
                log.info("%s: connection lost while saying goodbye", self.name)
        self._discard(client)

    # -- paho calls for the owner (and its callbacks) --------------------------------------------------------

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> mqtt.MQTTMessageInfo:
        """Queue a message on the current connection; without one, ``rc`` is ``MQTT_ERR_NO_CONN``."""
        self._check_owner()
        if self._client is None:
            info = mqtt.MQTTMessageInfo(0)
            info.rc = mqtt.MQTT_ERR_NO_CONN
            return info
        return self._client.publish(topic, payload, qos=qos, retain=retain)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        """Subscribe now, on the current connection only (put lasting ones in ``subscriptions``)."""
        self._check_owner()
        if self._client is not None:
            self._client.subscribe(topic, qos=qos)

    # -- inside ----------------------------------------------------------------------------------------------

    def _attempt(self) -> None:
        self.attempts += 1
        client_id = self._client_id() if callable(self._client_id) else self._client_id
        try:
            tls = self._tls() if callable(self._tls) else self._tls
            client = self.client_factory(client_id, tls)
            if self._tls_context is not None:
                client.tls_set_context(self._tls_context)
        except OSError as exc:  # TLS files missing or unreadable (not enrolled over TLS yet)
            log.warning("%s: cannot load the TLS client identity: %s", self.name, type(exc).__name__)
            self._schedule(None)
            return
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        if self.configure is not None:
            self.configure(client)
        try:
            client.connect(self.host, self.port, keepalive=self.keepalive, clean_start=True,
                           properties=self.connect_properties)
        except OSError as exc:
            log.info("%s: cannot connect to %s:%d (%s)", self.name, self.host, self.port, type(exc).__name__)
            if self.on_connect_error is not None:
                self.on_connect_error(exc)
            self._schedule(None)
            return
        self._client = client

    def _schedule(self, delay: float | None) -> None:
        if not self.reconnect:
            self.gave_up = True
            return
        self.last_delay = self.backoff.next_delay() if delay is None else delay
        self._next_attempt = time.monotonic() + self.last_delay
        log.info("%s: next connection attempt in %.1f s", self.name, self.last_delay)

    def _discard(self, client: mqtt.Client) -> None:
        self.connected.clear()
        self._client = None
        with contextlib.suppress(OSError):
            client.disconnect()

    def _lose(self, why: str) -> None:
        assert self._client is not None
        was = self.connected.is_set()
        self._discard(self._client)
        if was:
            log.info("%s: connection lost (%s)", self.name, why)
        if self.on_lost is not None:
            self.on_lost()
        self._schedule(None)

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: ReasonCode,
                    _properties: Any) -> None:
        if reason_code.is_failure:
            log.warning("%s: the broker refused the connection: %s", self.name, reason_code)
            if self.on_refused is not None:
                self.on_refused(reason_code)
            return
        self.backoff.reset()
        if self.subscriptions:
            client.subscribe(list(self.subscriptions))
        if self.on_connected is not None:
            self.on_connected()
        self.connected.set()

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: ReasonCode,
                       _properties: Any) -> None:
        if self.connected.is_set():
            log.info("%s: disconnected: %s", self.name, reason_code)
        self.connected.clear()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self.on_message is not None:
            self.on_message(message)

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, reason_code: ReasonCode,
                    _properties: Any) -> None:
        if self.on_publish is not None:
            self.on_publish(mid, reason_code)
