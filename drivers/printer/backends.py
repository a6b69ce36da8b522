"""Where ESC/POS bytes go: a file, a serial port, a network printer (raw TCP 9100) or a USB lp device.
What a status reply means is ``drivers.printer.status``.

Bidirectional transports (serial, network) answer the real-time status query ``DLE EOT n``:

====  ===================  ==========================================================================
n     reply byte           bits we use (Epson ESC/POS; fixed bits: b0=0, b1=1, b4=1, b7=0)
====  ===================  ==========================================================================
1     printer status       b3 offline
2     offline cause        b2 cover open, b5 printing stopped by paper end, b6 error
3     error cause          b3 auto-cutter error, b5 unrecoverable error, b6 auto-recoverable error
4     roll paper sensor    b2|b3 paper near end, b5|b6 paper end
====  ===================  ==========================================================================

Error codes (what ``PrinterStatus.problems`` and driver health carry; never payloads):
``printer_unreachable`` (refused / no device), ``printer_no_reply`` (no answer to DLE EOT),
``printer_bad_reply``, ``printer_offline``, ``printer_cover_open``, ``printer_paper_out``,
``printer_paper_near_end`` (degraded only), ``printer_cutter_error``, ``printer_unrecoverable_error``,
``printer_recoverable_error`` (degraded), ``printer_write_failed``, ``printer_write_timeout``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

from drivers.printer.escpos import DEFAULT_WIDTH_CHARS, EscPosParseError, render_text
from drivers.printer.status import PrinterStatus, parse_status

DLE_EOT = b"\x10\x04"


class PrinterError(Exception):
    """A print or status operation failed; ``code`` is one of the module's error codes."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


class Backend:
    """Base class of the transports. ``send`` raises :class:`PrinterError`; ``status`` never raises."""

    kind = "backend"
    bidirectional = False

    def send(self, data: bytes) -> None:
        raise NotImplementedError

    def status(self) -> PrinterStatus:
        return PrinterStatus(reachable=True)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "bidirectional": self.bidirectional}

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# File (tests, demo)
# ---------------------------------------------------------------------------------------------

class FileBackend(Backend):
    """Appends each job's raw bytes to ``path`` and, if ``text_path`` is set, a plain-text rendering.

    For the demo and UI tests the simulated condition can be changed with :meth:`simulate`
    (e.g. ``simulate(paper="out")``): ``status()`` then reports it like a real printer would.
    """

    kind = "file"

    def __init__(self, path: str | os.PathLike[str], text_path: str | os.PathLike[str] | None = None,
                 *, encoding: str = "gb18030", width_chars: int = DEFAULT_WIDTH_CHARS) -> None:
        self.path = Path(path)
        self.text_path = Path(text_path) if text_path is not None else None
        self.encoding = encoding
        self.width_chars = width_chars
        self.jobs = 0
        self._sim: dict[int, int] = {1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12}
        self._lock = threading.Lock()

    def simulate(self, *, paper: str = "ok", online: bool = True, cover_open: bool = False) -> None:
        """Set the simulated printer condition: paper ``ok`` | ``near_end`` | ``out``."""
        if paper not in ("ok", "near_end", "out"):
            raise ValueError("paper must be ok, near_end or out")
        with self._lock:
            s2 = 0x12 | (0x04 if cover_open else 0) | (0x20 if paper == "out" else 0)
            s4 = 0x12 | (0x60 if paper == "out" else 0) | (0x0C if paper == "near_end" else 0)
            offline = (not online) or cover_open or paper == "out"
            self._sim = {1: 0x12 | (0x08 if offline else 0), 2: s2, 3: 0x12, 4: s4}

    def send(self, data: bytes) -> None:
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("ab") as f:
                    f.write(data)
                if self.text_path is not None:
                    try:
                        text = render_text(data, self.encoding, self.width_chars)
                    except EscPosParseError as exc:
                        text = f"[unrenderable ESC/POS: {exc}]\n"
                    self.text_path.parent.mkdir(parents=True, exist_ok=True)
                    with self.text_path.open("a", encoding="utf-8") as f:
                        f.write(text)
            except OSError as exc:
                raise PrinterError("printer_write_failed", type(exc).__name__) from exc
            self.jobs += 1

    def status(self) -> PrinterStatus:
        parent = self.path.parent
        probe = parent if parent.exists() else next((p for p in parent.parents if p.exists()), Path("/"))
        if not os.access(probe, os.W_OK):
            return PrinterStatus(reachable=False, problems=["printer_unreachable"])
        with self._lock:
            replies = dict(self._sim)
        return parse_status(replies)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": str(self.path), "jobs": self.jobs}


# ---------------------------------------------------------------------------------------------
# Bidirectional streams: network (raw 9100) and serial
# ---------------------------------------------------------------------------------------------

class _Stream:
    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read1(self, timeout: float) -> int | None:
        raise NotImplementedError

    def drain_input(self) -> None:
        pass

    def close(self) -> None:
        pass


class _StreamBackend(Backend):
    bidirectional = True
    status_ns: tuple[int, ...] = (1, 2, 3, 4)

    def __init__(self, io_timeout: float) -> None:
        self.io_timeout = io_timeout
        self._lock = threading.Lock()

    def _connect(self) -> _Stream:
        raise NotImplementedError

    def _release(self, stream: _Stream, broken: bool) -> None:
        stream.close()

    def send(self, data: bytes) -> None:
        with self._lock:
            stream = self._connect()
            broken = True
            try:
                stream.write(data)
                broken = False
            finally:
                self._release(stream, broken)

    def status(self) -> PrinterStatus:
        with self._lock:
            try:
                stream = self._connect()
            except PrinterError as exc:
                return PrinterStatus(reachable=False, problems=[exc.code])
            replies: dict[int, int] = {}
            broken = False
            try:
                stream.drain_input()
                for n in self.status_ns:
                    stream.write(DLE_EOT + bytes([n]))
                    byte = stream.read1(self.io_timeout)
                    if byte is None:
                        broken = True
                        return PrinterStatus(reachable=True, queried=True, raw=replies,
                                             problems=["printer_no_reply"])
                    replies[n] = byte
            except PrinterError as exc:
                broken = True
                return PrinterStatus(reachable=True, queried=True, raw=replies, problems=[exc.code])
            finally:
                self._release(stream, broken)
            return parse_status(replies)


class _SocketStream(_Stream):
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except TimeoutError as exc:
            raise PrinterError("printer_write_timeout") from exc
        except OSError as exc:
            raise PrinterError("printer_write_failed", type(exc).__name__) from exc

    def read1(self, timeout: float) -> int | None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1)
        except TimeoutError:
            return None
        except OSError as exc:
            raise PrinterError("printer_write_failed", type(exc).__name__) from exc
        if not data:
            raise PrinterError("printer_no_reply", "connection closed")
        return data[0]

    def drain_input(self) -> None:
        self.sock.setblocking(False)
        try:
            while self.sock.recv(256):
                pass
        except (BlockingIOError, OSError):
            pass
        finally:
            self.sock.setblocking(True)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
        # Closing with unread bytes (a printer's automatic status back) makes Linux send RST, and a
        # peer may then drop data it has not consumed yet: read what already arrived first.
        self.drain_input()
        self.sock.close()


class NetworkBackend(_StreamBackend):
    """A network printer on raw TCP (JetDirect, port 9100). One connection per job / status query."""

    kind = "network"

    def __init__(self, host: str, port: int = 9100, *, connect_timeout: float = 3.0,
                 io_timeout: float = 3.0) -> None:
        super().__init__(io_timeout)
        self.host = host
        self.port = int(port)
        self.connect_timeout = connect_timeout

    def _connect(self) -> _Stream:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except TimeoutError as exc:
            raise PrinterError("printer_unreachable", "connect timeout") from exc
        except OSError as exc:
            raise PrinterError("printer_unreachable", errno.errorcode.get(exc.errno or 0, "error")) from exc
        sock.settimeout(self.io_timeout)
        return _SocketStream(sock)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "host": self.host, "port": self.port}


class _SerialStream(_Stream):
    def __init__(self, ser: Any) -> None:
        self.ser = ser

    def write(self, data: bytes) -> None:
        import serial

        try:
            self.ser.write(data)
            self.ser.flush()
        except serial.SerialTimeoutException as exc:
            raise PrinterError("printer_write_timeout") from exc
        except (serial.SerialException, OSError) as exc:
            raise PrinterError("printer_write_failed", type(exc).__name__) from exc

    def read1(self, timeout: float) -> int | None:
        import serial

        try:
            self.ser.timeout = timeout
            data = self.ser.read(1)
        except (serial.SerialException, OSError) as exc:
            raise PrinterError("printer_write_failed", type(exc).__name__) from exc
        return data[0] if data else None

    def drain_input(self) -> None:
        with contextlib.suppress(Exception):
            self.ser.reset_input_buffer()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ser.close()


class SerialBackend(_StreamBackend):
    """A serial (RS-232 / USB-serial) printer, kept open between jobs and reopened after an error.

    A serial port exists even when the printer is switched off; no reply to ``DLE EOT`` then reports
    ``printer_no_reply``.
    """

    kind = "serial"

    def __init__(self, port: str, baudrate: int = 9600, *, io_timeout: float = 2.0,
                 rtscts: bool = False, dsrdtr: bool = False, xonxoff: bool = False) -> None:
        super().__init__(io_timeout)
        self.port = port
        self.baudrate = int(baudrate)
        self.flow = {"rtscts": rtscts, "dsrdtr": dsrdtr, "xonxoff": xonxoff}
        self._stream: _SerialStream | None = None

    def _connect(self) -> _Stream:
        if self._stream is not None:
            return self._stream
        import serial

        try:
            ser = serial.Serial(self.port, self.baudrate, timeout=self.io_timeout,
                                write_timeout=max(self.io_timeout, 5.0), **self.flow)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PrinterError("printer_unreachable", type(exc).__name__) from exc
        self._stream = _SerialStream(ser)
        return self._stream

    def _release(self, stream: _Stream, broken: bool) -> None:
        if broken:
            stream.close()
            self._stream = None

    def close(self) -> None:
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "port": self.port, "baudrate": self.baudrate}


# ---------------------------------------------------------------------------------------------
# USB printer class device (usblp): /dev/usb/lp0
# ---------------------------------------------------------------------------------------------

LPGETSTATUS = 0x060B  # linux/lp.h
LP_POUTPA = 0x20  # paper out
LP_PSELECD = 0x10  # selected (online)
LP_PERRORP = 0x08  # no error (active low)


class UsbLpBackend(Backend):
    """A USB printer through the kernel's usblp driver, written as a file (write-only for ESC/POS).

    Status comes from the driver's ``LPGETSTATUS`` ioctl where it works (the printer class
    GET_PORT_STATUS: paper empty, selected, error); otherwise only "the device node exists".
    """

    kind = "usb"

    def __init__(self, path: str | os.PathLike[str] = "/dev/usb/lp0", *, write_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.write_timeout = write_timeout
        self._lock = threading.Lock()

    def send(self, data: bytes) -> None:
        with self._lock:
            try:
                flags = os.O_WRONLY | os.O_NONBLOCK
                if self.path.is_file():  # a plain file standing in for the device (tests)
                    flags |= os.O_APPEND
                fd = os.open(self.path, flags)
            except FileNotFoundError as exc:
                raise PrinterError("printer_unreachable", "no device") from exc
            except OSError as exc:
                raise PrinterError("printer_unreachable", type(exc).__name__) from exc
            try:
                view = memoryview(data)
                deadline = time.monotonic() + self.write_timeout
                while view:
                    try:
                        written = os.write(fd, view)
                        view = view[written:]
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise PrinterError("printer_write_timeout") from None
                        time.sleep(0.02)  # usblp has no poll for writability worth using here
            except OSError as exc:
                raise PrinterError("printer_write_failed", type(exc).__name__) from exc
            finally:
                os.close(fd)

    def status(self) -> PrinterStatus:
        if not self.path.exists():
            return PrinterStatus(reachable=False, problems=["printer_unreachable"])
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return PrinterStatus(reachable=False, problems=["printer_unreachable"])
        try:
            buf = bytearray(4)
            fcntl.ioctl(fd, LPGETSTATUS, buf)
        except OSError:
            return PrinterStatus(reachable=True)  # not a usblp device (or no status support)
        finally:
            os.close(fd)
        lp = struct.unpack("i", bytes(buf))[0]
        st = PrinterStatus(reachable=True, queried=True, online=bool(lp & LP_PSELECD),
                           paper="out" if lp & LP_POUTPA else "ok", raw={0: lp & 0xFF})
        if st.paper == "out":
            st.problems.append("printer_paper_out")
        if not st.online:
            st.problems.append("printer_offline")
        if not lp & LP_PERRORP and not st.problems:
            st.problems.append("printer_unrecoverable_error")
        return st

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": str(self.path)}
