"""The sync daemon: one thread owns the paho client and the outbox cursor.

Delivery is at-least-once on the wire and exactly-once in effect: a row is done only when the
central's ``down/ack`` names it. A broker PUBACK only frees a slot in the in-flight window.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from sync.daemon.ackcheck import AckGate
from sync.daemon.backoff import Backoff
from sync.daemon.renewal import CertRenewal
from sync.daemon.resend import ResendPolicy, requeue_due
from sync.device import DeviceConfig
from sync.mqtt import new_client
from sync.outbox.store import Outbox, Outgoing
from sync.protocol import batch as batches
from sync.protocol import topics
from sync.protocol.envelope import Envelope, EnvelopeError

log = logging.getLogger("kiosk.syncd")

APP_VERSION = "0.1.0"
MARKS_INTERVAL_S = 0.02  # delivery marks are written at most this often, in one transaction
MARKS_BATCH = 200
PREFETCH = 200
BATCH_SIZE = 20  # submissions per up/batch message (sync.protocol.batch); 1 sends each on up/submission
BATCH_BYTES = 256 * 1024  # ... and at most this many bytes of envelopes in one
READ_AHEAD_PACKETS = 100
RESEND_MIN_INTERVAL_S = 5.0  # resend requests closer together than this are ignored (the central asks again)
_SIGNED_TAIL = b',"sig":"'  # Envelope.to_bytes puts a signature last: ...,"sig":"<88 base64>"}
RETRY_STATE = "retry_requested"  # set by the service screen's "retry now"; cleared here when acted on
RETRY_CHECK_S = 0.5


class SyncDaemon:
    def __init__(self, outbox: Outbox, device: DeviceConfig, *, window: int = 20,
                 resend_after_s: float = 60.0, poll_interval_s: float = 0.1, keepalive_s: int = 30,
                 heartbeat_interval_s: float = 30.0, backoff: Backoff | None = None,
                 command_handler: Callable[[bytes], None] | None = None, batch_size: int = BATCH_SIZE) -> None:
        self.outbox = outbox
        self.batch_size = max(1, min(batch_size, batches.MAX_ENVELOPES))  # submissions per up/batch; 1: none
        self.device = device
        self.window = window
        self.resend_after_s = resend_after_s
        self.poll_interval_s = poll_interval_s
        self.keepalive_s = keepalive_s
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.heartbeat_interval_s = heartbeat_interval_s
        self.command_handler = command_handler
        self.renewal = CertRenewal.for_device(outbox.path.parent, device)  # TLS fleets: certificate renewal
        self._inflight: dict[int, tuple[str, ...]] = {}  # paho mid -> outbox message id(s) (several: a batch)
        self._inflight_telemetry: dict[int, int] = {}  # paho mid -> telemetry queue row
        self._started = time.time()
        self._refusing: str | None = None
        self._acked: list[str] = []
        self._published: list[str] = []  # published, not yet marked sent in the database
        self._queue: deque[Outgoing] = deque()  # read ahead from the outbox, not yet published
        self.acked_total = 0
        self._acked_reported = 0
        self._client: mqtt.Client | None = None
        self._conn_counter = 0
        self.connect_attempts = 0
        self._central_epoch: str | None = None
        self.loop_hook: Callable[[], None] | None = None  # called on every turn of the loop (systemd watchdog)
        self._last_resend = 0.0
        # Unacked rows are sent again after a timeout doubling per attempt, from resend_after_s up to 10x.
        self.resend_policy = ResendPolicy(resend_after_s, resend_after_s * 10)
        self.housekeeping_s = 5.0
        self.ack_gate = AckGate(outbox, device)  # only acks signed by the central for this kiosk count

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> SyncDaemon:
        self._thread = threading.Thread(target=self.run, name="kiosk-syncd", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def request_stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """The daemon's loop; every paho call happens on the thread that runs this."""
        host, port = self.device.broker_host_port
        next_attempt = 0.0
        next_housekeeping = 0.0
        next_heartbeat = 0.0
        next_poll = 0.0
        next_marks = 0.0
        next_retry_check = 0.0
        client: mqtt.Client | None = None
        try:
            while not self._stop.is_set():
                if self.loop_hook is not None:
                    self.loop_hook()
                now = time.monotonic()
                if now >= next_retry_check:  # the technician's "retry now" (service mode)
                    next_retry_check = now + RETRY_CHECK_S
                    if self._take_retry_request():
                        self.backoff.reset()
                        next_attempt = next_poll = 0.0
                        if self.connected.is_set():
                            self.outbox.requeue_sent(RETRY_CHECK_S * 10)  # unacked for 5 s: send again
                if client is None and now >= next_attempt:
                    client = self._connect(host, port)
                    if client is None:
                        delay = self.backoff.next_delay()
                        next_attempt = now + delay
                        log.info("broker unreachable; next attempt in %.1f s", delay)
                if client is not None:
                    rc = client.loop(timeout=0.05)
                    if rc == mqtt.MQTT_ERR_SUCCESS:
                        rc = client.loop_read(max_packets=READ_AHEAD_PACKETS)  # every PUBACK/ack waiting now
                    if rc != mqtt.MQTT_ERR_SUCCESS:
                        self._lost(client)
                        client = None
                        next_attempt = time.monotonic() + self.backoff.next_delay()
                        continue
                    if (len(self._published) >= MARKS_BATCH or len(self._acked) >= MARKS_BATCH
                            or time.monotonic() >= next_marks):
                        self._flush_marks()
                        next_marks = time.monotonic() + MARKS_INTERVAL_S
                    if self.connected.is_set() and time.monotonic() >= next_poll:
                        published = self._pump(client)
                        # A full window waits for PUBACKs (the next loop), not for the poll interval.
                        window_full = len(self._inflight) + len(self._inflight_telemetry) >= self.window
                        next_poll = 0.0 if published or window_full else time.monotonic() + self.poll_interval_s
                else:
                    self._stop.wait(min(0.2, max(0.0, next_attempt - time.monotonic())))
                if time.monotonic() >= next_housekeeping:
                    self._housekeeping()
                    next_housekeeping = time.monotonic() + self.housekeeping_s
                if time.monotonic() >= next_heartbeat:
                    self._heartbeat()
                    next_heartbeat = time.monotonic() + self.heartbeat_interval_s
                    next_poll = 0.0
        finally:
            self._flush_marks()
            self._report_acks()
            if client is not None:
                self._graceful_disconnect(client)
            self.outbox.set_states({"connected": "0", "daemon_seen": str(time.time())})

    # -- connection ----------------------------------------------------------------------------------

    def _connect(self, host: str, port: int) -> mqtt.Client | None:
        self.connect_attempts += 1
        # The connection counter orders this kiosk's online/offline statuses at the central. Seeded from
        # the clock so it keeps rising even when the outbox is new (quarantined, disk replaced).
        self._conn_counter = self.outbox.next_counter("conn", floor=int(time.time() * 1000))
        try:
            client = new_client(f"kiosk-{self.device.device_id}", self.renewal.files if self.renewal else None)
        except OSError as exc:  # TLS files missing or unreadable: not enrolled over TLS yet
            log.warning("cannot load the TLS client identity: %s", type(exc).__name__)
            return None
        client.max_inflight_messages_set(self.window)
        client.will_set(topics.up(self.device.device_id, "status"),
                        self._status_payload("offline"), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        try:
            client.connect(host, port, keepalive=self.keepalive_s, clean_start=True)
        except OSError as exc:
            log.info("connect failed: %s", type(exc).__name__)
            return None
        self._client = client
        return client

    def _status_payload(self, state: str) -> bytes:
        return json.dumps({"state": state, "conn": self._conn_counter, "since": time.time(),
                           "version": APP_VERSION, "site": self.device.site}).encode()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any,
                    _properties: Any) -> None:
        if reason_code.is_failure:
            log.warning("broker refused connection: %s", reason_code)
            return
        self.backoff.reset()
        self._inflight.clear()
        self._inflight_telemetry.clear()
        self._queue.clear()
        self._flush_marks()
        # Clean start: whatever was in flight is gone from the session; the outbox sends it again.
        requeued = self.outbox.requeue_sent()
        client.subscribe(topics.down(self.device.device_id, "ack"), qos=1)
        client.subscribe(topics.down(self.device.device_id, "cmd"), qos=1)
        client.subscribe(topics.CENTRAL_STATUS, qos=1)
        if self.renewal is not None:
            self.renewal.on_connect(client)
        client.publish(topics.up(self.device.device_id, "status"), self._status_payload("online"),
                       qos=1, retain=True)
        self.outbox.set_states({"connected": "1", "connected_since": str(time.time()),
                                "daemon_seen": str(time.time())})
        self.connected.set()
        log.info("connected (connection %d); %d unacked messages queued again", self._conn_counter, requeued)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any,
                       _properties: Any) -> None:
        if self.connected.is_set():
            log.info("disconnected: %s", reason_code)
        self.connected.clear()

    def _lost(self, client: mqtt.Client) -> None:
        self.connected.clear()
        self._inflight.clear()
        self._inflight_telemetry.clear()
        self._queue.clear()
        self._flush_marks()
        self.outbox.set_states({"connected": "0"})
        with contextlib.suppress(OSError):
            client.disconnect()
        self._client = None

    def _graceful_disconnect(self, client: mqtt.Client) -> None:
        if self.connected.is_set():
            info = client.publish(topics.up(self.device.device_id, "status"),
                                  self._status_payload("offline"), qos=1, retain=True)
            deadline = time.monotonic() + 2.0
            try:
                while not info.is_published() and time.monotonic() < deadline:
                    if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                        break
            except RuntimeError:
                # paho raises from is_published() once the connection is lost: the broker then publishes
                # the Last Will (offline) for us, so there is nothing left to do but stop.
                log.info("connection lost while saying offline; the Last Will says it")
            client.disconnect()
        self.connected.clear()

    # -- sending -------------------------------------------------------------------------------------

    def _pump(self, client: mqtt.Client) -> int:
        room = self.window - len(self._inflight) - len(self._inflight_telemetry)
        if room <= 0:
            return 0
        if len(self._queue) < room:
            # Read ahead several windows at once: one query per PREFETCH messages, not one per PUBACK.
            skip = self._published + [m.id for m in self._queue]
            self._queue.extend(self.outbox.pending_batch(max(PREFETCH, room), exclude=skip))
        sent: list[str] = []
        messages = 0  # MQTT messages: what the window counts (a batch is one)
        while self._queue and messages < room:
            group = self._next_group()
            if len(group) > 1:
                signer = self.outbox.key_file.signer()
                assert signer is not None  # _next_group groups only when the kiosk has its key
                topic = topics.up(self.device.device_id, "batch")
                payload = batches.encode(signer, self.device.device_id, [self._signed(m.body) for m in group])
            else:
                topic = topics.up(self.device.device_id, group[0].kind)
                payload = self._signed(group[0].body)
            info = client.publish(topic, payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                log.info("publish not accepted by the client: %s", info.rc)
                break
            for _ in group:
                self._queue.popleft()
            self._inflight[info.mid] = tuple(m.id for m in group)
            sent.extend(m.id for m in group)
            messages += 1
        self._published.extend(sent)
        room -= messages
        published = len(sent)
        if room > 0:
            busy = set(self._inflight_telemetry.values())
            for row_id, body in self.outbox.telemetry_batch(room + len(busy)):
                if row_id in busy or room <= 0:
                    continue
                info = client.publish(topics.up(self.device.device_id, "telemetry"), self._signed(body), qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    break
                self._inflight_telemetry[info.mid] = row_id
                room -= 1
                published += 1
        return published

    def _next_group(self) -> list[Outgoing]:
        """The next message(s) to publish from the head of the queue: a run of submissions, up to
        ``batch_size`` and ``BATCH_BYTES``, travels as one ``up/batch`` (sync.protocol.batch); anything
        else, and every row of a kiosk without its device key yet, alone."""
        head = self._queue[0]
        if self.batch_size <= 1 or head.kind not in batches.BATCHED_KINDS \
                or self.outbox.key_file.signer() is None:
            return [head]
        group: list[Outgoing] = []
        size = 0
        for msg in self._queue:
            if msg.kind not in batches.BATCHED_KINDS or len(group) >= self.batch_size \
                    or (group and size + len(msg.body) + 1 > BATCH_BYTES) or b"\n" in msg.body:
                break
            group.append(msg)
            size += len(msg.body) + 1
        return group or [head]

    def _signed(self, body: bytes) -> bytes:
        """A row queued before the kiosk had its device key is signed now (the central refuses unsigned
        messages); rows queued since carry their signature already and pass through untouched."""
        if body[-98:-90] == _SIGNED_TAIL:
            return body
        signer = self.outbox.key_file.signer()
        if signer is None:
            return body
        try:
            return signer.sign(Envelope.from_bytes(body)).to_bytes()
        except (EnvelopeError, ValueError):
            return body

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, reason_code: Any,
                    _properties: Any) -> None:
        row_id = self._inflight_telemetry.pop(mid, None)
        if row_id is not None:
            # Telemetry needs no application ack: accepted by the broker is delivered enough.
            if not reason_code.is_failure:
                self.outbox.telemetry_done([row_id])
            return
        message_ids = self._inflight.pop(mid, None)
        if message_ids is None:
            return
        # paho fires on_publish for MQTT 5 PUBACK failures too: such a message was not accepted.
        if reason_code.is_failure:
            log.warning("broker refused a message: %s", reason_code)
            for message_id in message_ids:
                if message_id in self._published:
                    self._published.remove(message_id)  # never marked sent: it simply stays pending
                else:
                    self.outbox.mark_pending([message_id], f"puback {reason_code}")

    # -- receiving -----------------------------------------------------------------------------------

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self.renewal is not None and self.renewal.handle(message.topic, bytes(message.payload)):
            return
        if message.topic == topics.CENTRAL_STATUS:
            self._on_central_status(bytes(message.payload), bool(message.retain))
            return
        try:
            topic = topics.parse(message.topic)
        except topics.TopicError:
            return
        if topic.device_id != self.device.device_id:
            return
        if topic.kind == "ack":
            ack = self.ack_gate.check(bytes(message.payload))  # forged, unsigned, misdirected: None
            if ack is None:
                return
            # Acks are written together with the sent marks, a few times a second (_flush_marks).
            self._acked.extend(ack.ids)
            for message_id, reason in ack.rejected:
                log.warning("central refused a message: %s", reason)
                self.outbox.mark_rejected(message_id, reason)
            if ack.resend:
                self._answer_resend(ack.resend)
        elif topic.kind == "cmd":
            if self.command_handler is None:
                log.warning("a command arrived but this kiosk has no command verifier")
                return
            self.command_handler(bytes(message.payload))

    def _answer_resend(self, ranges: tuple[tuple[int, int], ...]) -> None:
        """The central is missing these sequence numbers (see Outbox.answer_resend). Harmless if forged: it
        can only make the kiosk send again what the central dedupes."""
        now = time.monotonic()
        if now - self._last_resend < RESEND_MIN_INTERVAL_S:
            log.info("ignored a resend request arriving %.1f s after the last one", now - self._last_resend)
            return
        self._last_resend = now
        self._flush_marks()
        answer = self.outbox.answer_resend(self.device, ranges)
        self._queue.clear()  # rows put back to pending are read again in order
        log.info("central asked for %d missing message(s): %d sent again, %d already acked, %d gone",
                 sum(hi - lo + 1 for lo, hi in ranges), sum(hi - lo + 1 for lo, hi in answer["resent"]),
                 sum(hi - lo + 1 for lo, hi in answer["acked"]), sum(hi - lo + 1 for lo, hi in answer["gone"]))

    def _flush_marks(self) -> None:
        """Published rows become ``sent`` and acknowledged rows ``acked`` in one transaction. A mark lost
        to a crash only means the row is sent again; the central dedupes it."""
        if self._acked or self._published:
            published, self._published = self._published, []
            acked, self._acked = self._acked, []
            self.acked_total += self.outbox.record_delivery(published, acked)

    def _on_central_status(self, payload: bytes, retained: bool = False) -> None:
        try:
            status = json.loads(payload)
            online, epoch = status.get("state") == "online", str(status.get("epoch"))
        except (ValueError, AttributeError):
            return
        if online and retained and self._central_epoch is None:
            # The retained state delivered at subscribe time: _on_connect has already requeued everything.
            self._central_epoch = epoch
            return
        if online and epoch != self._central_epoch:
            self._central_epoch = epoch
            # A central (re)started: what it may have missed is sent again now (it dedupes by id).
            self._inflight.clear()
            self._queue.clear()
            self._flush_marks()
            # Everything unacked, not only rows due (sync/daemon/resend.py says why): the old central's clean
            # session dropped whatever it had not read, so waiting for a row's backoff only delays it.
            requeued = self.outbox.requeue_sent()
            if requeued:
                log.info("central came online: %d unacked messages sent again", requeued)

    # -- housekeeping --------------------------------------------------------------------------------

    def telemetry(self) -> dict[str, Any]:
        """The heartbeat's figures: queue, delivery, disk, drivers, versions. No personal data."""
        states = self.outbox.states()
        refusal = self.outbox.refusal()
        last = states.get("last_delivery")
        return {
            "queue": self.outbox.counts_by_kind(),
            "oldest_pending_s": self.outbox.oldest_undelivered_age(),
            "last_delivery": float(last) if last else None,
            "disk_free": self.outbox.disk_free(),
            "drivers": self.outbox.driver_health(),
            "versions": {"app": APP_VERSION, "catalog": states.get("catalog_version"),
                         "release": states.get("release_version") or None},  # sync.ota: the `current` link
            "uptime_s": round(time.time() - self._started, 1),
            "refusing": refusal.code if refusal else None,
            "maintenance": states.get("maintenance") == "1",
            "heartbeat_interval_s": self.heartbeat_interval_s,  # the central's late/offline schedule uses it
        }

    def _heartbeat(self) -> None:
        figures = self.telemetry()
        self.outbox.enqueue_telemetry(self.device, figures)
        refusing = figures["refusing"]
        if refusing != self._refusing:
            if refusing:
                self.outbox.enqueue_alarm(self.device, "submissions_refused", refusing, "critical")
            elif self._refusing:
                self.outbox.enqueue_event(self.device, "alarm_cleared", {"code": "submissions_refused"})
            self._refusing = refusing

    def _report_acks(self) -> None:
        if self.acked_total > self._acked_reported:
            log.info("%d messages acknowledged by the central", self.acked_total - self._acked_reported)
            self._acked_reported = self.acked_total

    def _take_retry_request(self) -> bool:
        if not self.outbox.states().get(RETRY_STATE):
            return False
        self.outbox.set_states({RETRY_STATE: ""})
        log.info("retry requested by the technician")
        return True

    def _housekeeping(self) -> None:
        if self.renewal is not None and self._client is not None and self.connected.is_set():
            self.renewal.tick(self._client)
        self._report_acks()
        self.outbox.set_states({"daemon_seen": str(time.time()),
                                "connected": "1" if self.connected.is_set() else "0"})
        if self.connected.is_set():
            stale = requeue_due(self.outbox, self.resend_policy)
            if stale:
                log.info("%d unacknowledged messages due again: sending again", stale)
