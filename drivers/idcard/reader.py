"""SerialIdCardReader: the IdCardReader protocol over a serial-port SAM reader (pyserial)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import termios
import threading
import time
from dataclasses import dataclass
from typing import Any

import serial

from drivers.health import Health
from drivers.idcard.photo import PhotoDecoder
from drivers.idcard.protocol import (
    FIND_CARD,
    READ_BASE,
    SAM_ID,
    SELECT_CARD,
    STATUS,
    CardNotFoundError,
    CardReadFailedError,
    CardSelectError,
    Command,
    FrameDecoder,
    FrameError,
    FrameTruncatedError,
    IdCardError,
    NotAuthorisedError,
    RandomNumberError,
    ReaderChecksumError,
    ReaderLengthError,
    Response,
    SelfTestFailedError,
    encode_request,
    split_base_info,
)
from drivers.idcard.textblock import parse_text_block
from drivers.interfaces import IdentityRecord

log = logging.getLogger(__name__)


class ReaderTimeoutError(IdCardError):
    code = "no-response"

    def __init__(self) -> None:
        super().__init__("读卡器无应答，请检查连接和电源 / reader did not answer; check cable and power")


class ReaderIOError(IdCardError):
    """The serial port could not be opened, or failed during use."""

    code = "serial-io"


class CardRemovedError(IdCardError):
    code = "card-removed"

    def __init__(self) -> None:
        super().__init__("读卡时身份证被移开，请重新放置 / card was removed while reading; place it again")


# Retried by resending the same command: the line, not the card, went wrong.
_TRANSPORT_ERRORS = (FrameError, ReaderChecksumError, ReaderLengthError)
# Retried by checking the card is still there, then selecting and reading again.
_CARD_TRANSIENT = (
    *_TRANSPORT_ERRORS, CardSelectError, CardReadFailedError, CardNotFoundError, RandomNumberError,
)
# The reader itself is unusable until someone intervenes.
_FATAL = (ReaderTimeoutError, ReaderIOError, SelfTestFailedError, NotAuthorisedError)


@dataclass(frozen=True)
class ReaderTimeouts:
    """Seconds to wait for each reply, and between finds when no card is present."""

    command_s: float = 0.5
    read_s: float = 1.5  # 1,295 bytes take ~0.11 s at 115200 baud, plus the card's own time
    poll_s: float = 0.15


class SerialIdCardReader:
    """Find, select and read a resident ID card; never logs or raises with personal data.

    A card that has been reported is not reported again until it has been lifted (the reader said
    "no card"), whether or not the hardware itself halts the card after a read.
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        timeouts: ReaderTimeouts | None = None,
        retries: int = 2,
        name: str = "idcard",
        photo_decoder: PhotoDecoder | None = None,
    ) -> None:
        self.name = name
        self.health = Health(name)
        self.port = port
        self._baudrate = baudrate
        self._timeouts = timeouts or ReaderTimeouts()
        self._retries = retries
        self._photo_decoder = photo_decoder
        self._serial: serial.Serial | None = None
        self._decoder = FrameDecoder()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._digest_key = os.urandom(16)
        self._last_card: bytes | None = None  # keyed digest of the card last reported

    # ------------------------------------------------------------------ public

    def read_card(self, timeout_s: float = 5.0) -> IdentityRecord | None:
        """Wait up to ``timeout_s`` for a card not reported before; None when none came."""
        if self._closed.is_set():
            raise _closed_error()
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                with self._lock:
                    if self._closed.is_set():
                        return None
                    record = self._poll_once(deadline)
                if record is not None:
                    return record
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed.wait(min(self._timeouts.poll_s, remaining)):
                    return None
        except IdCardError as exc:
            self._note(exc)
            raise

    def selftest(self) -> dict[str, Any]:
        """Ask the reader for its status and SAM id."""
        report: dict[str, Any] = {"ok": False, "driver": self.name, "port": self.port}
        try:
            if self._closed.is_set():
                raise _closed_error()
            with self._lock:
                self._transact(STATUS, self._timeouts.command_s).raise_for_status()
                sam = self._transact(SAM_ID, self._timeouts.command_s).raise_for_status()
        except IdCardError as exc:
            self._note(exc, fatal=True)
            report["error"] = exc.code
            report["message"] = str(exc)
            return report
        self.health.ok()
        report.update(ok=True, sam_id=format_sam_id(sam.data))
        return report

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._close_port()

    # ------------------------------------------------------------------ card flow

    def _poll_once(self, deadline: float) -> IdentityRecord | None:
        if not self._find():
            self._last_card = None  # lifted: the same card may be reported again
            self.health.ok()
            return None
        record = self._select_and_read(deadline)
        self.health.ok()
        digest = self._digest(record)
        if digest == self._last_card:
            return None
        self._last_card = digest
        return record

    def _find(self) -> bool:
        resp = self._transact(FIND_CARD, self._timeouts.command_s)
        if resp.sw3 == 0x80:
            return False
        resp.raise_for_status()
        return True

    def _select_and_read(self, deadline: float) -> IdentityRecord:
        attempt = 0
        while True:
            try:
                self._transact(SELECT_CARD, self._timeouts.command_s).raise_for_status()
                resp = self._transact(READ_BASE, self._timeouts.read_s).raise_for_status()
                text, wlt = split_base_info(resp.data)
                record = parse_text_block(text)
                return self._with_photo(record, wlt)
            except _CARD_TRANSIENT as exc:
                attempt += 1
                log.info("idcard: read attempt %d failed: %s", attempt, exc.code)
                if not self._find():
                    raise CardRemovedError() from None
                if attempt > self._retries or time.monotonic() >= deadline:
                    raise

    # ------------------------------------------------------------------ transport

    def _transact(self, cmd: Command, timeout_s: float) -> Response:
        """Send ``cmd`` and return its reply, resending after line errors."""
        for attempt in range(self._retries + 1):
            try:
                resp = self._exchange(cmd, timeout_s)
                if resp.sw3 in (0x10, 0x11):
                    resp.raise_for_status()
                return resp
            except (*_TRANSPORT_ERRORS, ReaderTimeoutError) as exc:
                log.info("idcard: %s attempt %d: %s", cmd.label, attempt + 1, exc.code)
                if attempt == self._retries:
                    raise
        raise AssertionError("unreachable")

    def _exchange(self, cmd: Command, timeout_s: float) -> Response:
        port = self._open()
        try:
            port.reset_input_buffer()
            self._decoder.reset()
            port.write(encode_request(cmd))
            port.flush()
            deadline = time.monotonic() + timeout_s
            while (remaining := deadline - time.monotonic()) > 0:
                port.timeout = remaining
                chunk = port.read(max(1, port.in_waiting))
                frames = self._decoder.feed(chunk)
                if frames:
                    return Response.from_frame(frames[0])
        except (serial.SerialException, OSError, termios.error) as exc:
            self._close_port()
            raise ReaderIOError(f"串口读写失败 / serial I/O failed ({type(exc).__name__})") from None
        if self._decoder.mid_frame:
            raise FrameTruncatedError()
        raise ReaderTimeoutError()

    def _open(self) -> serial.Serial:
        if self._serial is None:
            try:
                self._serial = serial.Serial(
                    self.port, self._baudrate, bytesize=8, parity="N", stopbits=1,
                    timeout=self._timeouts.command_s, write_timeout=self._timeouts.command_s,
                )
            except (serial.SerialException, OSError, ValueError):
                raise ReaderIOError(
                    "无法打开读卡器串口 / cannot open the reader's serial port", code="serial-open"
                ) from None
        return self._serial

    def _close_port(self) -> None:
        if self._serial is not None:
            with contextlib.suppress(serial.SerialException, OSError, termios.error):
                self._serial.close()
            self._serial = None

    # ------------------------------------------------------------------ helpers

    def _with_photo(self, record: IdentityRecord, wlt: bytes) -> IdentityRecord:
        """The record with its photo decoded as the vendor's SDK would; without it when that fails."""
        if self._photo_decoder is None:
            return record
        try:
            bmp = self._photo_decoder.decode(wlt)
        except Exception:  # a vendor library must never lose the card's text
            log.warning("idcard: photo_decode_failed")
            bmp = None
        return dataclasses.replace(record, photo=bmp) if bmp else record

    def _digest(self, record: IdentityRecord) -> bytes:
        h = hashlib.blake2b(key=self._digest_key, digest_size=16)
        h.update("\x1f".join((record.id_number, record.name, record.valid_from)).encode())
        return h.digest()

    def _note(self, exc: IdCardError, *, fatal: bool = False) -> None:
        """Health and log by error code only."""
        if isinstance(exc, CardRemovedError):
            log.info("idcard: %s", exc.code)
            return
        if fatal or isinstance(exc, _FATAL):
            self.health.failed(exc.code)
        else:
            self.health.degraded(exc.code)
        log.warning("idcard: %s", exc.code)


def _closed_error() -> IdCardError:
    return IdCardError("读卡器已关闭 / reader is closed", code="closed")


def format_sam_id(data: bytes) -> str:
    """The 16-byte SAM id in the dotted/dashed decimal form readers' tools show, else hex."""
    if len(data) != 16:
        return data.hex()
    a, b = int.from_bytes(data[0:2], "little"), int.from_bytes(data[2:4], "little")
    c, d, e = (int.from_bytes(data[i : i + 4], "little") for i in (4, 8, 12))
    return f"{a:02d}.{b:02d}-{c:08d}-{d:010d}-{e:010d}"
