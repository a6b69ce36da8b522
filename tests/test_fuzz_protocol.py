"""Fuzzing the sync protocol's decoders (hypothesis; budget in tests/fuzzing.py).

Properties: the envelope, ack and command decoders and the central's parser raise nothing but their
documented error (EnvelopeError, CommandRefused, Refused) on any input; what they accept round-trips;
attachment reassembly at the central stores a file exactly when every chunk arrived intact, whatever
the order, duplicates or damage, and never raises.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from central.keys import CentralKeys
from central.messages import Incoming, Refused, parse, parse_batch
from central.store import CentralStore
from devtools.broker import MosquittoBroker
from sync.protocol import batch as batches
from sync.protocol import commands, signing, topics
from sync.protocol.envelope import Ack, Envelope, EnvelopeError
from sync.protocol.ids import new_message_id
from sync.protocol.sealing import seal
from sync.protocol.signing import DeviceSigner
from tests.fuzzing import FUZZ, FUZZ_BROKER
from tests.helpers import TEST_KEYRING, Central, Wire, enroll, sim_enroll, start_central, wait_until

KEYS = CentralKeys.generate()
SIGNER = DeviceSigner.generate()
DEVICE = "fuzz-kiosk-1"
sim_enroll(DEVICE, SIGNER.public_raw)

json_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=True)
                | st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
# Envelope-shaped objects with every field sometimes right, sometimes wrong.
envelope_objects = st.fixed_dictionaries({}, optional={
    "v": st.sampled_from([1, 2, "1", None, True]),
    "id": st.one_of(st.uuids().map(str), st.text(max_size=70), st.integers()),
    "seq": st.one_of(st.integers(-5, 2**60), st.floats(), st.booleans(), st.text(max_size=3)),
    "device_id": st.one_of(st.just(DEVICE), st.from_regex(r"[A-Za-z0-9_-]{0,70}", fullmatch=True), st.integers()),
    "kind": st.sampled_from(["submission", "attachment", "event", "telemetry", "status", "x", ""]),
    "created_at": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.text(max_size=3)),
    "meta": st.one_of(st.dictionaries(st.text(max_size=12), json_values, max_size=6), json_values),
    "sealed": st.one_of(st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()), st.text(max_size=20)),
    "sig": st.one_of(st.binary(min_size=0, max_size=70).map(lambda b: base64.b64encode(b).decode()),
                     st.text(max_size=90), st.none()),
})


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


@FUZZ
@given(st.one_of(st.binary(max_size=2000), envelope_objects.map(_dump)))
def test_envelope_decoder_raises_only_envelope_error_and_round_trips(data: bytes) -> None:
    try:
        env = Envelope.from_bytes(data)
    except EnvelopeError:
        return
    again = Envelope.from_bytes(env.to_bytes())
    assert again == env
    try:
        signing.signing_bytes(env)  # accepted envelopes either have a canonical form or say why not
    except signing.SignatureError as exc:
        assert exc.code == signing.UNSIGNABLE


@FUZZ
@given(st.one_of(st.binary(max_size=600),
                 st.fixed_dictionaries({}, optional={"v": json_values, "ids": json_values, "rejected": json_values,
                                                     "resend": json_values}).map(_dump)))
def test_ack_decoder_raises_only_envelope_error_and_round_trips(data: bytes) -> None:
    try:
        ack = Ack.from_bytes(data)
    except EnvelopeError:
        return
    assert Ack.from_bytes(ack.to_bytes()) == ack
    assert all(0 < lo <= hi for lo, hi in ack.resend)


@FUZZ
@given(ids=st.lists(st.uuids().map(str), max_size=5), resend=st.lists(
    st.tuples(st.integers(1, 2**40), st.integers(0, 1000)).map(lambda p: (p[0], p[0] + p[1])), max_size=5))
def test_ack_round_trip(ids: list[str], resend: list[tuple[int, int]]) -> None:
    ack = Ack(tuple(ids), (("x", "reason"),), tuple(resend))
    assert Ack.from_bytes(ack.to_bytes()) == ack


COMMAND_KEY = KEYS.command_private_raw


@FUZZ
@given(st.one_of(
    st.binary(max_size=800),
    st.fixed_dictionaries({}, optional={"v": json_values, "cmd": json_values, "sig": json_values}).map(_dump),
    st.fixed_dictionaries({"id": st.one_of(st.uuids().map(str), json_values),
                           "action": st.sampled_from([*commands.ACTIONS, "x"]), "args": json_values,
                           "target": json_values, "issued_at": json_values, "expires_at": json_values})
    .map(lambda cmd: _dump({"v": 1, "cmd": cmd, "sig": ""}))))
def test_command_decoder_raises_only_command_refused(payload: bytes) -> None:
    for key in (KEYS.command_public_raw, None):
        try:
            commands.verify_command(key, payload, device_id=DEVICE, site="site")
        except commands.CommandRefused as exc:
            assert exc.code in commands.REASONS


@FUZZ
@given(action=st.sampled_from(("maintenance", "config", "diagnostics")), on=st.booleans(), message=st.text(max_size=40),
       ttl=st.floats(1, commands.MAX_TTL_S))
def test_signed_commands_round_trip_and_any_byte_flip_is_refused(action: str, on: bool, message: str,
                                                                 ttl: float) -> None:
    args: dict[str, Any] = {"maintenance": {"on": on, "message": message if message.isprintable() else ""},
                            "config": {"set": {"idle_timeout_s": 60}}, "diagnostics": {}}[action]
    cmd = commands.new_command(action, args, commands.target_device(DEVICE), ttl_s=ttl)
    wire = commands.sign_command(COMMAND_KEY, cmd)
    assert commands.verify_command(KEYS.command_public_raw, wire, device_id=DEVICE, site="") == cmd
    flipped = bytearray(wire)
    flipped[len(wire) // 2] ^= 0x01
    with pytest.raises(commands.CommandRefused):
        commands.verify_command(KEYS.command_public_raw, bytes(flipped), device_id=DEVICE, site="")


@FUZZ
@given(obj=envelope_objects, kind=st.sampled_from(sorted(topics.UP_KINDS)), sign=st.booleans())
def test_central_parser_raises_only_refused(obj: dict[str, Any], kind: str, sign: bool) -> None:
    payload = _dump(obj)
    if sign:
        with contextlib.suppress(EnvelopeError, signing.SignatureError):
            payload = SIGNER.sign(Envelope.from_bytes(payload)).to_bytes()
    try:
        item = parse(KEYS, topics.Topic(DEVICE, "up", kind), payload, TEST_KEYRING)
    except Refused as exc:
        assert exc.reason and (exc.alarm is None or exc.message_id is None)  # trust failures are never told
        return
    assert item.device_id == DEVICE and (item.envelope is None or item.digest)


# -- attachment reassembly at the central -----------------------------------------------------------------


_STORES: dict[str, CentralStore] = {}


def _store(tmp_path_factory: pytest.TempPathFactory) -> CentralStore:
    if "s" not in _STORES:
        _STORES["s"] = CentralStore(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'central.db'}")
    return _STORES["s"]


def _chunk_envelopes(sub_id: str, blob: bytes, size: int, seq0: int) -> list[Envelope]:
    parts = [blob[i:i + size] for i in range(0, len(blob), size)] or [b""]
    digest = hashlib.sha256(blob).hexdigest()
    return [Envelope(id=new_message_id(), seq=seq0 + i, device_id=DEVICE, kind="attachment", created_at=1.0,
                     sealed=p, meta={"submission_id": sub_id, "file": 0, "chunk": i, "chunks": len(parts),
                                     "sha256": hashlib.sha256(p).hexdigest(), "file_sha256": digest,
                                     "file_size": len(blob)}) for i, p in enumerate(parts)]


@FUZZ
@given(blob=st.binary(min_size=1, max_size=3000), size=st.integers(1, 700), data=st.data())
def test_reassembly_completes_exactly_when_every_chunk_arrived_intact(
        tmp_path_factory: pytest.TempPathFactory, blob: bytes, size: int, data: st.DataObject) -> None:
    store = _store(tmp_path_factory)
    sub_id = str(uuid.uuid4())
    chunks = _chunk_envelopes(sub_id, blob, size, 1)
    # Any order, any duplicates, some chunks perhaps missing, some perhaps damaged (then re-signed, so the
    # damage reaches the reassembly and is not stopped by the signature).
    picks = data.draw(st.lists(st.integers(0, len(chunks) - 1), max_size=2 * len(chunks) + 2))
    damage = data.draw(st.sets(st.integers(0, len(chunks) - 1), max_size=2))
    sent: set[int] = set()
    for i in picks:
        env = chunks[i]
        if i in damage:
            env = dataclasses.replace(env, sealed=env.sealed + b"!")
        try:
            item = parse(KEYS, topics.Topic(DEVICE, "up", "attachment"), SIGNER.sign(env).to_bytes(), TEST_KEYRING)
        except Refused as exc:
            assert i in damage and "checksum" in exc.reason
            continue
        acks = store.apply([item])
        assert env.id in acks.get(DEVICE, [])
        sent.add(i)
    stored = store.attachment(sub_id, 0)
    if sent == set(range(len(chunks))):
        assert stored is not None and stored.sealed == blob
    else:
        assert stored is None


def teardown_module() -> None:
    for s in _STORES.values():
        s.close()
    _STORES.clear()
    if _CA:
        _CA["store"].close()
        _CA.clear()


def test_a_bad_file_checksum_never_assembles(tmp_path: Path) -> None:
    store = CentralStore(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        chunks = _chunk_envelopes(str(uuid.uuid4()), b"abcdef" * 50, 100, 10)
        lie = [dataclasses.replace(c, meta={**c.meta, "file_sha256": "0" * 64}) for c in chunks]
        for env in lie:
            store.apply([parse(KEYS, topics.Topic(DEVICE, "up", "attachment"), SIGNER.sign(env).to_bytes(),
                               TEST_KEYRING)])
        assert store.attachment(lie[0].meta["submission_id"], 0) is None
    finally:
        store.close()


# -- up/batch (sync.protocol.batch, central.messages.parse_batch) --------------------------------------


UNKNOWN = "fuzz-unknown-kiosk"  # never enrolled
batch_heads = st.fixed_dictionaries({}, optional={
    "v": st.sampled_from([1, 2, "1", None, True, 1.0]),
    "device_id": st.one_of(st.sampled_from([DEVICE, UNKNOWN]), st.text(max_size=12), st.integers()),
    "n": st.one_of(st.integers(-2, batches.MAX_ENVELOPES + 2), st.booleans(), st.text(max_size=2), st.floats()),
    "sig": st.one_of(st.binary(max_size=70).map(lambda b: base64.b64encode(b).decode()), st.text(max_size=90),
                     st.none()),
})


@st.composite
def unsigned_batches(draw: st.DrawFn) -> bytes:
    """Lines of junk or envelope-shaped JSON under a header that is sometimes fuzzed, sometimes well formed
    (right version and count, a 64-byte signature that is not the device's), so every check is reached."""
    lines = draw(st.lists(st.one_of(st.binary(max_size=120).map(lambda b: b.replace(b"\n", b"")),
                                    envelope_objects.map(_dump)), max_size=4))
    if draw(st.booleans()):
        head: Any = draw(batch_heads)
    else:
        head = {"v": 1, "device_id": draw(st.sampled_from([DEVICE, UNKNOWN, "fuzz-kiosk-2"])), "n": len(lines),
                "sig": base64.b64encode(draw(st.binary(min_size=64, max_size=64))).decode()}
    return b"\n".join([_dump(head), *lines])


@FUZZ
@given(payload=st.one_of(st.binary(max_size=2000), unsigned_batches()), topic_device=st.sampled_from([DEVICE, UNKNOWN]))
def test_batch_parser_raises_only_refused_on_arbitrary_bytes(payload: bytes, topic_device: str) -> None:
    try:
        items = parse_batch(KEYS, topics.Topic(topic_device, "up", "batch"), payload, TEST_KEYRING)
    except Refused as exc:
        assert exc.reason and exc.envelope is None
        assert exc.alarm is None or exc.message_id is None  # trust failures are never told
        return
    assert isinstance(items, list)  # only a batch SIGNER signed gets here (see the next property)


def _sealed_submission(seq: int, receipt_no: str = "R1") -> bytes:
    """A well-formed submission the central accepts, signed by SIGNER (the batch's known-good member)."""
    message_id = new_message_id()
    body = json.dumps({"service_code": "X", "fields": [{"id": "n", "value": "v"}], "attachments": []}).encode()
    env = Envelope(id=message_id, seq=seq, device_id=DEVICE, kind="submission", created_at=1.7e9,
                   sealed=seal(KEYS.seal.public_raw, body, aad=message_id.encode("ascii")),
                   meta={"service_code": "X", "receipt_no": receipt_no, "attachments": []})
    return SIGNER.sign(env).to_bytes()


_VALID_BASE = json.loads(_sealed_submission(1))
# Mostly-valid envelopes: a good submission with some fields fuzzed (another kind, another device, junk
# meta or sealed part), so that items get past the envelope decoder and reach the content checks.
near_envelopes = envelope_objects.map(lambda fuzz: {**_VALID_BASE, **fuzz})


@FUZZ
@given(objs=st.lists(st.tuples(st.one_of(envelope_objects, near_envelopes), st.booleans()), max_size=5),
       good_at=st.one_of(st.none(), st.integers(0, 5)))
def test_batch_parser_items_are_incoming_or_refused_and_alarms_are_never_told(
        objs: list[tuple[dict[str, Any], bool]], good_at: int | None) -> None:
    raws: list[bytes] = []
    for obj, sign in objs:
        raw = _dump(obj)
        if sign:
            with contextlib.suppress(EnvelopeError, signing.SignatureError):
                raw = SIGNER.sign(Envelope.from_bytes(raw)).to_bytes()
        raws.append(raw)
    good = None
    if good_at is not None:
        good = _sealed_submission(good_at + 1)
        raws.insert(min(good_at, len(raws)), good)
    assume(raws and all(b"\n" not in r for r in raws))
    payload = batches.encode(SIGNER, DEVICE, raws)  # the batch signature verifies: each item is judged
    items = parse_batch(KEYS, topics.Topic(DEVICE, "up", "batch"), payload, TEST_KEYRING)
    assert len(items) == len(raws)
    for raw, item in zip(raws, items, strict=True):
        if isinstance(item, Incoming):
            assert item.envelope is not None and item.envelope.kind == "submission" and item.refusal is None
            assert item.topic == topics.Topic(DEVICE, "up", "submission") and len(item.digest) == 64
            assert item.digest == signing.digest(item.envelope)
        else:
            assert isinstance(item, Refused) and item.reason
            assert item.alarm is None or item.message_id is None  # trust failures are never told
            assert item.message_id is None or (item.envelope is not None and item.envelope.id == item.message_id)
        if raw is good:
            assert isinstance(item, Incoming)


# -- numbers are bounded at parse time (issue 13, item 4) -------------------------------------------------


def _envelope_with(name: str, raw: bytes) -> bytes:
    """A good signed submission with the JSON text of one field replaced by ``raw``."""
    obj = {**json.loads(_sealed_submission(7)), name: "@@"}
    return json.dumps(obj).encode().replace(b'"@@"', raw)


@pytest.mark.parametrize(("name", "raw"), [
    ("created_at", b"9" * 400),  # the payload that stopped kiosk-central serve (OverflowError in float())
    ("created_at", b"1e400"),  # a float literal that parses as inf
    ("created_at", b"Infinity"), ("created_at", b"NaN"),
    ("seq", b"9" * 30),
    ("meta", b'{"x":' + b"9" * 30 + b"}"),  # bounded everywhere, not only in the fields the central reads
    ("meta", b'{"x":-1e999}'),
    ("meta", b'{"x":-' + b"9" * 19 + b"}"),
])
def test_envelope_numbers_out_of_range_are_refused_at_parse(name: str, raw: bytes) -> None:
    head = _envelope_with(name, raw)
    with pytest.raises(EnvelopeError):
        Envelope.from_bytes(head)
    with pytest.raises(Refused):
        parse(KEYS, topics.Topic(DEVICE, "up", "submission"), head, TEST_KEYRING)


@pytest.mark.parametrize("payload", [
    b'{"state":"online","conn":Infinity}',  # OverflowError in int() stopped kiosk-central serve
    b'{"state":"online","conn":"' + b"1" * 30 + b'"}',  # accepted, then "int too large for SQLite INTEGER"
    b'{"state":"online","conn":' + b"1" * 30 + b"}",
    b'{"state":"online","conn":-1}',
    b'{"state":"online","conn":NaN}',
    b'{"state":"online","conn":1e300}',
    b'{"state":"online","conn":true}',
    b'{"state":"online","conn":1,"since":1e999}',
])
def test_status_numbers_out_of_range_are_refused(payload: bytes) -> None:
    with pytest.raises(Refused):
        parse(KEYS, topics.Topic(DEVICE, "up", "status"), payload, TEST_KEYRING)


def test_a_status_the_kiosk_sends_is_accepted() -> None:
    item = parse(KEYS, topics.Topic(DEVICE, "up", "status"),
                 b'{"state":"online","conn":1733300000000,"since":1733300000.5,"version":"1.2"}', TEST_KEYRING)
    assert item.status["conn"] == 1733300000000


def test_ack_numbers_are_bounded() -> None:
    with pytest.raises(EnvelopeError):
        Ack.from_bytes(b'{"v":1,"ids":[' + b"9" * 400 + b"]}")


# -- every up/ topic through a real broker: the central stays up and keeps storing ---------------------------

# Numbers a kiosk never sends: past 64 bits, past a float's range, the JSON non-constants.
wild_numbers = (st.integers(2**63 - 2, 10**400) | st.integers(-(10**400), -(2**63) + 2)
                | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e308, -0.0, 2**53 + 1]))
wild_values = st.recursive(json_scalars | wild_numbers | st.text(alphabet="0123456789", min_size=18, max_size=40),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                         max_size=3), max_leaves=8)
digit_strings = st.text(alphabet="0123456789", min_size=1, max_size=40)
status_objects = st.fixed_dictionaries({
    "state": st.sampled_from(["online", "offline"]) | wild_values,
    "conn": wild_numbers | digit_strings | wild_values,
}, optional={"since": wild_numbers | wild_values, "version": wild_values, "site": wild_values})
wild_envelopes = st.one_of(
    st.tuples(near_envelopes, st.sampled_from(["created_at", "seq", "meta", "id"]), wild_numbers | wild_values)
    .map(lambda t: {**t[0], t[1]: t[2]}), envelope_objects, near_envelopes)


def _enrol_event(meta: dict[str, Any], seq: int) -> bytes:
    """An enrolment event as a new kiosk sends it: signed by the key it brings, with fuzzed meta."""
    key = DeviceSigner.generate()
    env = Envelope(id=new_message_id(), seq=seq, device_id=DEVICE, kind="event", created_at=1.7e9,
                   meta={"type": "enrol", "device_public_key": base64.b64encode(key.public_raw).decode(), **meta})
    return key.sign(env).to_bytes()


@st.composite
def up_messages(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """(device id, up/ kind, payload): junk, envelope-shaped and nearly valid messages on every up/ topic."""
    kind = draw(st.sampled_from(sorted(topics.UP_KINDS | {"enrol"})))
    device = draw(st.sampled_from([DEVICE, DEVICE, UNKNOWN]))
    if draw(st.integers(0, 5)) == 0:
        return device, "event" if kind == "enrol" else kind, draw(st.binary(max_size=300))
    if kind == "status":
        return device, kind, _dump(draw(status_objects))
    if kind == "enrol":
        meta = draw(st.dictionaries(st.sampled_from(["token_id", "type", "device_public_key", "x"]), wild_values,
                                    max_size=3))
        return device, "event", _enrol_event({k: v for k, v in meta.items() if k != "type"}, draw(st.integers(1, 99)))
    if kind == "batch":
        if draw(st.booleans()):
            return device, kind, draw(unsigned_batches())
        raws = [_dump(o) for o in draw(st.lists(wild_envelopes, min_size=1, max_size=3))]
        raws = [r for r in raws if b"\n" not in r] or [_sealed_submission(1)]
        return device, kind, batches.encode(SIGNER, DEVICE, raws)
    obj = {**draw(wild_envelopes), "kind": kind} if draw(st.booleans()) else draw(wild_envelopes)
    payload = _dump(obj)
    if draw(st.booleans()):
        with contextlib.suppress(EnvelopeError, signing.SignatureError):
            payload = SIGNER.sign(Envelope.from_bytes(payload)).to_bytes()
    return device, kind, payload


_LIVE: dict[str, Any] = {}


@pytest.fixture(scope="module")
def fuzzed_central(broker: MosquittoBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Central]:
    central = start_central(broker.url, tmp_path_factory.mktemp("fuzz-central") / "central.db", KEYS,
                            worker_id=f"fuzz-{uuid.uuid4().hex[:6]}")
    wire = Wire(broker, DEVICE)
    _LIVE.update(wire=wire, seq=1000)
    try:
        yield central
    finally:
        wire.close()
        central.worker.stop()
        central.store.close()
        _LIVE.clear()


@pytest.mark.slow
@FUZZ_BROKER
@given(messages=st.lists(up_messages(), min_size=1, max_size=6))
def test_no_payload_on_any_up_topic_stops_the_central(fuzzed_central: Central,
                                                      messages: list[tuple[str, str, bytes]]) -> None:
    wire: Wire = _LIVE["wire"]
    for device, kind, payload in messages:
        wire.publish(device, kind, payload)
    _LIVE["seq"] += 1
    real = _sealed_submission(_LIVE["seq"], f"FZ{uuid.uuid4().hex[:16]}")  # receipt numbers are unique too
    real_id = json.loads(real)["id"]

    def stored() -> bool:
        return real_id in {i for a in wire.acks for i in a.ids}

    wire.publish(DEVICE, "submission", real)  # after the fuzzed ones on the same connection: handled after them
    wait_until(lambda: stored() or not fuzzed_central.worker.is_alive(), 15, "the real submission's ack")
    assert fuzzed_central.worker.is_alive()
    assert stored()


# -- the TLS enrolment listener's handlers (kiosk/v1/_enrol/...; central.cert_service) --------------------

_CA: dict[str, Any] = {}


def _ca_and_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, CentralStore]:
    from central.ca import FleetCA

    if not _CA:
        home = tmp_path_factory.mktemp("fuzz-ca")
        _CA.update(ca=FleetCA.open(home), store=CentralStore(f"sqlite:///{home / 'central.db'}"))
        enroll(_CA["store"], DEVICE)  # so a renewal reaches the request's parser and signature check
    return _CA["ca"], _CA["store"]


enrol_requests = st.fixed_dictionaries({}, optional={
    "v": st.sampled_from([1, 2, None]) | wild_numbers, "device_id": st.sampled_from([DEVICE, UNKNOWN]) | wild_values,
    "token_id": wild_values, "device_public_key": wild_values, "csr": wild_values, "at": wild_numbers | wild_values,
    "proof": wild_values, "body": wild_values, "sig": wild_values,
})


@FUZZ
@given(payload=st.one_of(st.binary(max_size=600), enrol_requests.map(_dump)), renewal=st.booleans())
def test_enrolment_listener_handlers_never_raise(tmp_path_factory: pytest.TempPathFactory, payload: bytes,
                                                 renewal: bool) -> None:
    from central.cert_service import enrol, renew

    ca, store = _ca_and_store(tmp_path_factory)
    reply = (renew if renewal else enrol)(store, ca, DEVICE, payload)
    assert not reply.ok and reply.reason
