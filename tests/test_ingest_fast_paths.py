"""The faster drain path keeps every check: meta strings still refuse control characters, an oversized meta
is still refused, plain submissions stored in one Core INSERT still dedupe and refuse reused ids (SQLite and
PostgreSQL), and the kiosk's delivery marks touch only the rows they name, by primary key."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from bench.sync_drain import _cpu_s
from central.keys import CentralKeys
from central.messages import Incoming, parse
from central.store import CentralStore
from devtools.postgres import PrivatePostgres
from sync.device import DeviceConfig
from sync.outbox.models import State
from sync.outbox.store import Attachment, Outbox
from sync.protocol import topics
from sync.protocol.envelope import _DUMPS_EXPANSION, MAX_META_BYTES, Envelope, EnvelopeError
from tests.helpers import TEST_KEYRING, resign, track

FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "周八"}]


# -- envelope ------------------------------------------------------------------------------------------------


def _env(meta: dict[str, Any]) -> Envelope:
    return Envelope(id="m-1", seq=1, device_id="kiosk-0001", kind="submission", created_at=1.0, meta=meta)


def test_meta_str_refuses_exactly_the_control_characters() -> None:
    for code in range(0x3100):
        ch = chr(code)
        control = code < 32 or code == 127
        if control:
            with pytest.raises(EnvelopeError, match="bad meta 'k'"):
                _env({"k": f"ok{ch}ok"}).meta_str("k")
        else:
            assert _env({"k": f"ok{ch}ok"}).meta_str("k") == f"ok{ch}ok"
    assert _env({"k": "😀办事"}).meta_str("k") == "😀办事"
    with pytest.raises(EnvelopeError):
        _env({"k": "x" * 65}).meta_str("k")
    with pytest.raises(EnvelopeError):
        _env({"k": 5}).meta_str("k")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",))),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(json_values, st.booleans())
def test_meta_measure_never_exceeds_six_characters_per_wire_byte(value: Any, ascii_wire: bool) -> None:
    """The bound that lets a small envelope skip measuring its meta (Envelope.from_bytes)."""
    wire = json.dumps(value, ensure_ascii=ascii_wire, separators=(",", ":")).encode("utf-8")
    assert len(json.dumps(json.loads(wire))) <= _DUMPS_EXPANSION * len(wire)


def test_worst_case_meta_bytes_stay_within_the_bound() -> None:
    for text in ("\x7f" * 100, "é" * 100, "😀" * 100, "1e15"):
        wire = (text if text == "1e15" else json.dumps(text, ensure_ascii=False)).encode("utf-8")
        assert len(json.dumps(json.loads(wire))) <= _DUMPS_EXPANSION * len(wire)


def test_oversized_meta_is_still_refused_and_a_large_envelope_with_small_meta_accepted() -> None:
    big = _env({"k": "\x7f" * (MAX_META_BYTES // 6 + 10)})  # small on the wire (UTF-8), large once measured
    assert len(big.to_bytes()) * _DUMPS_EXPANSION > MAX_META_BYTES
    with pytest.raises(EnvelopeError, match="meta too large"):
        Envelope.from_bytes(big.to_bytes())
    roomy = replace(_env({"k": "v"}), sealed=os.urandom(20_000))
    assert Envelope.from_bytes(roomy.to_bytes()).meta == {"k": "v"}


# -- central store: plain submissions in one INSERT ----------------------------------------------------------


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CentralStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'central.db'}"
    else:
        server: PrivatePostgres = request.getfixturevalue("pg")
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        url = server.url.rsplit("/", 1)[0] + f"/{name}"
    s = track(CentralStore(url))
    yield s
    s.close()


def _items(keys: CentralKeys, device: DeviceConfig, bodies: list[tuple[str, bytes]]) -> list[Incoming]:
    return [parse(keys, topics.Topic(device.device_id, "up", kind), body, TEST_KEYRING) for kind, body in bodies]


def test_one_batch_mixing_plain_attached_duplicate_and_reused_ids(
        store: CentralStore, outbox: Outbox, device: DeviceConfig, central_keys: CentralKeys,
        kiosk_home: Path) -> None:
    a = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    b = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    c = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS, [Attachment("证明.jpg", "image/jpeg", b"J" * 500)])
    d = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    msgs = {m.id: m for m in outbox.pending_batch(10)}
    chunk = next(m for m in msgs.values() if m.kind == "attachment")
    reused = Envelope.from_bytes(msgs[b.message_id].body)
    reused = replace(reused, meta={**reused.meta, "receipt_no": "OTHER-0001"})
    batch = _items(central_keys, device, [
        ("submission", msgs[a.message_id].body), ("submission", msgs[b.message_id].body),
        ("submission", msgs[c.message_id].body), ("attachment", chunk.body),
        ("submission", msgs[d.message_id].body), ("submission", msgs[a.message_id].body),
        ("submission", resign(kiosk_home, reused))])
    acks = store.apply(batch)
    ids = acks[device.device_id]
    assert ids.count(a.message_id) == 2 and b.message_id in ids and d.message_id in ids
    assert c.message_id in ids and chunk.id in ids  # complete: its only chunk came in the same batch
    assert acks.rejected[device.device_id] == [(b.message_id, "id already stored with other content")]
    assert store.count() == 4 and store.count(complete_only=True) == 4 and store.duplicates() == 0
    listed = {r["id"]: r for r in store.list_masked()}
    assert listed[b.message_id]["receipt_no"] == b.receipt_no  # the first content stays
    assert listed[a.message_id]["fields"][0]["value"] != "周八"  # stored, and masked when listed
    # The next batch: known ids are acked again, not stored twice.
    again = store.apply(_items(central_keys, device, [("submission", msgs[d.message_id].body)]))
    assert again[device.device_id] == [d.message_id] and store.count() == 4


# -- kiosk outbox: delivery marks by primary key --------------------------------------------------------------


def test_delivery_marks_use_the_primary_key_and_touch_only_listed_rows(outbox: Outbox, device: DeviceConfig) -> None:
    receipts = [outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS) for _ in range(30)]
    statements: list[tuple[str, Any]] = []

    @event.listens_for(outbox.engine, "before_cursor_execute")
    def _capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if statement.startswith("UPDATE outbox"):
            statements.append((statement, parameters))

    sent = [r.message_id for r in receipts[:5]]
    acked = [*sent[:3], receipts[10].message_id]  # an ack may overtake its own "sent" mark
    assert outbox.record_delivery(sent, []) == 0
    assert outbox.record_delivery([], acked) == 4
    outbox.mark_pending([sent[4]], "puback refused")
    assert outbox.record_delivery([receipts[0].message_id], []) == 0  # acked rows never go back to sent
    event.remove(outbox.engine, "before_cursor_execute", _capture)

    counts = outbox.counts()
    assert (counts["pending"], counts["sent"], counts["acked"]) == (25, 1, 4)
    assert outbox.find(receipts[3].message_id).state == State.SENT  # type: ignore[union-attr]
    assert outbox.find(receipts[10].message_id).body is None  # type: ignore[union-attr]
    assert outbox.find(receipts[4].message_id).state == State.PENDING  # type: ignore[union-attr]
    assert len(statements) == 4
    conn = sqlite3.connect(outbox.path)
    try:
        for statement, parameters in statements:
            plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", parameters))
            assert "sqlite_autoindex_outbox_1 (id=?)" in plan, plan  # 1 lookup per id, not a scan by state
            assert "ix_outbox_state" not in plan, plan
    finally:
        conn.close()


# -- the benchmark's CPU accounting ---------------------------------------------------------------------------


def test_cpu_seconds_are_read_for_a_process_and_a_thread() -> None:
    spent = threading.Event()
    tid: list[int] = []

    def burn() -> None:
        tid.append(threading.get_native_id())
        x = 0
        while _cpu_s(os.getpid(), tid[0]) < 0.05:
            x += 1
        spent.set()

    t = threading.Thread(target=burn)
    t.start()
    t.join(30)
    assert spent.is_set()
    assert _cpu_s(os.getpid()) >= 0.05  # the process's figure includes its threads'
    assert _cpu_s(2**22 + 12345) == 0.0  # no such process
