"""SerialIdCardReader against the pty simulator: real pty, real pyserial, every failure mode."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import serial

from drivers.health import HealthState
from drivers.idcard import protocol as p
from drivers.idcard.protocol import FIND_CARD, READ_BASE, SELECT_CARD, STATUS
from drivers.idcard.reader import (
    CardRemovedError,
    ReaderIOError,
    ReaderTimeoutError,
    ReaderTimeouts,
    SerialIdCardReader,
)
from drivers.idcard.simulator import SAMPLE_RECORD, Fault, IdCardSimulator, main
from drivers.interfaces import IdCardReader, IdentityRecord

FAST = ReaderTimeouts(command_s=0.25, read_s=0.4, poll_s=0.02)
OTHER = IdentityRecord(
    name="赵大勇", id_number="440524188001010014", sex="男", nation="壮", birth_date="18800101",
    address="广东省汕头市示例街2号", authority="汕头市公安局", valid_from="20100101", valid_to="20300101",
)
SECRETS = [SAMPLE_RECORD.name, SAMPLE_RECORD.id_number, SAMPLE_RECORD.address, SAMPLE_RECORD.birth_date]


@pytest.fixture
def sim() -> Iterator[IdCardSimulator]:
    with IdCardSimulator() as s:
        yield s


@pytest.fixture
def make_reader(sim: IdCardSimulator) -> Iterator[Callable[..., SerialIdCardReader]]:
    made: list[SerialIdCardReader] = []

    def make(**kw: Any) -> SerialIdCardReader:
        kw.setdefault("timeouts", FAST)
        r = SerialIdCardReader(sim.port, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def reader(make_reader: Callable[..., SerialIdCardReader]) -> SerialIdCardReader:
    return make_reader()


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except Exception as exc:  # handed to the test thread
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


# ----------------------------------------------------------------------------- happy paths


def test_reader_implements_the_protocol(reader: SerialIdCardReader) -> None:
    assert isinstance(reader, IdCardReader)


def test_reads_a_placed_card(sim: IdCardSimulator, reader: SerialIdCardReader) -> None:
    sim.place_card(SAMPLE_RECORD)
    assert reader.read_card(2.0) == SAMPLE_RECORD
    assert reader.health.snapshot().state is HealthState.OK
    assert [sim.count(c) for c in (FIND_CARD, SELECT_CARD, READ_BASE)] == [1, 1, 1]


def test_no_card_returns_none(sim: IdCardSimulator, reader: SerialIdCardReader) -> None:
    assert reader.read_card(0.2) is None
    assert sim.count(FIND_CARD) >= 2
    assert reader.health.snapshot().state is HealthState.OK


def test_card_placed_while_waiting(sim: IdCardSimulator, reader: SerialIdCardReader) -> None:
    t, out = _in_thread(lambda: reader.read_card(5.0))
    assert sim.wait_for(FIND_CARD, 2)
    sim.place_card(SAMPLE_RECORD)
    t.join(5)
    assert out == {"value": SAMPLE_RECORD}


@pytest.mark.parametrize("halt", [True, False], ids=["card-halts", "card-keeps-answering"])
def test_same_card_is_not_reported_until_lifted(halt: bool, make_reader: Callable[..., SerialIdCardReader],
                                                sim: IdCardSimulator) -> None:
    sim.halt_after_read = halt
    reader = make_reader()
    sim.place_card(SAMPLE_RECORD)
    assert reader.read_card(2.0) == SAMPLE_RECORD
    assert reader.read_card(0.2) is None  # still on the reader
    sim.remove_card()
    assert reader.read_card(0.05) is None  # the reader sees the empty field
    sim.place_card(SAMPLE_RECORD)
    assert reader.read_card(2.0) == SAMPLE_RECORD
    sim.remove_card()
    sim.place_card(OTHER)
    assert reader.read_card(2.0) == OTHER


def test_photo_containing_the_preamble_does_not_confuse_the_decoder(
    sim: IdCardSimulator, reader: SerialIdCardReader
) -> None:
    sim.place_card(SAMPLE_RECORD, photo=p.PREAMBLE * 204 + b"\x00\x05\x00\x00")
    assert reader.read_card(2.0) == SAMPLE_RECORD


def test_selftest_reports_sam_id(reader: SerialIdCardReader) -> None:
    report = reader.selftest()
    assert report["ok"] is True
    assert report["sam_id"].startswith("05.01-")
    assert reader.health.snapshot().state is HealthState.OK


# ----------------------------------------------------------------------------- line faults


@pytest.mark.parametrize("on", [FIND_CARD, SELECT_CARD, READ_BASE, None])
def test_garbage_before_replies_is_skipped(on: p.Command | None, sim: IdCardSimulator,
                                           reader: SerialIdCardReader) -> None:
    sim.place_card(SAMPLE_RECORD)
    sim.inject(Fault.GARBAGE, on=on, times=None)
    assert reader.read_card(2.0) == SAMPLE_RECORD


@pytest.mark.parametrize("fault", [Fault.BAD_CHECKSUM, Fault.TRUNCATED, Fault.SILENT])
def test_one_bad_reply_is_retried(fault: Fault, sim: IdCardSimulator, reader: SerialIdCardReader) -> None:
    sim.place_card(SAMPLE_RECORD)
    sim.inject(fault, on=READ_BASE)
    assert reader.read_card(3.0) == SAMPLE_RECORD
    assert sim.count(READ_BASE) == 2
    assert reader.health.snapshot().state is HealthState.OK


@pytest.mark.parametrize(
    ("fault", "error"),
    [(Fault.BAD_CHECKSUM, p.FrameChecksumError), (Fault.TRUNCATED, p.FrameTruncatedError)],
)
def test_persistent_line_faults_raise_and_degrade(
    fault: Fault, error: type[Exception], sim: IdCardSimulator, make_reader: Callable[..., SerialIdCardReader]
) -> None:
    reader = make_reader(retries=1, timeouts=ReaderTimeouts(command_s=0.2, read_s=0.15, poll_s=0.02))
    sim.place_card(SAMPLE_RECORD)
    sim.inject(fault, on=READ_BASE, times=None)
    with pytest.raises(error):
        reader.read_card(3.0)
    snap = reader.health.snapshot()
    assert snap.state is HealthState.DEGRADED
    assert snap.last_error == error.code  # type: ignore[attr-defined]
    sim.clear_faults()
    assert reader.read_card(2.0) == SAMPLE_RECORD
    assert reader.health.snapshot().state is HealthState.OK


def test_silent_reader_fails_health(sim: IdCardSimulator, reader: SerialIdCardReader) -> None:
    sim.inject(Fault.SILENT, times=None)
    with pytest.raises(ReaderTimeoutError):
        reader.read_card(1.0)
    assert reader.health.snapshot().state is HealthState.FAILED
    assert reader.health.snapshot().last_error == "no-response"
    assert reader.selftest()["error"] == "no-response"


# ----------------------------------------------------------------------------- card faults


def test_card_pulled_away_mid_read(sim: IdCardSimulator, reader: SerialIdCardReader) -> None:
    sim.place_card(SAMPLE_RECORD)
    sim.inject(Fault.PULL_CARD, on=READ_BASE)
    with pytest.raises(CardRemovedError) as info:
        reader.read_card(3.0)
    assert "请重新放置" in str(info.value) and "place it again" in str(info.value)
    assert not sim.card_present
    assert reader.health.snapshot().state is not HealthState.FAILED
    assert reader.read_card(0.1) is None
    sim.place_card(SAMPLE_RECORD)
    assert reader.read_card(2.0) == SAMPLE_RECORD


@pytest.mark.parametrize("sw3", [0x31, 0x32, 0x33])
def test_authentication_failure(sw3: int, sim: IdCardSimulator, reader: SerialIdCardReader) -> None:
    sim.place_card(SAMPLE_RECORD)
    sim.inject_status(sw3, on=READ_BASE)
    with pytest.raises(p.ReaderStatusError) as info:
        reader.read_card(2.0)
    assert info.value.sw3 == sw3
    assert isinstance(info.value, p.CardAuthenticationError | p.CardVerificationError)
    snap = reader.health.snapshot()
    assert (snap.state, snap.last_error) == (HealthState.DEGRADED, f"sw3-{sw3:02x}")
    assert reader.read_card(2.0) == SAMPLE_RECORD  # the next try succeeds


def test_wrong_card(sim: IdCardSimulator, reader: SerialIdCardReader) -> None:
    sim.place_card(SAMPLE_RECORD)
    sim.inject_status(0x40, on=SELECT_CARD)
    with pytest.raises(p.WrongCardError):
        reader.read_card(2.0)


@pytest.mark.parametrize(("sw3", "on"), [(0x41, READ_BASE), (0x47, READ_BASE), (0x81, SELECT_CARD)])
def test_transient_card_errors_are_retried(sw3: int, on: p.Command, sim: IdCardSimulator,
                                           reader: SerialIdCardReader) -> None:
    sim.place_card(SAMPLE_RECORD)
    sim.inject_status(sw3, on=on)
    assert reader.read_card(2.0) == SAMPLE_RECORD


def test_reader_not_authorised(sim: IdCardSimulator, reader: SerialIdCardReader) -> None:
    sim.place_card(SAMPLE_RECORD)
    sim.inject_status(0x66, on=FIND_CARD, times=None)
    with pytest.raises(p.NotAuthorisedError) as info:
        reader.read_card(1.0)
    assert "未经授权" in str(info.value) and "not authorised" in str(info.value)
    snap = reader.health.snapshot()
    assert (snap.state, snap.last_error) == (HealthState.FAILED, "sw3-66")


def test_selftest_failure(sim: IdCardSimulator, reader: SerialIdCardReader) -> None:
    sim.inject_status(0x60, on=STATUS)
    report = reader.selftest()
    assert report["ok"] is False and report["error"] == "sw3-60"
    assert reader.health.snapshot().state is HealthState.FAILED
    assert reader.selftest()["ok"] is True
    assert reader.health.snapshot().state is HealthState.OK


# ----------------------------------------------------------------------------- port faults


def test_missing_port() -> None:
    reader = SerialIdCardReader("/dev/does-not-exist-idcard", timeouts=FAST)
    with pytest.raises(ReaderIOError) as info:
        reader.read_card(0.5)
    assert info.value.code == "serial-open"
    assert reader.health.snapshot().state is HealthState.FAILED
    assert reader.selftest() | {"message": ""} == {
        "ok": False, "driver": "idcard", "port": "/dev/does-not-exist-idcard", "error": "serial-open",
        "message": "",
    }


def test_device_unplugged(sim: IdCardSimulator, reader: SerialIdCardReader) -> None:
    assert reader.read_card(0.05) is None
    sim.stop()
    with pytest.raises((ReaderIOError, ReaderTimeoutError)):
        reader.read_card(1.0)
    assert reader.health.snapshot().state is HealthState.FAILED


def test_close_stops_a_waiting_read(sim: IdCardSimulator, reader: SerialIdCardReader) -> None:
    t, out = _in_thread(lambda: reader.read_card(30.0))
    assert sim.wait_for(FIND_CARD, 1)
    reader.close()
    t.join(3)
    assert not t.is_alive()
    assert out == {"value": None}
    with pytest.raises(p.IdCardError):
        reader.read_card(0.1)


# ----------------------------------------------------------------------------- privacy and protocol


def test_no_personal_data_in_logs_errors_or_health(
    sim: IdCardSimulator, reader: SerialIdCardReader, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    sim.place_card(SAMPLE_RECORD)
    for inject in (
        lambda: sim.inject_status(0x31, on=READ_BASE),
        lambda: sim.inject(Fault.BAD_CHECKSUM, on=READ_BASE, times=None),
        lambda: sim.inject(Fault.PULL_CARD, on=READ_BASE),
    ):
        sim.clear_faults()
        sim.remove_card()
        sim.place_card(SAMPLE_RECORD)
        inject()
        with pytest.raises(p.IdCardError) as info:
            reader.read_card(3.0)
        seen += [str(info.value), repr(info.value), str(reader.health.snapshot().as_dict())]
    sim.clear_faults()
    sim.place_card(SAMPLE_RECORD)
    assert reader.read_card(2.0) == SAMPLE_RECORD
    seen += [caplog.text, str(reader.health.snapshot().as_dict()), str(reader.selftest())]
    for text in seen:
        for secret in SECRETS:
            assert secret not in text


def test_raw_protocol_against_the_simulator(sim: IdCardSimulator) -> None:
    with serial.Serial(sim.port, 115200, timeout=2) as port:
        port.write(p.encode_request(FIND_CARD))
        assert port.read(11) == bytes.fromhex("AA AA AA 96 69 00 04 00 00 80 84")
        bad = bytearray(p.encode_request(FIND_CARD))
        bad[-1] ^= 0xFF
        port.write(bytes(bad))
        assert port.read(11) == p.encode_response(0x10)
        port.write(p.encode_frame(b"\x77\x01"))
        assert port.read(11) == p.encode_response(0x21)
        sim.place_card(SAMPLE_RECORD)
        for cmd in (FIND_CARD, SELECT_CARD):
            port.write(p.encode_request(cmd))
            [frame] = p.FrameDecoder().feed(port.read(15 if cmd == FIND_CARD else 19))
            assert p.Response.from_frame(frame).ok
        port.write(p.encode_request(READ_BASE))
        reply = port.read(1295)
        assert len(reply) == 1295 and reply[7:10] == b"\x00\x00\x90"


def test_simulator_main_prints_the_pty_path(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("remove\nplace\nquit\n"))
    assert main([]) == 0
    assert capsys.readouterr().out.startswith("/dev/")
