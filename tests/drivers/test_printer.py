"""ESC/POS bytes, status parsing, and the transports against real endpoints.

The network printer is a real TCP server on 127.0.0.1 that answers DLE EOT like a printer; the serial
printer is the other end of a real pseudo-terminal.
"""

from __future__ import annotations

import os
import select
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.health import HealthState
from drivers.interfaces import Driver, ReceiptPrinter
from drivers.printer import (
    EscPosPrinter,
    FileBackend,
    NetworkBackend,
    PrinterError,
    Receipt,
    SerialBackend,
    UsbLpBackend,
    parse_status,
    qr_commands,
    render_text,
)
from drivers.printer.escpos import CHINESE_OFF, CHINESE_ON, EscPosParseError

OK = {1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12}
PAPER_OUT = {1: 0x1A, 2: 0x32, 3: 0x12, 4: 0x72}  # offline because paper end; sensor: paper end
NEAR_END = {1: 0x12, 2: 0x12, 3: 0x12, 4: 0x1E}


# ---------------------------------------------------------------------------------------------
# bytes
# ---------------------------------------------------------------------------------------------

def test_chinese_text_round_trips_through_gb18030():
    text = "街道便民服务中心 受理回执 No.20261127-0042 𠀀"  # last: a four-byte GB18030 character
    job = bytes(Receipt().init().line(text).cut())
    assert job.startswith(b"\x1b@" + CHINESE_ON)
    body = job[len(b"\x1b@" + CHINESE_ON):job.index(b"\n")]
    assert body == text.encode("gb18030")
    assert body.decode("gb18030") == text
    assert "街道".encode("gb18030") == b"\xbd\xd6\xb5\xc0"
    assert b"\x1dVB" in job  # partial cut
    assert render_text(job).splitlines()[0] == text


def test_text_outside_chinese_mode_and_control_characters():
    job = bytes(Receipt().raw(b"\x1b@").raw(CHINESE_OFF).text("ab\x07c\x1bd").line())
    assert b"\x07" not in job and b"\x1bd" not in job[2:]  # control characters are dropped
    assert render_text(job) == "abcd\n"
    with pytest.raises(EscPosParseError):
        render_text(b"\x1bZ\x00")
    with pytest.raises(EscPosParseError):
        render_text(b"\x1d(k\x05\x00\x31")  # truncated


def test_size_alignment_and_bold_bytes():
    r = Receipt().align("center").bold().size(2, 2).text("大").size(1, 1).bold(False)
    assert bytes(r) == (b"\x1ba\x01" + b"\x1bE\x01" + b"\x1d!\x11\x1c!\x0c" + "大".encode("gb18030")
                        + b"\x1d!\x00\x1c!\x00" + b"\x1bE\x00")
    with pytest.raises(ValueError):
        Receipt().size(9, 1)
    with pytest.raises(ValueError):
        Receipt().align("middle")
    with pytest.raises(LookupError):
        Receipt(encoding="no-such-codec")


def test_qr_command_bytes():
    assert qr_commands(b"hello", module_size=6, ec="M") == (
        b"\x1d(k\x04\x00\x31\x41\x32\x00"
        b"\x1d(k\x03\x00\x31\x43\x06"
        b"\x1d(k\x03\x00\x31\x45\x31"
        b"\x1d(k\x08\x00\x31\x50\x30hello"
        b"\x1d(k\x03\x00\x31\x51\x30"
    )
    long = qr_commands(b"x" * 300, ec="H")
    assert b"\x1d(k\x2f\x01\x31\x50\x30" + b"x" * 300 in long  # pL pH = 303 little-endian
    assert b"\x31\x45\x33" in long
    for bad in ({"data": b""}, {"data": b"x" * 8000}, {"data": b"x", "ec": "X"},
                {"data": b"x", "module_size": 0}):
        with pytest.raises(ValueError):
            qr_commands(**bad)


def test_qr_payload_is_utf8_and_renders():
    payload = "https://zwfw.example.gov.cn/r?n=受理42"
    job = bytes(Receipt().init().align("center").qr(payload).line().cut())
    assert payload.encode("utf-8") in job
    assert f"[QR] {payload}" in render_text(job)


def test_render_text_aligns_wide_characters():
    job = bytes(Receipt(width_chars=20).init().align("center").line("中文").align("right").line("ab"))
    lines = render_text(job, width_chars=20).splitlines()
    assert lines == [" " * 8 + "中文", " " * 18 + "ab"]


def test_pair_and_rule():
    r = Receipt(width_chars=16).init().pair("事项", "社保").rule()
    lines = render_text(bytes(r), width_chars=16).splitlines()
    assert lines[0] == "事项" + " " * 8 + "社保"
    assert lines[1] == "-" * 16


# ---------------------------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------------------------

def test_parse_status():
    ok = parse_status(OK)
    assert (ok.state, ok.online, ok.paper, ok.problems) == ("ok", True, "ok", [])
    out = parse_status(PAPER_OUT)
    assert out.state == "failed" and out.paper == "out" and out.error_code == "printer_paper_out"
    assert out.online is False and "printer_offline" in out.problems
    near = parse_status(NEAR_END)
    assert near.state == "degraded" and near.error_code == "printer_paper_near_end"
    cover = parse_status({1: 0x1A, 2: 0x16})
    assert cover.error_code == "printer_cover_open"
    cutter = parse_status({3: 0x1A})
    assert cutter.error_code == "printer_cutter_error"
    assert parse_status({1: 0xFF}).error_code == "printer_bad_reply"
    assert out.as_dict()["raw"]["4"] == "0x72"


# ---------------------------------------------------------------------------------------------
# file backend + printer
# ---------------------------------------------------------------------------------------------

def test_file_printer_writes_raw_and_text(tmp_path):
    backend = FileBackend(tmp_path / "out" / "r.escpos", tmp_path / "out" / "r.txt")
    printer: ReceiptPrinter = EscPosPrinter(backend)  # structurally a ReceiptPrinter (checked by mypy)
    assert isinstance(printer, Driver) and isinstance(printer, EscPosPrinter)
    report = printer.selftest()
    assert report["ok"] and report["printed"] is False
    assert not (tmp_path / "out" / "r.escpos").exists()  # a self-test prints nothing unless asked

    printer.print_receipt(["事项：居住证签注", "受理编号 A-0042"], qr="https://example.gov.cn/q/42",
                          title="受理回执", footer=["请妥善保管"])
    raw = (tmp_path / "out" / "r.escpos").read_bytes()
    assert "居住证签注".encode("gb18030") in raw and raw.endswith(b"\x1dVB\x30")
    text = (tmp_path / "out" / "r.txt").read_text(encoding="utf-8")
    assert "受理回执" in text and "事项：居住证签注" in text
    assert "[QR] https://example.gov.cn/q/42" in text
    assert printer.health.snapshot().state is HealthState.OK
    assert backend.jobs == 1

    assert printer.selftest(print_test_page=True)["printed"] is True
    assert backend.jobs == 2


def test_file_printer_simulated_paper_out_refuses_to_print(tmp_path):
    backend = FileBackend(tmp_path / "r.escpos")
    printer = EscPosPrinter(backend)
    backend.simulate(paper="out")
    with pytest.raises(PrinterError) as err:
        printer.print_receipt(["x"])
    assert err.value.code == "printer_paper_out"
    snap = printer.health.snapshot()
    assert snap.state is HealthState.FAILED and snap.last_error == "printer_paper_out"
    assert not (tmp_path / "r.escpos").exists()

    backend.simulate(paper="near_end")
    printer.print_receipt(["x"])  # still prints, but health says attention is needed
    assert printer.health.snapshot().state is HealthState.DEGRADED
    backend.simulate()
    printer.print_receipt(["x"])
    assert printer.health.snapshot().state is HealthState.OK


def test_usb_backend_on_a_plain_file_and_missing_device(tmp_path):
    dev = tmp_path / "lp0"
    dev.write_bytes(b"")
    printer = EscPosPrinter(UsbLpBackend(dev))
    printer.print_receipt(["USB 打印"])
    assert "USB 打印".encode("gb18030") in dev.read_bytes()
    assert printer.selftest()["ok"] is True  # reachable; no usblp status on a plain file

    gone = EscPosPrinter(UsbLpBackend(tmp_path / "lp9"))
    report = gone.selftest()
    assert report["ok"] is False and report["status"]["problems"] == ["printer_unreachable"]
    with pytest.raises(PrinterError, match="printer_unreachable"):
        gone.print_receipt(["x"])


# ---------------------------------------------------------------------------------------------
# network backend against a real TCP server
# ---------------------------------------------------------------------------------------------

class FakeNetworkPrinter(socketserver.ThreadingTCPServer):
    """Raw 9100 printer: answers DLE EOT n with ``status[n]``; collects everything else per connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, status: dict[int, int] | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = status  # None: a printer that never answers status queries
        self.jobs: list[bytes] = []
        self.cond = threading.Condition()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def wait_jobs(self, n: int, timeout: float = 5.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.jobs) >= n, timeout)


class _Handler(socketserver.BaseRequestHandler):
    server: FakeNetworkPrinter

    def handle(self) -> None:
        buf = bytearray()
        job = bytearray()
        self.request.settimeout(10)
        while True:
            try:
                chunk = self.request.recv(4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            while buf:
                if buf[:2] == b"\x10\x04":
                    if len(buf) < 3:
                        break
                    n = buf[2]
                    del buf[:3]
                    if self.server.status is not None:
                        self.request.sendall(bytes([self.server.status.get(n, 0x12)]))
                elif buf[:1] == b"\x10" and len(buf) < 2:
                    break
                else:
                    job.append(buf[0])
                    del buf[:1]
        if job:
            with self.server.cond:
                self.server.jobs.append(bytes(job))
                self.server.cond.notify_all()


@pytest.fixture
def net_printer() -> Iterator[FakeNetworkPrinter]:
    server = FakeNetworkPrinter(dict(OK))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_network_printer_prints_and_reports_ok(net_printer):
    printer = EscPosPrinter(NetworkBackend("127.0.0.1", net_printer.port, io_timeout=2))
    report = printer.selftest()
    assert report["ok"] is True and report["status"]["paper"] == "ok"
    assert report["transport"] == {"kind": "network", "bidirectional": True, "host": "127.0.0.1",
                                   "port": net_printer.port}
    printer.print_receipt(["网络打印机", "Network printer"], qr="42")
    assert net_printer.wait_jobs(1)
    job = net_printer.jobs[-1]
    assert job == bytes(printer.build_receipt(["网络打印机", "Network printer"], qr="42"))
    assert printer.health.snapshot().state is HealthState.OK


def test_network_printer_paper_out(net_printer):
    net_printer.status = dict(PAPER_OUT)
    printer = EscPosPrinter(NetworkBackend("127.0.0.1", net_printer.port, io_timeout=2))
    report = printer.selftest()
    assert report["ok"] is False
    assert report["status"]["paper"] == "out" and report["status"]["problems"][0] == "printer_paper_out"
    snap = printer.health.snapshot()
    assert snap.state is HealthState.FAILED and snap.last_error == "printer_paper_out"
    with pytest.raises(PrinterError) as err:
        printer.print_receipt(["不应打印"])
    assert err.value.code == "printer_paper_out"
    assert not net_printer.wait_jobs(1, timeout=0.2)

    net_printer.status = dict(NEAR_END)
    assert printer.selftest()["ok"] is True
    assert printer.health.snapshot().state is HealthState.DEGRADED


def test_network_printer_offline_connection_refused():
    with socket.socket() as s:  # a port nobody listens on: bind, learn it, close
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    printer = EscPosPrinter(NetworkBackend("127.0.0.1", port, connect_timeout=1, io_timeout=1))
    t0 = time.monotonic()
    report = printer.selftest()
    assert time.monotonic() - t0 < 2
    assert report["ok"] is False
    assert report["status"]["reachable"] is False
    assert report["status"]["problems"] == ["printer_unreachable"]
    assert printer.health.snapshot().last_error == "printer_unreachable"
    with pytest.raises(PrinterError) as err:
        printer.print_receipt(["x"])
    assert err.value.code == "printer_unreachable"
    unchecked = EscPosPrinter(NetworkBackend("127.0.0.1", port, connect_timeout=1), check_status=False)
    with pytest.raises(PrinterError, match="printer_unreachable"):
        unchecked.print_receipt(["x"])


def test_network_printer_that_never_answers_status(net_printer):
    net_printer.status = None
    printer = EscPosPrinter(NetworkBackend("127.0.0.1", net_printer.port, io_timeout=0.3))
    report = printer.selftest()
    assert report["ok"] is False and report["status"]["problems"] == ["printer_no_reply"]


# ---------------------------------------------------------------------------------------------
# serial backend over a real pseudo-terminal
# ---------------------------------------------------------------------------------------------

class PtyPrinter:
    """The printer end of a pty: answers DLE EOT, keeps the rest."""

    def __init__(self, status: dict[int, int]) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.status = status
        self.received = bytearray()
        self.cond = threading.Condition()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        pending = bytearray()
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                pending += os.read(self.master, 4096)
            except OSError:
                return
            while len(pending) >= 3 and b"\x10\x04" in pending:
                i = pending.index(b"\x10\x04")
                if len(pending) < i + 3:
                    break
                with self.cond:
                    self.received += pending[:i]
                os.write(self.master, bytes([self.status.get(pending[i + 2], 0x12)]))
                del pending[:i + 3]
            if b"\x10" not in pending[-2:]:
                with self.cond:
                    self.received += pending
                    self.cond.notify_all()
                pending.clear()

    def wait_for(self, data: bytes, timeout: float = 5.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: data in self.received, timeout)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        os.close(self.master)
        os.close(self.slave)


def test_serial_printer_over_a_pty():
    pty = PtyPrinter(dict(OK))
    printer = EscPosPrinter(SerialBackend(pty.path, 9600, io_timeout=1))
    try:
        assert printer.selftest()["ok"] is True
        printer.print_receipt(["串口打印机"])
        assert pty.wait_for("串口打印机".encode("gb18030"))
        pty.status = dict(PAPER_OUT)
        report = printer.selftest()
        assert report["ok"] is False and report["status"]["paper"] == "out"
    finally:
        printer.close()
        pty.close()


def test_serial_printer_missing_port(tmp_path: Path):
    printer = EscPosPrinter(SerialBackend(str(tmp_path / "ttyNOPE")))
    report = printer.selftest()
    assert report["ok"] is False and report["status"]["problems"] == ["printer_unreachable"]
