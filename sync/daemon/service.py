"""The sync daemon: one thread owns the paho client and the outbox cursor.

Delivery is at-least-once on the wire and exactly-once in effect: a row is done only when the
central's ``down/ack`` names it. A broker PUBACK only frees a slot in the in-flight window.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.exc import DBAPIError

from sync.daemon.ackcheck import AckGate
from sync.daemon.data_budget import DataBudget
from sync.daemon.renewal import CertRenewal
from sync.daemon.resend import ResendPolicy, requeue_due
from sync.daemon.reserve import DiskReserve
from sync.daemon.window import ByteWindow
from sync.device import DeviceConfig
from sync.ota.liveness import RestartAlarm
from sync.ota.liveness import summary as ui_liveness
from sync.outbox.store import Outbox, OutboxUnavailable, Outgoing, unavailable
from sync.protocol import batch as batches
from sync.protocol import topics
from sync.protocol.envelope import Envelope, EnvelopeError
from sync.runtime.backoff import Backoff
from sync.runtime.connection import MqttConnection
from sync.runtime.mqtt import kiosk_client_id

log = logging.getLogger("kiosk.syncd")

APP_VERSION = "0.1.0"
MARKS_INTERVAL_S = 0.02  # delivery marks are written at most this often, in one transaction
MARKS_BATCH = 200
PREFETCH = 200
PREFETCH_BYTES = 4 * 1024 * 1024  # read ahead at most this many bytes of envelopes (photo chunks are ~240 KB)
# Bytes published and not yet PUBACKed by the broker: they sit in paho's queue, the socket, the link. Enough
# to keep a 4G link busy (8 Mbit/s x 150 ms is 150 KB), small enough that a new application queued now is on
# the wire within ~0.5 s at 8 Mbit/s instead of behind seconds of photos (bench/link.py measures both).
WINDOW_BYTES = 512 * 1024
NEW_ROWS_CHECK_S = 0.2  # how often the read-ahead looks for rows queued since (a new application goes first)
BATCH_SIZE = 20  # submissions per up/batch message (sync.protocol.batch); 1 sends each on up/submission
BATCH_BYTES = 256 * 1024  # ... and at most this many bytes of envelopes in one
READ_AHEAD_PACKETS = 100
RESEND_MIN_INTERVAL_S = 5.0  # resend requests closer together than this are ignored (the central asks again)
_SIGNED_TAIL = b',"sig":"'  # Envelope.to_bytes puts a signature last: ...,"sig":"<88 base64>"}
RETRY_STATE = "retry_requested"  # set by the service screen's "retry now"; cleared here when acted on
RETRY_CHECK_S = 0.5
# Lifecycle (kiosk.service_mode.sync_control): the UI or `kiosk provision` sets HOLD_STATE to
# "{token}:{until}" before it changes the kiosk's identity (re-provisioning, factory reset); the daemon says
# offline, disconnects, answers HELD_STATE = token and stops its loop, so nothing is ever sent under an
# identity that is being replaced. A hold lapses at ``until`` (a UI that died while holding frees it).
HOLD_STATE = "sync_hold"
HELD_STATE = "sync_held"
# Why the last connection attempt failed (JSON: host, port, tls, error, detail, at), "" once connected: the
# service screens say which host and port, TLS or the clock, never only "offline".
CONNECT_ERROR_STATE = "connect_error"
# Errors of the outbox's disk that the daemon outlives (sync.outbox.store.unavailable sorts them out).
STORAGE_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, sqlite3.Error, OutboxUnavailable)
DISK_ROOM_BYTES = 4 * 1024 * 1024  # without a reserve: free space that ends the "disk full" state


class SyncDaemon:
    def __init__(self, outbox: Outbox, device: DeviceConfig, *, window: int = 20,
                 resend_after_s: float = 60.0, poll_interval_s: float = 0.1, keepalive_s: int = 30,
                 heartbeat_interval_s: float = 30.0, backoff: Backoff | None = None,
                 command_handler: Callable[[bytes], None] | None = None, batch_size: int = BATCH_SIZE,
                 reserve: DiskReserve | None = None, window_bytes: int = WINDOW_BYTES,
                 data_budget_mb: int = 0) -> None:
        self.outbox = outbox
        self.batch_size = max(1, min(batch_size, batches.MAX_ENVELOPES))  # submissions per up/batch; 1: none
        self.device = device
        self.window = window
        self.window_bytes = window_bytes  # the ceiling; the limit follows the link's rate (sync.daemon.window)
        self.byte_window = ByteWindow(window_bytes)
        # The month's data use; telemetry slows as the budget runs low, applications never (data_budget.py).
        self.budget = DataBudget(outbox, data_budget_mb)
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
        self._inflight_bytes: dict[int, int] = {}  # paho mid -> payload bytes (the byte window)
        self._read_seq = 0  # the outbox's last sequence number when the read-ahead was filled
        self._next_rows_check = 0.0
        self._backlog_top = 0  # the backlog being drained: rows up to this number (Outbox.pending_batch)
        self._started = time.time()
        self._refusing: str | None = None
        self._ui_alarm = RestartAlarm()  # the touchscreen UI restarting over and over (sync.ota.liveness)
        self._acked: list[str] = []
        self._published: list[str] = []  # published, not yet marked sent in the database
        self._queue: deque[Outgoing] = deque()  # read ahead from the outbox, not yet published
        self.acked_total = 0
        self._acked_reported = 0
        self._conn_counter = 0
        self.client_id = ""  # of the current (or last) connection: see sync.runtime.mqtt.kiosk_client_id
        self.connect_attempts = 0
        self._central_epoch: str | None = None
        self.loop_hook: Callable[[], None] | None = None  # called on every turn of the loop (systemd watchdog)
        self._last_resend = 0.0
        # Unacked rows are sent again after a timeout doubling per attempt, from resend_after_s up to 10x.
        self.resend_policy = ResendPolicy(resend_after_s, resend_after_s * 10)
        self.housekeeping_s = 5.0
        self.ack_gate = AckGate(outbox, device)  # only acks signed by the central for this kiosk count
        self.reserve = reserve  # room released when the disk fills (sync.daemon.reserve); kiosk-syncd has one
        self.disk_full = False
        self._disk_full_reported = False
        self._storage_backoff = Backoff(0.2, 10.0)
        self.held: str | None = None  # the hold token this daemon stopped for (see HOLD_STATE)
        host, port = device.broker_host_port
        # The one connection (sync.runtime.connection): paho on this daemon's thread only, jittered reconnects.
        # Each attempt takes a new connection counter and client id; TLS files are read again (renewal).
        self.connection = MqttConnection(
            host, port, client_id=self._next_identity, tls=lambda: self.renewal.files if self.renewal else None,
            subscriptions=[(topics.down(device.device_id, "ack"), 1), (topics.down(device.device_id, "cmd"), 1),
                           (topics.CENTRAL_STATUS, 1)],
            keepalive=keepalive_s, backoff=self.backoff, read_ahead=READ_AHEAD_PACKETS, stop=self._stop,
            connected=self.connected, configure=self._configure, on_connected=self._on_connected,
            on_refused=self._on_refused, on_connect_error=self._on_connect_error, on_message=self._on_message,
            on_publish=self._on_publish, on_lost=self._lost, name="kiosk-syncd")

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
        """The daemon's loop; every paho call happens on the thread that runs this (``self.connection``)."""
        conn = self.connection
        conn.bind()
        conn.host, conn.port = self.device.broker_host_port
        next_housekeeping = 0.0
        next_heartbeat = 0.0
        next_poll = 0.0
        next_marks = 0.0
        next_retry_check = 0.0
        try:
            while not self._stop.is_set():
                try:
                    if self.loop_hook is not None:
                        self.loop_hook()
                    now = time.monotonic()
                    if now >= next_retry_check:  # the technician's "retry now" (service mode)
                        next_retry_check = now + RETRY_CHECK_S
                        hold = hold_token(self.outbox.states())
                        if hold is not None:  # the identity is about to change: stop using it
                            log.info("held by the service mode: disconnecting")
                            self.held = hold
                            break
                        if self._take_retry_request():
                            conn.retry_now()
                            next_poll = 0.0
                            if self.connected.is_set():
                                self.outbox.requeue_sent(RETRY_CHECK_S * 10)  # unacked for 5 s: send again
                    # Connects when due, else reads every PUBACK/ack waiting now (callbacks run here).
                    if conn.step(0.05):
                        if (len(self._published) >= MARKS_BATCH or len(self._acked) >= MARKS_BATCH
                                or time.monotonic() >= next_marks):
                            self._flush_marks()
                            next_marks = time.monotonic() + MARKS_INTERVAL_S
                        if self.connected.is_set() and time.monotonic() >= next_poll:
                            published = self._pump()
                            # A full window waits for PUBACKs (the next loop), not for the poll interval.
                            window_full = self._window_room()[0] <= 0
                            next_poll = 0.0 if published or window_full else time.monotonic() + self.poll_interval_s
                    if time.monotonic() >= next_housekeeping:
                        self._housekeeping()
                        next_housekeeping = time.monotonic() + self.housekeeping_s
                    if time.monotonic() >= next_heartbeat:
                        self._heartbeat()
                        next_heartbeat = time.monotonic() + self._heartbeat_every()
                        next_poll = 0.0
                except STORAGE_ERRORS as exc:
                    # A full disk, a lock, an I/O error: never the end of the daemon (systemd would
                    # restart-loop it). Room is made if it can be, the connection starts over.
                    delay = self._storage_trouble(exc)
                    self._reset_flight()
                    conn.drop(retry_in=delay)
                    self._stop.wait(delay)
        finally:
            with contextlib.suppress(*STORAGE_ERRORS):  # unrecorded marks only mean a resend
                self._flush_marks()
            with contextlib.suppress(*STORAGE_ERRORS):  # the month's data use since the last housekeeping
                self.budget.save()
            self._report_acks()
            conn.close(self._goodbye)
            with contextlib.suppress(*STORAGE_ERRORS):
                self.outbox.set_states({"connected": "0", "daemon_seen": str(time.time()),
                                        **({HELD_STATE: self.held} if self.held else {})})

    # -- connection ----------------------------------------------------------------------------------

    def _next_identity(self) -> str:
        """Each connection attempt's client id, with a new connection counter for its statuses."""
        self.connect_attempts += 1
        # The connection counter orders this kiosk's online/offline statuses at the central. Seeded from
        # the clock so it keeps rising even when the outbox is new (quarantined, disk replaced).
        self._conn_counter = self.outbox.next_counter("conn", floor=int(time.time() * 1000))
        # Derived from the device key, so no one else can take this session over (sync.runtime.mqtt.kiosk_client_id).
        self.client_id = kiosk_client_id(self.device.device_id, self.outbox.key_file.signer())
        return self.client_id

    def _configure(self, client: mqtt.Client) -> None:
        client.max_inflight_messages_set(self.window)
        client.will_set(topics.up(self.device.device_id, "status"),
                        self._status_payload("offline"), qos=1, retain=True)

    def _on_connect_error(self, exc: BaseException) -> None:
        self._note_connect_error(self.connection.host, self.connection.port, exc)

    def _on_refused(self, reason_code: ReasonCode) -> None:
        self._note_connect_error(self.connection.host, self.connection.port, f"refused:{reason_code}")

    def _note_connect_error(self, host: str, port: int, exc: BaseException | str) -> None:
        with contextlib.suppress(*STORAGE_ERRORS):
            self.outbox.set_states({CONNECT_ERROR_STATE: connect_error_json(
                host, port, self.renewal is not None, exc)})

    def _status_payload(self, state: str) -> bytes:
        # "client": the central reads it from this retained status to cut a revoked kiosk off (drop_connection).
        return json.dumps({"state": state, "conn": self._conn_counter, "since": time.time(), "client": self.client_id,
                           "version": APP_VERSION, "site": self.device.site}).encode()

    def _on_connected(self) -> None:
        """CONNACK accepted (the connection has subscribed to ack, cmd and the central's status already)."""
        self._reset_flight()
        self.byte_window.reset()
        self._flush_marks()
        # Clean start: whatever was in flight is gone from the session; the outbox sends it again.
        requeued = self.outbox.requeue_sent()
        if not self._backlog_top:  # what is queued now is the backlog; anything queued later goes first
            self._backlog_top = self.outbox.last_seq()
        if self.renewal is not None:
            self.renewal.on_connect(self.connection)
        self.connection.publish(topics.up(self.device.device_id, "status"), self._status_payload("online"),
                                retain=True)
        self.outbox.set_states({"connected": "1", "connected_since": str(time.time()),
                                "daemon_seen": str(time.time()), CONNECT_ERROR_STATE: ""})
        log.info("connected (connection %d); %d unacked messages queued again", self._conn_counter, requeued)

    def _reset_flight(self) -> None:
        """Forget what was in flight and read ahead: a new connection starts clean and sends it again."""
        self._inflight.clear()
        self._inflight_telemetry.clear()
        self._inflight_bytes.clear()
        self._queue.clear()

    def _lost(self) -> None:
        self._reset_flight()
        self._flush_marks()
        self.outbox.set_states({"connected": "0"})

    def _goodbye(self) -> mqtt.MQTTMessageInfo | None:
        """The retained offline status, said before a clean disconnect (the Last Will says it otherwise)."""
        return self.connection.publish(topics.up(self.device.device_id, "status"), self._status_payload("offline"),
                                       retain=True)

    # -- sending -------------------------------------------------------------------------------------

    def _window_room(self) -> tuple[int, int]:
        """Room in the in-flight window: (messages, bytes)."""
        return (self.window - len(self._inflight) - len(self._inflight_telemetry),
                self.byte_window.limit() - sum(self._inflight_bytes.values()))

    def _read_ahead(self, room: int) -> None:
        """Fill the read-ahead from the outbox in delivery order (Outbox.pending_batch). Rows queued since the
        last fill (a new application) make it start again, so they go before older rows already read."""
        now = time.monotonic()
        if self._queue and now >= self._next_rows_check:
            self._next_rows_check = now + NEW_ROWS_CHECK_S
            if self.outbox.last_seq() > self._read_seq:
                self._queue.clear()
        if len(self._queue) >= room:
            return
        # Read ahead several windows at once: one query per PREFETCH messages, not one per PUBACK.
        self._read_seq = self.outbox.last_seq()
        skip = self._published + [m.id for m in self._queue]
        self._queue.extend(self.outbox.pending_batch(max(PREFETCH, room), exclude=skip,
                                                     backlog_top=self._backlog_top, max_bytes=PREFETCH_BYTES))
        if not self._queue and not self._inflight:
            self._backlog_top = 0  # drained: no backlog any more, rows go in order

    def _pump(self) -> int:
        client = self.connection
        room, room_bytes = self._window_room()
        if room <= 0 or room_bytes <= 0:
            return 0
        self._read_ahead(room)
        sent: list[str] = []
        messages = 0  # MQTT messages: what the window counts (a batch is one)
        while self._queue and messages < room and room_bytes > 0:
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
            self.budget.count(topic, len(payload), time.time())
            for _ in group:
                self._queue.popleft()
            self._inflight[info.mid] = tuple(m.id for m in group)
            self._inflight_bytes[info.mid] = len(payload)
            room_bytes -= len(payload)
            sent.extend(m.id for m in group)
            messages += 1
        self._published.extend(sent)
        room -= messages
        published = len(sent)
        if room > 0 and room_bytes > 0:
            busy = set(self._inflight_telemetry.values())
            for row_id, body in self.outbox.telemetry_batch(room + len(busy)):
                if row_id in busy or room <= 0 or room_bytes <= 0:
                    continue
                topic = topics.up(self.device.device_id, "telemetry")
                info = client.publish(topic, self._signed(body), qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    break
                self.budget.count(topic, len(body), time.time())
                self._inflight_telemetry[info.mid] = row_id
                self._inflight_bytes[info.mid] = len(body)
                room_bytes -= len(body)
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

    def _on_publish(self, mid: int, reason_code: ReasonCode) -> None:
        nbytes = self._inflight_bytes.pop(mid, None)
        if nbytes is not None:  # the link's rate, measured while there was more to send (sync.daemon.window)
            self.byte_window.acked(nbytes, time.monotonic(), busy=bool(self._queue))
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

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        self.budget.count(message.topic, len(message.payload), time.time())
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
        to a crash only means the row is sent again; the central dedupes it. Marks that could not be written
        (a full disk) are kept for the next try."""
        if self._acked or self._published:
            published, self._published = self._published, []
            acked, self._acked = self._acked, []
            try:
                self.acked_total += self.outbox.record_delivery(published, acked)
            except BaseException:
                self._published = published + self._published
                self._acked = acked + self._acked
                raise

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
            self._inflight_bytes.clear()
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
            "disk": self.disk_report(),
            "drivers": self.outbox.driver_health(),
            "versions": {"app": APP_VERSION, "catalog": states.get("catalog_version"),
                         "release": states.get("release_version") or None},  # sync.ota: the `current` link
            "uptime_s": round(time.time() - self._started, 1),
            "refusing": refusal.code if refusal else None,
            "maintenance": states.get("maintenance") == "1",
            # the central's late/offline schedule uses it: the pace now, slowed when the data budget runs low
            "heartbeat_interval_s": self._heartbeat_every(),
            "data": self.budget.report(),  # the month's estimated data use and budget (sync.daemon.data_budget)
            "ui": ui_liveness(self.outbox.home),  # the touchscreen UI's own beats (None: no UI on this kiosk)
        }

    def _heartbeat_every(self) -> float:
        return self.heartbeat_interval_s * self.budget.heartbeat_factor()

    def _heartbeat(self) -> None:
        figures = self.telemetry()
        self.outbox.enqueue_telemetry(self.device, figures)
        ui_change = self._ui_alarm.update(figures["ui"])
        if ui_change == "raise":
            self.outbox.enqueue_alarm(self.device, RestartAlarm.CODE, RestartAlarm.detail(figures["ui"]), "critical")
        elif ui_change == "clear":
            self.outbox.enqueue_event(self.device, "alarm_cleared", {"code": RestartAlarm.CODE})
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

    # -- the disk ------------------------------------------------------------------------------------

    def disk_report(self) -> dict[str, Any]:
        """What status and telemetry say about the disk: free bytes, full (a write failed for want of room,
        not yet over), and the reserve (held, released, none)."""
        return {"free": self.outbox.disk_free(), "full": self.disk_full,
                "reserve": self.reserve.state if self.reserve is not None else "none"}

    def _storage_trouble(self, exc: BaseException) -> float:
        """Handle a failed write (see the loop); returns how long to wait before going on."""
        trouble = exc if isinstance(exc, OutboxUnavailable) else unavailable(exc, self.outbox.home)
        if trouble is None:
            raise exc
        if trouble.code == "disk_full":
            if not self.disk_full:
                log.error("the disk is full: delivery goes on with what is queued")
            self.disk_full = True
            if self.reserve is not None and self.reserve.release():
                with contextlib.suppress(*STORAGE_ERRORS):
                    self.outbox.checkpoint()
                return 0.0  # room now: go on at once
        delay = self._storage_backoff.next_delay()
        log.error("cannot write the outbox (%s); trying again in %.1f s", trouble, delay)
        return delay

    def _check_disk(self) -> None:
        """Once there is room again: the reserve is made again and the full state cleared (and reported)."""
        if self.reserve is not None and not self.disk_full:
            self.reserve.ensure()
        if self.disk_full:
            room = 2 * self.reserve.size if self.reserve is not None else DISK_ROOM_BYTES
            if self.outbox.disk_free() >= room and (self.reserve is None or self.reserve.ensure()):
                self.disk_full = False
                log.info("the disk has room again")
        if self.disk_full != self._disk_full_reported:
            if self.disk_full:
                self.outbox.enqueue_alarm(self.device, "disk_full", "the kiosk's disk is full; delivering what "
                                          "is queued, new applications refused", "critical")
            else:
                self.outbox.enqueue_event(self.device, "alarm_cleared", {"code": "disk_full"})
            self._disk_full_reported = self.disk_full

    def _housekeeping(self) -> None:
        if self.renewal is not None and self.connected.is_set():
            self.renewal.tick(self.connection)
        self._report_acks()
        self.budget.save()
        if self.disk_full:
            self.outbox.checkpoint()  # keep the WAL from eating the room the reserve gave
        self._check_disk()
        self.outbox.set_states({"daemon_seen": str(time.time()),
                                "connected": "1" if self.connected.is_set() else "0",
                                "disk_full": "1" if self.disk_full else "0",
                                "disk_reserve": self.reserve.state if self.reserve is not None else "none"})
        self._storage_backoff.reset()
        if self.connected.is_set():
            stale = requeue_due(self.outbox, self.resend_policy)
            if stale:
                log.info("%d unacknowledged messages due again: sending again", stale)


def hold_token(states: dict[str, str], now: float | None = None) -> str | None:
    """The token of a hold in force (see HOLD_STATE), or None."""
    token, _, until = (states.get(HOLD_STATE) or "").partition(":")
    try:
        lapse = float(until)
    except ValueError:
        return None
    return token if token and (time.time() if now is None else now) < lapse else None


def connect_error_json(host: str, port: int, tls: bool, exc: BaseException | str) -> str:
    """A failed connection attempt as the service screens explain it: ``error`` is one of refused,
    unreachable, name, timeout, tls, clock, broker_refused, other; ``detail`` the exception's kind or the
    broker's reason code; ``at`` the kiosk's clock (a clock far off explains a certificate "not yet valid")."""
    import socket
    import ssl

    detail = exc if isinstance(exc, str) else type(exc).__name__
    error = "other"
    if isinstance(exc, str) and exc.startswith("refused:"):
        error, detail = "broker_refused", exc.split(":", 1)[1]
    elif isinstance(exc, ssl.SSLCertVerificationError):
        message = str(exc.verify_message or "")
        error = "clock" if ("not yet valid" in message or "expired" in message) else "tls"
        detail = message or detail
    elif isinstance(exc, ssl.SSLError):
        error = "tls"
    elif isinstance(exc, socket.gaierror):
        error = "name"
    elif isinstance(exc, ConnectionRefusedError):
        error = "refused"
    elif isinstance(exc, (TimeoutError, socket.timeout)):
        error = "timeout"
    elif isinstance(exc, OSError):
        error = "unreachable"
    return json.dumps({"host": host, "port": port, "tls": tls, "error": error, "detail": str(detail)[:120],
                       "at": time.time()})
