"""An ingest worker: takes uplink messages from the shared subscription, opens and checks them,
stores a batch in one transaction, and acks each kiosk only after the commit."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy.exc import DataError, OperationalError, SQLAlchemyError, StatementError

from sync.central.keys import CentralKeys
from sync.central.messages import Incoming, Refused, parse
from sync.central.store import Acks, CentralStore
from sync.daemon.backoff import Backoff
from sync.mqtt import new_client
from sync.protocol import topics
from sync.protocol.broker_url import parse_broker_url
from sync.protocol.envelope import Ack

log = logging.getLogger("kiosk.central.ingest")

READ_AHEAD_PACKETS = 200


class IngestWorker:
    def __init__(self, broker_url: str, store: CentralStore, keys: CentralKeys, *, worker_id: str = "0",
                 batch_max: int = 500, flush_after_s: float = 0.02, backoff: Backoff | None = None) -> None:
        self.host, self.port = parse_broker_url(broker_url)
        self.store = store
        self.keys = keys
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
        client = new_client(self.client_id)
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
        try:
            item = parse(self.keys, topic, bytes(message.payload))
        except Refused as exc:
            self.refused_total += 1
            log.warning("refused a %s from %s: %s", topic.kind, topic.device_id, exc.reason)
            if exc.message_id is not None:
                self._refused[topic.device_id].append((exc.message_id, exc.reason))
            return
        if not self._batch:
            self._batch_started = time.monotonic()
        self._batch.append(item)

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
                    acks.rejected[item.device_id].append((item.envelope.id, "cannot be stored"))
                continue
            except SQLAlchemyError:
                continue
            for device, ids in part.items():
                acks.setdefault(device, []).extend(ids)
            for device, rejected in part.rejected.items():
                acks.rejected[device].extend(rejected)
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
            client.publish(topics.down(device_id, "ack"), ack.to_bytes(), qos=1)
