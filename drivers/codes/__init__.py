"""Code decoding: engines (zxing-cpp, pyzbar, OpenCV), charset decisions, the production pipeline,
payload parsing and a degraded test-set generator. No Qt here."""

from drivers.codes.payloads import (
    EIdToken,
    ELicenceRef,
    PayloadError,
    ProvisioningToken,
    ReceiptNumber,
    make_receipt_number,
    parse_payload,
)
from drivers.codes.pipeline import LIVE, STILL, Debouncer, DecodePipeline

__all__ = [
    "LIVE",
    "STILL",
    "Debouncer",
    "DecodePipeline",
    "EIdToken",
    "ELicenceRef",
    "PayloadError",
    "ProvisioningToken",
    "ReceiptNumber",
    "make_receipt_number",
    "parse_payload",
]
