"""A resident ID card reader simulator speaking the real serial protocol on a pseudo-terminal.

Open ``sim.port`` with pyserial (or SerialIdCardReader). Script it with ``place_card``/``remove_card``
and inject faults with ``inject`` (framing faults) and ``inject_status`` (SW3 error answers).
Run ``python -m drivers.idcard.simulator`` to get a pty path for manual use.
"""

from __future__ import annotations

import argparse
import collections
import enum
import os
import select
import sys
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path

import cv2

from drivers.idcard.photo import sim_wlt
from drivers.idcard.protocol import (
    FIND_CARD,
    READ_BASE,
    READ_FULL,
    RESET,
    SAM_ID,
    SELECT_CARD,
    STATUS,
    Command,
    FrameChecksumError,
    FrameDecoder,
    FrameError,
    FrameLengthError,
    Request,
    build_base_info,
    encode_response,
)
from drivers.idcard.textblock import build_text_block
from drivers.interfaces import IdentityRecord

# Fictional data; the number is the standard's own example.
SAMPLE_RECORD = IdentityRecord(
    name="王小芳",
    id_number="11010519491231002X",
    sex="女",
    nation="汉",
    birth_date="19491231",
    address="北京市朝阳区示例路1号",
    authority="北京市公安局朝阳分局",
    valid_from="20200101",
    valid_to="长期",
)


def _default_photo() -> bytes:
    """The card holder's photo as the simulator's stand-in for WLT (drivers/idcard/photo.py): a real face
    (drivers/data/sim_card_face.png, from the ORL face database, tests/data/faces/README.md)."""
    image = cv2.imread(str(Path(__file__).resolve().parent.parent / "data" / "sim_card_face.png"), cv2.IMREAD_COLOR)
    if image is None:  # pragma: no cover - the file ships with the package
        raise RuntimeError("drivers/data/sim_card_face.png is missing")
    return sim_wlt(image)


DEFAULT_PHOTO = _default_photo()
DEFAULT_SAM_ID = bytes.fromhex("0500010090cb32010a0b0c0d01020304")
GARBAGE = b"\x00\xffnoise\x96\x69\xaa\xaa\xaa\x96"  # ends in a partial preamble


class Fault(enum.Enum):
    GARBAGE = "garbage"  # noise bytes before the reply
    BAD_CHECKSUM = "bad-checksum"  # reply with its checksum flipped
    TRUNCATED = "truncated"  # first half of the reply, then nothing
    SILENT = "silent"  # no reply at all
    PULL_CARD = "pull-card"  # card lifted halfway through sending the reply


@dataclass
class _Rule:
    action: Fault | int  # an int answers with that SW3 instead of the normal reply
    on: Command | None
    times: int | None  # None: until clear_faults()


class IdCardSimulator:
    """Thread-backed reader on a pty; use as a context manager or call start()/stop()."""

    def __init__(self, *, halt_after_read: bool = True, sam_id: bytes = DEFAULT_SAM_ID) -> None:
        self.halt_after_read = halt_after_read
        self._sam_id = sam_id
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._cond = threading.Condition()
        self._rules: list[_Rule] = []
        self._counts: collections.Counter[str] = collections.Counter()
        self._text: bytes | None = None
        self._photo = DEFAULT_PHOTO
        self._found = self._selected = self._halted = False
        self._lifted_unseen = False  # a card was lifted and the reader has not yet been told "no card"
        self._thread = threading.Thread(target=self._run, name="idcard-sim", daemon=True)
        self._stopped = False

    # ------------------------------------------------------------------ scripting

    def start(self) -> IdCardSimulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        os.write(self._wake_w, b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            os.close(fd)

    def __enter__(self) -> IdCardSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def place_card(self, record: IdentityRecord, photo: bytes = DEFAULT_PHOTO, *, settle_s: float = 3.0) -> None:
        """Put a card on the reader. A card just lifted stays off until the reader has asked for a card and
        been told "no card" (at most ``settle_s``): a hand cannot lift and put back a card within one poll, and
        a reader reports a card once until it sees the slot empty, so a card put back unseen would rightly
        count as the same card still lying there."""
        text = build_text_block(record)
        with self._cond:
            self._cond.wait_for(lambda: not self._lifted_unseen, settle_s)
            self._lifted_unseen = False
            self._text, self._photo = text, photo
            self._found = self._selected = self._halted = False

    def remove_card(self) -> None:
        with self._cond:
            self._lifted_unseen = self._text is not None
            self._text = None
            self._found = self._selected = self._halted = False

    @property
    def card_present(self) -> bool:
        with self._cond:
            return self._text is not None

    def inject(self, fault: Fault, *, on: Command | None = None, times: int | None = 1) -> None:
        """Apply ``fault`` to the next ``times`` replies to ``on`` (any command if None)."""
        with self._cond:
            self._rules.append(_Rule(fault, on, times))

    def inject_status(self, sw3: int, *, on: Command | None = None, times: int | None = 1) -> None:
        """Answer the next ``times`` ``on`` requests with status ``sw3`` and no data."""
        with self._cond:
            self._rules.append(_Rule(sw3, on, times))

    def clear_faults(self) -> None:
        with self._cond:
            self._rules.clear()

    def count(self, cmd: Command) -> int:
        """How many requests for ``cmd`` have been handled (answered or dropped by a fault)."""
        with self._cond:
            return self._counts[cmd.label]

    def wait_for(self, cmd: Command, count: int, timeout: float = 5.0) -> bool:
        """Block until ``count`` requests for ``cmd`` have been handled."""
        with self._cond:
            return self._cond.wait_for(lambda: self._counts[cmd.label] >= count, timeout)

    # ------------------------------------------------------------------ the reader

    def _run(self) -> None:
        decoder = FrameDecoder()
        while True:
            readable, _, _ = select.select([self._master, self._wake_r], [], [])
            if self._wake_r in readable:
                return
            try:
                data = os.read(self._master, 4096)
            except BlockingIOError:
                continue
            except OSError:
                return
            for item in _drain(decoder, data):
                if isinstance(item, FrameChecksumError):
                    self._send(encode_response(0x10))
                elif isinstance(item, FrameLengthError):
                    self._send(encode_response(0x11))
                elif isinstance(item, Request):
                    self._handle(item)

    def _handle(self, req: Request) -> None:
        cmd = req.command
        with self._cond:
            rule = self._take_rule(cmd)
            if isinstance(rule, int):
                reply = encode_response(rule)
            elif rule is Fault.SILENT:
                reply = b""
            elif rule in (Fault.BAD_CHECKSUM, Fault.TRUNCATED):
                # the line failed, not the card: the reader keeps its state and can answer again
                state = (self._found, self._selected, self._halted)
                reply = self._answer(cmd)
                self._found, self._selected, self._halted = state
            else:
                reply = self._answer(cmd)
            if rule is Fault.GARBAGE:
                reply = GARBAGE + reply
            elif rule is Fault.BAD_CHECKSUM:
                reply = reply[:-1] + bytes([reply[-1] ^ 0xFF])
            elif rule in (Fault.TRUNCATED, Fault.PULL_CARD):
                reply = reply[: len(reply) // 2]
            if rule is Fault.PULL_CARD:
                self._text = None
                self._found = self._selected = self._halted = False
            self._counts[cmd.label if cmd else "unknown"] += 1
            self._cond.notify_all()
        self._send(reply)

    def _take_rule(self, cmd: Command | None) -> Fault | int | None:
        for rule in self._rules:
            if rule.on is None or rule.on == cmd:
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                return rule.action
        return None

    def _answer(self, cmd: Command | None) -> bytes:
        present = self._text is not None and not self._halted
        if cmd in (STATUS, RESET):
            self._found = self._selected = False
            return encode_response(0x90)
        if cmd == SAM_ID:
            return encode_response(0x90, self._sam_id)
        if cmd == FIND_CARD:
            self._found = present
            self._lifted_unseen = self._lifted_unseen and present
            return encode_response(0x9F, bytes(4)) if present else encode_response(0x80)
        if cmd == SELECT_CARD:
            self._selected = present and self._found
            return encode_response(0x90, bytes(8)) if self._selected else encode_response(0x81)
        if cmd in (READ_BASE, READ_FULL) and self._selected and self._text is not None:
            fingerprint = b"" if cmd == READ_FULL else None
            data = build_base_info(self._text, self._photo, fingerprint)
            self._found = self._selected = False
            self._halted = self.halt_after_read
            return encode_response(0x90, data)
        if cmd in (READ_BASE, READ_FULL):
            return encode_response(0x41)
        return encode_response(0x21)

    def _send(self, data: bytes) -> None:
        deadline = time.monotonic() + 2.0
        view = memoryview(data)
        while view and time.monotonic() < deadline:
            _, writable, _ = select.select([self._wake_r], [self._master], [], 0.1)
            if writable:
                try:
                    view = view[os.write(self._master, view) :]
                except BlockingIOError:
                    continue


def _drain(decoder: FrameDecoder, data: bytes) -> list[Request | FrameError]:
    """Everything ``data`` completes, in arrival order as far as the decoder tells."""
    items: list[Request | FrameError] = []
    chunk = data
    while True:
        try:
            frames = decoder.feed(chunk)
        except FrameError as exc:
            items.append(exc)
            chunk = b""
            continue
        for frame in frames:
            try:
                items.append(Request.from_frame(frame))
            except FrameError as exc:
                items.append(exc)
        return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ID card reader simulator on a pseudo-terminal")
    parser.add_argument("--no-card", action="store_true", help="start with no card on the reader")
    parser.add_argument("--no-halt", action="store_true", help="keep answering finds after a read")
    args = parser.parse_args(argv)
    with IdCardSimulator(halt_after_read=not args.no_halt) as sim:
        if not args.no_card:
            sim.place_card(SAMPLE_RECORD)
        print(sim.port, flush=True)
        print("commands: place | remove | quit", file=sys.stderr, flush=True)
        try:
            for line in sys.stdin:
                word = line.strip().lower()
                if word == "place":
                    sim.place_card(SAMPLE_RECORD)
                elif word == "remove":
                    sim.remove_card()
                elif word in ("quit", "exit"):
                    break
            else:
                threading.Event().wait()  # stdin closed: serve until interrupted
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
