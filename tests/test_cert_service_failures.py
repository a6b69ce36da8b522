"""Issue 13 item 4 on the TLS enrolment listener: no message may stop the certificate service. A request
its handler fails on (here: the database lost the certificates table, a real fault) is refused, counted and
alarmed (rate-limited), and the service goes on answering, through a real TLS broker."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from sqlalchemy import text

from central.ca import FleetCA, new_key
from central.cert_service import CertService
from central.enrolment import issue_token
from central.fleet import alarms_list
from central.keys import CentralKeys
from central.store import CentralStore
from devtools.broker import MosquittoBroker
from sync.daemon.enrol import unverified_tls
from sync.protocol import enrolment as proto
from sync.protocol.enrolment import make_csr
from sync.runtime.backoff import Backoff
from sync.runtime.mqtt import new_client
from tests.helpers import wait_until


def _ask(broker: MosquittoBroker, device_id: str, payload: bytes, keys: CentralKeys) -> list[proto.CertReply]:
    """Publish ``payload`` as ``device_id``'s enrolment request on the enrolment listener; the replies so far
    are appended to the returned list as they come (the client runs until the test ends)."""
    client = new_client(device_id)
    client.tls_set_context(unverified_tls())
    replies: list[proto.CertReply] = []
    subscribed = threading.Event()
    client.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe(proto.enrol_reply_topic(device_id), qos=1)
    client.on_subscribe = lambda *_a: subscribed.set()
    client.on_message = lambda _c, _u, m: replies.append(proto.read_cert_reply(bytes(m.payload),
                                                                               keys.command_public_raw))
    client.connect("127.0.0.1", broker.enrol_port or 0, keepalive=30)
    client.loop_start()
    assert subscribed.wait(10)
    done = client.publish(proto.enrol_request_topic(device_id), payload, qos=1)
    done.wait_for_publish(10)
    _clients.append(client)
    return replies


_clients: list[mqtt.Client] = []


def test_a_request_the_handler_fails_on_is_refused_alarmed_once_and_the_service_goes_on(tmp_path: Path) -> None:
    ca = FleetCA.open(tmp_path / "central")
    keys = CentralKeys.generate()
    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    with MosquittoBroker(tls_dir=ca.server_files(tmp_path / "broker-files", ["127.0.0.1"])) as broker:
        certs = CertService(broker.url, store, keys, ca, backoff=Backoff(0.05, 0.5)).start()
        try:
            wait_until(certs.connected.is_set, what="the certificate service on the TLS broker")
            tokens = [proto.read_token(issue_token(store, keys, site="S", broker_url=broker.url,
                                                   enrol_url=broker.enrol_url).token) for _ in range(2)]
            with store.engine.begin() as db:  # the fault: certificates can no longer be recorded
                db.execute(text("DROP TABLE device_certificates"))
            for body in tokens:  # valid requests that reach the insert, which raises
                request = proto.make_enrol_request(body, "A" * 43 + "=", make_csr(new_key(), body.device_id).decode())
                _ask(broker, body.device_id, request, keys)
            wait_until(lambda: certs.failed_total == 2, what="both failures counted")
            # The service is still there: the next request (malformed) gets its answer.
            other = f"k-{uuid.uuid4().hex[:8]}"
            replies = _ask(broker, other, b"not json", keys)
            wait_until(lambda: bool(replies), what="the answer to the next request")
            assert replies[0].reason == "malformed" and certs.connected.is_set()
            # One alarm for the two failures: rate-limited for the whole listener, which anyone may reach.
            failed = [a for a in alarms_list(store) if a["code"] == "message_failed"]
            assert len(failed) == 1, failed
            assert failed[0]["device_id"] in {t.device_id for t in tokens}
            assert "OperationalError" in failed[0]["detail"]
        finally:
            for c in _clients:
                c.disconnect()
                c.loop_stop()
            _clients.clear()
            certs.stop()
            store.close()
