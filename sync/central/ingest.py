"""An ingest worker: takes uplink messages from the shared subscription, authenticates, opens and checks
them, stores a batch in one transaction, and acks each kiosk only after the commit.

Trust failures (a bad or missing device signature, an unknown kiosk, an envelope naming another kiosk
than its topic) are refused without telling the topic's kiosk and raise an alarm (at most one write per
kiosk and code a minute). Every ``gap_check_s`` the worker looks for sequence gaps older than
``gap_timeout_s`` (sync.central.sequences) and asks those kiosks to send the missing numbers again."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections import defaultdict
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy.exc import DataError, OperationalError, SQLAlchemyError, StatementError

from sync.central import fleet, sequences
from sync.central.cert_service import RevokedDevices
from sync.central.keys import CentralKeys
from sync.central.messages import DeviceKeys, Incoming, Refused, parse, parse_batch
from sync.central.store import Acks, CentralStore
from sync.central.trust import Keyring
from sync.daemon.backoff import Backoff
from sync.mqtt import TlsFiles, new_client
from sync.protocol import topics
from sync.protocol.acksign import signed_ack_bytes
from sync.protocol.broker_url import parse_broker_url
from sync.protocol.envelope import Ack

log = logging.getLogger("kiosk.central.ingest")

READ_AHEAD_PACKETS = 200
ALARM_REPEAT_S = 60.0  # the same (kiosk, code) trust alarm is written at most this often per worker
ALARMS_PER_FLUSH = 50  # junk from many device ids must not turn into unbounded alarm writes


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
        self._alarmed_at: dict[tuple[str, str], float] = {}
        self.client_id = f"central-{worker_id}"
        self.batch_max = batch_max
        self.flush_after_s = flush_after_s
        self.connected = threading.Event()
        self.stored_total = 0
        self.refused_total = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._batch: list[Incoming] = []
        self._refused: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self._batch_started = 0.0
        self._backoff = backoff or Backoff(0.5, 10.0)
        self._client: mqtt.Client | None = None
        self.tls = tls  # the central's fleet identity for an mqtts:// broker (sync.central.ca)
        self.revoked = RevokedDevices(store)  # revoked kiosks' messages are dropped (sync.central.cert_service)

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

    def run(self) -> None:
        client: mqtt.Client | None = None
        next_attempt = 0.0
        while not self._stop.is_set():
            if client is None:
                if time.monotonic() < next_attempt:
                    self._stop.wait(0.1)
                    continue
                client = self._connect()
                if client is None:
                    next_attempt = time.monotonic() + self._backoff.next_delay()
                    continue
            rc = client.loop(timeout=0.01 if self._batch else 0.1)
            if rc == mqtt.MQTT_ERR_SUCCESS:
                # loop() reads one packet; take what else has arrived now, so a batch fills in one pass.
                rc = client.loop_read(max_packets=READ_AHEAD_PACKETS)
            if self._refused or (self._batch and (len(self._batch) >= self.batch_max
                                                  or time.monotonic() - self._batch_started >= self.flush_after_s)):
                self._flush(client)
            if self._alarms:
                self._write_alarms()
            if rc == mqtt.MQTT_ERR_SUCCESS and self.connected.is_set() and time.monotonic() >= self._next_gap_check:
                self._next_gap_check = time.monotonic() + self.gap_check_s
                self._ask_for_gaps(client)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                # Unacked work is simply not acked: the kiosks send it again.
                self._batch.clear()
                self._refused.clear()
                self.connected.clear()
                client = None
                next_attempt = time.monotonic() + self._backoff.next_delay()
        if client is not None:
            if self._batch:
                self._flush(client)
            client.publish(topics.CENTRAL_STATUS, json.dumps({"state": "offline"}).encode(), qos=1, retain=True)
            client.loop(timeout=0.1)
            client.disconnect()

    def _connect(self) -> mqtt.Client | None:
        client = new_client(self.client_id, self.tls)
        client.will_set(topics.CENTRAL_STATUS, json.dumps({"state": "offline"}).encode(), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        try:
            client.connect(self.host, self.port, keepalive=30, clean_start=True)
        except OSError:
            log.info("broker unreachable")
            return None
        return client

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        if reason_code.is_failure:
            log.warning("broker refused connection: %s", reason_code)
            return
        self._backoff.reset()
        client.subscribe(topics.CENTRAL_SHARED_SUBSCRIPTION, qos=1)
        # Published after the subscription on the same connection, so the broker already routes to us.
        epoch = f"{self.client_id}:{time.time():.6f}"
        client.publish(topics.CENTRAL_STATUS, json.dumps({"state": "online", "epoch": epoch}).encode(),
                       qos=1, retain=True)
        self.connected.set()
        log.info("ingest worker %s connected", self.client_id)

    def _on_message(self, _client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = topics.parse(message.topic)
        except topics.TopicError:
            return
        if topic.direction != "up":
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
        for result in results:
            self._take(_client, topic, result)

    def _take(self, client: mqtt.Client, topic: topics.Topic, result: Incoming | Refused) -> None:
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
            self._flush(client)
            self.device_keys_forget(item.device_id)

    def device_keys_forget(self, device_id: str) -> None:
        forget = getattr(self.device_keys, "forget", None)
        if forget is not None:
            forget(device_id)

    def _note_alarm(self, device_id: str, code: str, severity: str, detail: str) -> None:
        key = (device_id, code)
        now = time.monotonic()
        if now - self._alarmed_at.get(key, -ALARM_REPEAT_S) < ALARM_REPEAT_S or len(self._alarms) >= ALARMS_PER_FLUSH:
            return
        self._alarmed_at[key] = now
        if len(self._alarmed_at) > 10_000:
            self._alarmed_at = {k: t for k, t in self._alarmed_at.items() if now - t < ALARM_REPEAT_S}
        self._alarms[key] = (severity, detail)

    def _write_alarms(self) -> None:
        alarms, self._alarms = self._alarms, {}
        try:
            opened = fleet.raise_alarms(self.store, [(d, c, sev, det) for (d, c), (sev, det) in alarms.items()])
        except SQLAlchemyError as exc:
            log.error("could not record %d alarm(s): %s", len(alarms), type(exc).__name__)
            return
        if opened:
            log.warning("%d trust alarm(s) raised", opened)

    def _ask_for_gaps(self, client: mqtt.Client) -> None:
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
            client.publish(topics.down(device_id, "ack"),
                           signed_ack_bytes(self.keys.command_private_raw, Ack((), (), tuple(missing)), device_id),
                           qos=1)
            self.resend_requests += 1

    def _catch_up(self, client: mqtt.Client, device_id: str, site: str, last_seen: float) -> None:
        """A kiosk back online gets the application statuses of its site it may have missed (its session is
        clean, so pushes made while it was away never reached it). Its status arrived after it subscribed to
        ``down/cmd`` on that connection, so these reach it. A failure here never stops ingest."""
        from sync.central.status_push import catch_up

        try:
            payloads = catch_up(self.store, self.keys, site, last_seen)
        except (SQLAlchemyError, ValueError) as exc:
            log.error("could not prepare the status catch-up of %s: %s", device_id, type(exc).__name__)
            return
        for payload in payloads:
            client.publish(topics.down(device_id, "cmd"), payload, qos=1)
        if payloads:
            self.catch_up_commands += len(payloads)
            log.info("sent %s %d status catch-up command(s) on reconnect", device_id, len(payloads))

    def _store(self, batch: list[Incoming]) -> Acks:
        """Commit a batch. A batch that fails goes again item by item: an item that the database
        refuses for its content (a poison message) is refused to its kiosk; anything else (the database
        is down, a lock) is simply not acked, so the kiosk sends it again later. Never kills the worker."""
        try:
            return self.store.apply(batch)
        except SQLAlchemyError as exc:
            log.error("a batch of %d could not be stored (%s); trying item by item", len(batch), type(exc).__name__)
        acks = Acks()
        for item in batch:
            try:
                part = self.store.apply([item])
            except (DataError, StatementError, ValueError) as exc:
                if isinstance(exc, OperationalError):
                    continue  # not the message's fault: leave it unacked
                log.error("refused a %s from %s that cannot be stored: %s", item.topic.kind, item.device_id,
                          type(exc).__name__)
                if item.envelope is not None:
                    # Refused through the store, so its sequence number is accounted for (no resend loop).
                    try:
                        part = self.store.apply([dataclasses.replace(item, refusal="cannot be stored")])
                    except SQLAlchemyError:
                        part = Acks()
                        part.rejected[item.device_id].append((item.envelope.id, "cannot be stored"))
                    for device, rejected in part.rejected.items():
                        acks.rejected[device].extend(rejected)
                continue
            except SQLAlchemyError:
                continue
            acks.merge(part)
        return acks

    def _flush(self, client: mqtt.Client) -> None:
        batch, self._batch = self._batch, []
        acks = self._store(batch)  # commits before anything is acked
        self.stored_total += sum(1 for i in batch if i.topic.kind == "submission")
        refused, self._refused = self._refused, defaultdict(list)
        for device_id, rejected in acks.rejected.items():
            refused[device_id].extend(rejected)
        for device_id in set(acks) | set(refused):
            ack = Ack(tuple(dict.fromkeys(acks.get(device_id, ()))), tuple(refused.get(device_id, ())))
            client.publish(topics.down(device_id, "ack"),
                           signed_ack_bytes(self.keys.command_private_raw, ack, device_id), qos=1)
        if self.status_catch_up:
            for device_id, (site, last_seen) in acks.reconnected.items():
                self._catch_up(client, device_id, site, last_seen)
