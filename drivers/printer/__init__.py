"""ESC/POS receipt printing: a byte builder, transports (file, serial, network, USB) and the printer."""

from drivers.printer.backends import (
    Backend,
    FileBackend,
    NetworkBackend,
    PrinterError,
    PrinterStatus,
    SerialBackend,
    UsbLpBackend,
    parse_status,
)
from drivers.printer.escpos import Receipt, display_width, qr_commands, render_text
from drivers.printer.printer import EscPosPrinter

__all__ = [
    "Backend",
    "EscPosPrinter",
    "FileBackend",
    "NetworkBackend",
    "PrinterError",
    "PrinterStatus",
    "Receipt",
    "SerialBackend",
    "UsbLpBackend",
    "display_width",
    "parse_status",
    "qr_commands",
    "render_text",
]
