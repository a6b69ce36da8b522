"""Frames and status codes of the second-generation ID card reader's serial protocol.

Frame: preamble ``AA AA AA 96 69``, 2-byte big-endian length (bytes after it, checksum included),
then command + parameter + data (request) or SW1 SW2 SW3 + data (response), then a checksum: the XOR
of every byte after the preamble except the checksum itself.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

PREAMBLE = bytes.fromhex("AAAAAA9669")
HEADER_LEN = len(PREAMBLE) + 2
MIN_LENGTH = 3  # command, parameter, checksum: the shortest frame
MAX_LENGTH = 2560  # the longest reply (text + photo + fingerprint) is about 2,320
TEXT_LEN = 256
PHOTO_LEN = 1024


# --------------------------------------------------------------------------- errors


class IdCardError(Exception):
    """Base of every ID card driver error. ``code`` is short, stable and free of personal data."""

    code = "idcard"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class FrameError(IdCardError):
    """A frame that cannot be used; the decoder has already skipped it."""

    code = "frame"


class FrameChecksumError(FrameError):
    code = "frame-checksum"

    def __init__(self) -> None:
        super().__init__("帧校验和错误 / frame checksum mismatch")


class FrameLengthError(FrameError):
    code = "frame-length"

    def __init__(self, length: int) -> None:
        super().__init__(f"帧长度不可能 / impossible frame length {length}")


class FrameTruncatedError(FrameError):
    code = "frame-truncated"

    def __init__(self) -> None:
        super().__init__("帧不完整（超时） / frame truncated (timed out mid-frame)")


class FrameFormatError(FrameError):
    code = "frame-format"

    def __init__(self, what: str) -> None:
        super().__init__(f"帧内容格式错误 / malformed frame content: {what}")


# SW3 -> (Chinese, English). 0x90 and 0x9F are successes.
STATUS_TEXT: dict[int, tuple[str, str]] = {
    0x90: ("操作成功", "success"),
    0x9F: ("找到身份证", "card found"),
    0x10: ("机具收到的数据校验和错误", "reader received a frame with a bad checksum"),
    0x11: ("机具收到的数据长度错误", "reader received a frame with a bad length"),
    0x21: ("命令错误（参数或顺序不对）", "command error (bad parameter or order)"),
    0x24: ("无法识别的错误", "unrecognised error"),
    0x31: ("证卡认证机具失败", "card failed to authenticate the reader"),
    0x32: ("机具认证证卡失败", "reader failed to authenticate the card"),
    0x33: ("信息验证错误", "information verification error"),
    0x40: ("无法识别的卡类型（不是二代身份证）", "unrecognised card type (not a resident ID card)"),
    0x41: ("读卡操作失败", "reading the card failed"),
    0x47: ("取随机数失败", "getting the random number failed"),
    0x60: ("SAM模块自检失败，不能接收命令", "SAM self-test failed; reader cannot take commands"),
    0x66: ("SAM模块未经授权，无法使用", "SAM not authorised; reader cannot be used"),
    0x80: ("找卡失败（没有身份证）", "no card found"),
    0x81: ("选卡失败", "card selection failed"),
}
SUCCESS = frozenset({0x90, 0x9F})


class ReaderStatusError(IdCardError):
    """The reader answered with an error status (SW3)."""

    sw3 = 0x00

    def __init__(self, sw3: int | None = None) -> None:
        if sw3 is not None:
            self.sw3 = sw3
        zh, en = STATUS_TEXT.get(self.sw3, ("未知状态", "unknown status"))
        self.zh, self.en = zh, en
        super().__init__(f"{zh} / {en} (SW3={self.sw3:02X})", code=f"sw3-{self.sw3:02x}")


class ReaderChecksumError(ReaderStatusError):
    sw3 = 0x10


class ReaderLengthError(ReaderStatusError):
    sw3 = 0x11


class ReaderCommandError(ReaderStatusError):
    sw3 = 0x21


class ReaderUnrecognisedError(ReaderStatusError):
    sw3 = 0x24


class CardAuthenticationError(ReaderStatusError):
    """SW3 31 (card rejected the reader) or 32 (reader rejected the card)."""

    sw3 = 0x31


class CardVerificationError(ReaderStatusError):
    sw3 = 0x33


class WrongCardError(ReaderStatusError):
    sw3 = 0x40


class CardReadFailedError(ReaderStatusError):
    sw3 = 0x41


class RandomNumberError(ReaderStatusError):
    sw3 = 0x47


class SelfTestFailedError(ReaderStatusError):
    sw3 = 0x60


class NotAuthorisedError(ReaderStatusError):
    sw3 = 0x66


class CardNotFoundError(ReaderStatusError):
    sw3 = 0x80


class CardSelectError(ReaderStatusError):
    sw3 = 0x81


class UnknownStatusError(ReaderStatusError):
    """An SW3 that is not in the table."""


STATUS_ERRORS: dict[int, type[ReaderStatusError]] = {
    0x10: ReaderChecksumError,
    0x11: ReaderLengthError,
    0x21: ReaderCommandError,
    0x24: ReaderUnrecognisedError,
    0x31: CardAuthenticationError,
    0x32: CardAuthenticationError,
    0x33: CardVerificationError,
    0x40: WrongCardError,
    0x41: CardReadFailedError,
    0x47: RandomNumberError,
    0x60: SelfTestFailedError,
    0x66: NotAuthorisedError,
    0x80: CardNotFoundError,
    0x81: CardSelectError,
}


def status_error(sw3: int) -> ReaderStatusError | None:
    """The error for an SW3 status, or None for a success status."""
    if sw3 in SUCCESS:
        return None
    return STATUS_ERRORS.get(sw3, UnknownStatusError)(sw3)


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class Command:
    code: int
    param: int
    label: str


RESET = Command(0x10, 0xFF, "reset")
STATUS = Command(0x11, 0xFF, "status")
SAM_ID = Command(0x12, 0xFF, "sam-id")
FIND_CARD = Command(0x20, 0x01, "find-card")
SELECT_CARD = Command(0x20, 0x02, "select-card")
READ_BASE = Command(0x30, 0x01, "read-base")
READ_FULL = Command(0x30, 0x10, "read-full")
ALL_COMMANDS = (RESET, STATUS, SAM_ID, FIND_CARD, SELECT_CARD, READ_BASE, READ_FULL)
COMMANDS = {(c.code, c.param): c for c in ALL_COMMANDS}


def checksum(data: bytes | bytearray) -> int:
    """XOR of all bytes."""
    x = 0
    for b in data:
        x ^= b
    return x


def encode_frame(payload: bytes) -> bytes:
    """Wrap a payload (command+param+data or SW1..SW3+data) into a whole frame."""
    body = struct.pack(">H", len(payload) + 1) + payload
    return PREAMBLE + body + bytes([checksum(body)])


def encode_request(cmd: Command, data: bytes = b"") -> bytes:
    return encode_frame(bytes([cmd.code, cmd.param]) + data)


def encode_response(sw3: int, data: bytes = b"", sw1: int = 0, sw2: int = 0) -> bytes:
    return encode_frame(bytes([sw1, sw2, sw3]) + data)


@dataclass(frozen=True)
class Frame:
    """The payload of one checked frame (between length and checksum)."""

    payload: bytes = field(repr=False)


@dataclass(frozen=True)
class Request:
    code: int
    param: int
    data: bytes = field(default=b"", repr=False)

    @classmethod
    def from_frame(cls, frame: Frame) -> Request:
        p = frame.payload
        if len(p) < 2:
            raise FrameFormatError("request shorter than command+parameter")
        return cls(p[0], p[1], p[2:])

    @property
    def command(self) -> Command | None:
        return COMMANDS.get((self.code, self.param))


@dataclass(frozen=True)
class Response:
    sw1: int
    sw2: int
    sw3: int
    data: bytes = field(default=b"", repr=False)

    @classmethod
    def from_frame(cls, frame: Frame) -> Response:
        p = frame.payload
        if len(p) < 3:
            raise FrameFormatError("response shorter than SW1 SW2 SW3")
        return cls(p[0], p[1], p[2], p[3:])

    @property
    def ok(self) -> bool:
        return self.sw3 in SUCCESS

    def raise_for_status(self) -> Response:
        err = status_error(self.sw3)
        if err is not None:
            raise err
        return self


def build_base_info(text: bytes, photo: bytes, fingerprint: bytes | None = None) -> bytes:
    """Data of a read-base-info (or, with ``fingerprint``, read-full) reply."""
    if fingerprint is None:
        return struct.pack(">HH", len(text), len(photo)) + text + photo
    return struct.pack(">HHH", len(text), len(photo), len(fingerprint)) + text + photo + fingerprint


def split_base_info(data: bytes) -> tuple[bytes, bytes]:
    """(text block, opaque WLT photo) from a read-base-info reply's data."""
    if len(data) < 4:
        raise FrameFormatError("base info shorter than its length fields")
    text_len, photo_len = struct.unpack(">HH", data[:4])
    if text_len != TEXT_LEN or len(data) != 4 + text_len + photo_len:
        raise FrameFormatError("base info lengths do not add up")
    return data[4 : 4 + text_len], data[4 + text_len :]


# --------------------------------------------------------------------------- decoder


class FrameDecoder:
    """Incremental decoder: ``feed(bytes) -> list[Frame]``.

    Skips garbage up to the next preamble. A bad checksum or impossible length raises
    :class:`FrameChecksumError` / :class:`FrameLengthError` after skipping that preamble, so the
    decoder is already resynchronised; frames decoded before the error in the same call come back
    from the next ``feed`` (``feed(b"")`` collects them). Nothing else is raised.
    """

    def __init__(self, max_length: int = MAX_LENGTH) -> None:
        self._buf = bytearray()
        self._pending: list[Frame] = []
        self._max = max_length

    @property
    def mid_frame(self) -> bool:
        """True when a preamble has been seen and the rest of its frame is awaited."""
        return self._buf.startswith(PREAMBLE)

    def reset(self) -> None:
        self._buf.clear()
        self._pending.clear()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames, self._pending = self._pending, []
        while True:
            start = self._buf.find(PREAMBLE)
            if start < 0:
                self._keep_preamble_prefix()
                return frames
            del self._buf[:start]
            if len(self._buf) < HEADER_LEN:
                return frames
            length = (self._buf[5] << 8) | self._buf[6]
            if not MIN_LENGTH <= length <= self._max:
                del self._buf[:1]
                self._pending = frames
                raise FrameLengthError(length)
            end = HEADER_LEN + length
            if len(self._buf) < end:
                return frames
            if checksum(self._buf[len(PREAMBLE) : end - 1]) != self._buf[end - 1]:
                del self._buf[:1]
                self._pending = frames
                raise FrameChecksumError()
            frames.append(Frame(bytes(self._buf[HEADER_LEN : end - 1])))
            del self._buf[:end]

    def _keep_preamble_prefix(self) -> None:
        """Drop garbage but keep a tail that could be the start of a preamble."""
        for n in range(min(len(PREAMBLE) - 1, len(self._buf)), 0, -1):
            if self._buf.endswith(PREAMBLE[:n]):
                del self._buf[:-n]
                return
        self._buf.clear()
