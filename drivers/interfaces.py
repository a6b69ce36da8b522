"""Small protocols the kiosk programs against; real drivers and simulators both implement them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from drivers.health import Health


@runtime_checkable
class Driver(Protocol):
    """Every driver has a name, a health record and a self-test."""

    name: str
    health: Health

    def selftest(self) -> dict[str, Any]:
        """Exercise the device briefly; return a JSON-able report with at least ``ok: bool``."""
        ...

    def close(self) -> None: ...


class FrameSource(Driver, Protocol):
    """A camera: latest-frame semantics. ``latest()`` returns the newest BGR frame (numpy) or None."""

    def start(self) -> None: ...

    def latest(self) -> Any | None: ...


@dataclass(frozen=True)
class DecodedCode:
    format: str
    raw: bytes
    text: str | None  # decoded from ``raw``; None for binary payloads
    charset: str | None
    position: tuple[tuple[int, int], ...] | None = None


class CodeReader(Protocol):
    """Finds and decodes codes in one image (grayscale or BGR numpy array)."""

    def decode(self, image: Any) -> Sequence[DecodedCode]: ...


@dataclass(frozen=True)
class IdentityRecord:
    """What an ID document gave us. Personal data: never log, seal before disk, wipe after use."""

    name: str
    id_number: str
    sex: str  # "男" / "女"
    nation: str
    birth_date: str  # YYYYMMDD
    address: str
    authority: str = ""
    valid_from: str = ""
    valid_to: str = ""
    source: str = "chip"  # chip | camera | qr
    # The chip's photo as readers' SDKs hand it over (a 102 x 126 BMP, drivers/idcard/photo.py); None when the
    # reader has no decoder or the document has no chip. Left out of repr and equality.
    photo: bytes | None = field(default=None, repr=False, compare=False)


class IdCardReader(Driver, Protocol):
    def read_card(self, timeout_s: float = 5.0) -> IdentityRecord | None:
        """Wait up to ``timeout_s`` for a card; return its record, or None when no card came."""
        ...


class ReceiptPrinter(Driver, Protocol):
    def print_receipt(self, lines: Sequence[str], qr: str | None = None) -> None: ...
