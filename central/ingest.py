"""An ingest worker: takes uplink messages from the shared subscription, authenticates, opens and checks
them, stores a batch in one transaction, and acks each kiosk only after the commit.

Trust failures (a bad or missing device signature, an unknown kiosk, an envelope naming another kiosk
than its topic) are refused without telling the topic's kiosk and raise an alarm (at most one write per
kiosk and code a minute). Every ``gap_check_s`` the worker looks for sequence gaps older than
``gap_timeout_s`` (central.sequences) and asks those kiosks to send the missing numbers again."""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import threading
import time
from collections import defaultdict

import paho.mqtt.client as mqtt
from sqlalchemy.exc import OperationalError, SQLAlchemyError, StatementError

from central import fleet, sequences
from central.cert_service import RevokedDevices
from central.failures import AlarmThrottle, handler_failed
from central.keys import CentralKeys
from central.messages import DeviceKeys, Incoming, Refused, parse, parse_batch
from central.store import Acks, CentralStore
from central.trust import Keyring
from sync.protocol import topics
from sync.protocol.acksign import signed_ack_bytes
from sync.protocol.batch import MAX_BATCH_BYTES
from sync.protocol.broker_url import parse_broker_url
from sync.protocol.envelope import MAX_ENVELOPE_BYTES, Ack
from sync.runtime.backoff import Backoff
from sync.runtime.connection import MqttConnection
from sync.runtime.mqtt import TlsFiles, max_packet_properties, unguessable_client_id

log = logging.getLogger("kiosk.central.ingest")

READ_AHEAD_PACKETS = 200
# What the central reads of each uplink, at most: the largest message a kiosk sends on that topic. Anything
# larger is dropped before parsing (counted, alarmed), and the broker is asked (MQTT 5 Maximum Packet Size in
# CONNECT) never to deliver a packet above MAX_RECEIVE_PACKET at all, so one huge publish cannot grow the
# central's memory: the broker drops it for us (packaging/broker/mosquitto.conf also caps every packet).
MAX_UPLINK_BYTES = {"submission": MAX_ENVELOPE_BYTES, "attachment": MAX_ENVELOPE_BYTES, "batch": MAX_BATCH_BYTES,
                    "event": MAX_ENVELOPE_BYTES, "telemetry": 64 * 1024, "status": 16 * 1024}
MAX_RECEIVE_PACKET = max(MAX_UPLINK_BYTES.values()) + 16 * 1024  # + topic, properties, header
ALARMS_PER_FLUSH = 50  # junk from many device ids must not turn into unbounded alarm writes
_OFFLINE = json.dumps({"state": "offline"}).encode()


class IngestWorker:
    def __init__(self, broker_url: str, store: CentralStore, keys: CentralKeys, *, worker_id: str = "0",
                 batch_max: int = 500, flush_after_s: float = 0.02, backoff: Backoff | None = None,
                 tls: TlsFiles | None = None, device_keys: DeviceKeys | None = None,
                 gap_timeout_s: float = sequences.DEFAULT_GAP_TIMEOUT_S, gap_check_s: float = 30.0,
                 status_catch_up: bool = True) -> None:
        self.host, self.port = parse_broker_url(broker_url)
        self.store = store
        self.keys = keys
        self.device_keys: DeviceKeys = device_keys or Keyring(store)
        self.gap_timeout_s = gap_timeout_s
        self.gap_check_s = gap_check_s
        self.status_catch_up = status_catch_up  # re-send a site's application statuses to a kiosk back online
        self.catch_up_commands = 0
        self.resend_requests = 0
        self._next_gap_check = 0.0
        self._alarms: dict[tuple[str, str], tuple[str, str]] = {}  # (device, code) -> (severity, detail)
        self._throttle = AlarmThrottle()  # the same (kiosk, code) alarm at most every ALARM_REPEAT_S per worker
        self.client_id = unguessable_client_id(f"central-{worker_id}")  # never published: see mqtt.py
        self.batch_max = batch_max
        self.flush_after_s = flush_after_s
        self.connected = threading.Event()
        self.stored_total = 0
        self.refused_total = 0
        self.failed_total = 0  # messages a handler failed on (a bug, not a refusal): refused, counted, alarmed
        self.oversize_total = 0  # messages over their topic's bound, dropped unparsed
        self.largest_payload = 0  # the largest payload the broker delivered (bounded by MAX_RECEIVE_PACKET)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._batch: list[Incoming] = []
        self._refused: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self._batch_started = 0.0
        self.tls = tls  # the central's fleet identity for an mqtts:// broker (central.ca)
        self.revoked = RevokedDevices(store)  # revoked kiosks' messages are dropped (central.cert_service)
        # The shared subscription again on every connect; then "online" with a new epoch (_on_connected).
        # The broker is asked (MQTT 5 Maximum Packet Size) never to deliver more than MAX_RECEIVE_PACKET.
        self.connection = MqttConnection(
            self.host, self.port, client_id=self.client_id, tls=tls, backoff=backoff or Backoff(0.5, 10.0),
            subscriptions=[(topics.CENTRAL_SHARED_SUBSCRIPTION, 1)],
            connect_properties=max_packet_properties(MAX_RECEIVE_PACKET), read_ahead=READ_AHEAD_PACKETS,
            stop=self._stop, connected=self.connected, configure=self._configure, on_connected=self._on_connected,
            on_message=self._on_message, on_lost=self._on_lost, name=f"ingest {self.client_id}")

    def start(self) -> IngestWorker:
        self._thread = threading.Thread(target=self.run, name=self.client_id, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def request_stop(self) -> None:
        self._stop.set()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        """The worker's thread: it alone calls paho (through ``self.connection``), between batches and checks."""
        self.connection.bind()
        try:
            while not self._stop.is_set():
                # One loop reads one packet plus what else has arrived (read_ahead): a batch fills in one pass.
                up = self.connection.step(0.01 if self._batch else 0.1)
                if up and (self._refused or (self._batch and (
                        len(self._batch) >= self.batch_max
                        or time.monotonic() - self._batch_started >= self.flush_after_s))):
                    self._flush()
                if self._alarms:
                    self._write_alarms()
                if up and self.connected.is_set() and time.monotonic() >= self._next_gap_check:
                    self._next_gap_check = time.monotonic() + self.gap_check_s
                    self._ask_for_gaps()
        finally:
            self.connection.close(self._goodbye)

    def _goodbye(self) -> mqtt.MQTTMessageInfo:
        if self._batch:
            self._flush()
        return self.connection.publish(topics.CENTRAL_STATUS, _OFFLINE, retain=True)

    @staticmethod
    def _configure(client: mqtt.Client) -> None:
        client.will_set(topics.CENTRAL_STATUS, _OFFLINE, qos=1, retain=True)

    def _on_connected(self) -> None:
        # Published after the subscription on the same connection, so the broker already routes to us.
        epoch = secrets.token_hex(16)  # new per connection; random, so it tells kiosks nothing (not the client id)
        self.connection.publish(topics.CENTRAL_STATUS, json.dumps({"state": "online", "epoch": epoch}).encode(),
                           retain=True)
        log.info("ingest worker %s connected", self.client_id)

    def _on_lost(self) -> None:
        # Unacked work is simply not acked: the kiosks send it again (the central dedupes).
        self._batch.clear()
        self._refused.clear()

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        try:
            topic = topics.parse(message.topic)
        except topics.TopicError:
            return
        if topic.direction != "up":
            return
        size = len(message.payload)
        self.largest_payload = max(self.largest_payload, size)
        if size > MAX_UPLINK_BYTES.get(topic.kind, 0):
            self.oversize_total += 1
            self.refused_total += 1
            log.warning("dropped a %s of %d bytes from %s unread: over its bound", topic.kind, size, topic.device_id)
            self._note_alarm(topic.device_id, "oversize_message", "warning",
                             f"a {topic.kind} of {size} bytes was dropped unread (at most "
                             f"{MAX_UPLINK_BYTES.get(topic.kind, 0)})")
            return
        if topic.device_id in self.revoked:
            self.refused_total += 1
            log.warning("refused a %s from revoked device %s", topic.kind, topic.device_id)
            return
        results: list[Incoming | Refused]
        try:
            if topic.kind == "batch":
                results = parse_batch(self.keys, topic, bytes(message.payload), self.device_keys)
            else:
                results = [parse(self.keys, topic, bytes(message.payload), self.device_keys)]
        except Refused as exc:
            results = [exc]
        except Exception as exc:  # no message may stop ingest: this one is refused, the rest go on
            self._failed(topic.device_id, topic.kind, exc)
            return
        for result in results:
            try:
                self._take(topic, result)
            except Exception as exc:  # as above
                self._failed(topic.device_id, topic.kind, exc)

    def _failed(self, device_id: str, kind: str, exc: BaseException) -> None:
        """A handler failed on one message (a bug, not a refusal): refuse it, count it, raise a rate-limited
        alarm. Only the exception's type is logged: its text could quote the message's content."""
        self.failed_total += 1
        self.refused_total += 1
        self._note_alarm(device_id, *handler_failed(log, kind, device_id, exc))

    def _take(self, topic: topics.Topic, result: Incoming | Refused) -> None:
        """Queue a parsed message for the next commit, or account for a refused one."""
        if isinstance(result, Refused):
            exc = result
            self.refused_total += 1
            log.warning("refused a %s from %s: %s", topic.kind, topic.device_id, exc.reason)
            if exc.alarm is not None:
                self._note_alarm(topic.device_id, *exc.alarm)
            if exc.envelope is not None:
                # Authenticated: refused after the commit that accounts for its sequence number.
                kind = topic.kind if topic.kind != "batch" else "submission"
                item = Incoming(topics.Topic(topic.device_id, "up", kind), exc.envelope, refusal=exc.reason)
            elif exc.message_id is not None:
                self._refused[topic.device_id].append((exc.message_id, exc.reason))
                return
            else:
                return
        else:
            item = result
        if not self._batch:
            self._batch_started = time.monotonic()
        self._batch.append(item)
        if item.envelope is not None and item.envelope.meta.get("type") == "enrol" and item.topic.kind == "event":
            # Committed now, so the kiosk's next messages (often in this same read) find its key.
            self._flush()
            self.device_keys_forget(item.device_id)

    def device_keys_forget(self, device_id: str) -> None:
        forget = getattr(self.device_keys, "forget", None)
        if forget is not None:
            forget(device_id)

    def _note_alarm(self, device_id: str, code: str, severity: str, detail: str) -> None:
        if len(self._alarms) >= ALARMS_PER_FLUSH or not self._throttle.due(device_id, code):
            return
        self._alarms[(device_id, code)] = (severity, detail)

    def _write_alarms(self) -> None:
        alarms, self._alarms = self._alarms, {}
        try:
            opened = fleet.raise_alarms(self.store, [(d, c, sev, det) for (d, c), (sev, det) in alarms.items()])
        except SQLAlchemyError as exc:
            log.error("could not record %d alarm(s): %s", len(alarms), type(exc).__name__)
            return
        if opened:
            log.warning("%d trust alarm(s) raised", opened)

    def _ask_for_gaps(self) -> None:
        """Kiosks with a sequence gap older than the timeout are asked to send the missing numbers again."""
        try:
            with self.store.session() as s, s.begin():
                due = sequences.due_gaps(s, time.time(), self.gap_timeout_s)
        except SQLAlchemyError as exc:
            log.error("could not check sequence gaps: %s", type(exc).__name__)
            return
        for device_id, missing in due:
            log.warning("asking %s to send again %d missing message number(s)", device_id,
                        sum(hi - lo + 1 for lo, hi in missing))
            self.connection.publish(topics.down(device_id, "ack"),
                               signed_ack_bytes(self.keys.command_private_raw, Ack((), (), tuple(missing)), device_id))
            self.resend_requests += 1

    def _catch_up(self, device_id: str, site: str, last_seen: float) -> None:
        """A kiosk back online gets the application statuses of its site it may have missed (its session is
        clean, so pushes made while it was away never reached it). Its status arrived after it subscribed to
        ``down/cmd`` on that connection, so these reach it. A failure here never stops ingest."""
        from central.status_push import catch_up

        if device_id in self.revoked:
            return  # a revoked kiosk gets no downlink
        try:
            payloads = catch_up(self.store, self.keys, site, last_seen)
        except (SQLAlchemyError, ValueError) as exc:
            log.error("could not prepare the status catch-up of %s: %s", device_id, type(exc).__name__)
            return
        for payload in payloads:
            self.connection.publish(topics.down(device_id, "cmd"), payload)
        if payloads:
            self.catch_up_commands += len(payloads)
            log.info("sent %s %d status catch-up command(s) on reconnect", device_id, len(payloads))

    def _answer_card_lookup(self, device_id: str, query: str, tag: str) -> None:
        """A resident's card lookup at a kiosk (central/card_lookup.py): the card's applications from every
        kiosk, on that kiosk's ``down/cmd``. A failure here never stops ingest; the kiosk then shows its own."""
        from central.card_lookup import answer

        if device_id in self.revoked:
            return
        try:
            payload = answer(self.store, self.keys, device_id, query, tag)
        except (SQLAlchemyError, ValueError) as exc:
            log.error("could not answer a card lookup of %s: %s", device_id, type(exc).__name__)
            return
        if payload is not None:
            self.connection.publish(topics.down(device_id, "cmd"), payload)

    def _store(self, batch: list[Incoming]) -> Acks:
        """Commit a batch. A batch that fails goes again item by item: an item that the database
        refuses for its content (a poison message) is refused to its kiosk; anything else (the database
        is down, a lock) is simply not acked, so the kiosk sends it again later. Never kills the worker."""
        try:
            return self.store.apply(batch)
        except Exception as exc:  # a driver's OverflowError is no SQLAlchemyError; none may stop ingest
            log.error("a batch of %d could not be stored (%s); trying item by item", len(batch), type(exc).__name__)
        acks = Acks()
        for item in batch:
            try:
                part = self.store.apply([item])
            except OperationalError:
                continue  # not the message's fault (the database is down, a lock): leave it unacked
            except Exception as exc:  # a poison message: refused, whatever the error's type
                if isinstance(exc, SQLAlchemyError) and not isinstance(exc, StatementError):
                    continue  # the session's trouble, not this message's: unacked, the kiosk sends it again
                self._failed(item.device_id, item.topic.kind, exc)
                if item.envelope is not None:
                    # Refused through the store, so its sequence number is accounted for (no resend loop).
                    try:
                        part = self.store.apply([dataclasses.replace(item, refusal="cannot be stored")])
                    except Exception:  # told to the kiosk below all the same
                        part = Acks()
                        part.rejected[item.device_id].append((item.envelope.id, "cannot be stored"))
                    for device, rejected in part.rejected.items():
                        acks.rejected[device].extend(rejected)
                continue
            acks.merge(part)
        return acks

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        acks = self._store(batch)  # commits before anything is acked
        self.stored_total += sum(1 for i in batch if i.topic.kind == "submission")
        refused, self._refused = self._refused, defaultdict(list)
        for device_id, rejected in acks.rejected.items():
            refused[device_id].extend(rejected)
        for device_id in set(acks) | set(refused):
            ack = Ack(tuple(dict.fromkeys(acks.get(device_id, ()))), tuple(refused.get(device_id, ())))
            self.connection.publish(topics.down(device_id, "ack"),
                               signed_ack_bytes(self.keys.command_private_raw, ack, device_id))
        if self.status_catch_up:
            for device_id, (site, last_seen) in acks.reconnected.items():
                self._catch_up(device_id, site, last_seen)
        for device_id, query, tag in acks.card_lookups:
            self._answer_card_lookup(device_id, query, tag)
