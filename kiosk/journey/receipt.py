"""The printed receipt (受理回执) of a submission, in the resident's language (kiosk.journey.receipt_layout)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kiosk.journey.materials_vm import RONGQUE_WORKING_DAYS, rongque_deadline
from kiosk.journey.receipt_layout import ReceiptContent, compose
from kiosk.journey.session_service import JourneySession
from sync.outbox.store import Receipt
from sync.protocol.masking import mask_name

log = logging.getLogger("kiosk.journey")


def masked_applicant(js: JourneySession) -> str:
    """The applicant's name, masked (first character), from the form or the identity read; "" if none."""
    for f in js.item.fields:
        if f.kind == "name" and js.data.values.get(f.id, "").strip():
            return mask_name(js.data.values[f.id])
    identity = js.data.identity
    return mask_name(identity.name) if identity is not None and identity.name else ""


def content(js: JourneySession, receipt: Receipt) -> ReceiptContent:
    lang = js.lang
    details = js.receipt_details
    to_bring = tuple(details.get("rongque_en" if lang == "en" else "rongque", ()))
    item = js.item
    if item.time_limit_days == 0:
        time_limit = "即办（当场办结）" if lang == "zh" else "on the spot"
    else:
        time_limit = (f"{item.time_limit_days}个工作日" if lang == "zh"
                      else f"{item.time_limit_days} working days")
    device = js.submitter.device
    return ReceiptContent(
        lang=lang, receipt_no=receipt.receipt_no, created_at=receipt.created_at,
        item_name=item.name_en if lang == "en" else item.name_zh,
        site=js.config.site_name or (device.site if device is not None else ""),
        applicant=str(details.get("applicant", "")), online=js.submitted_online,
        time_limit=time_limit, to_bring=to_bring,
        bring_by=rongque_deadline(None) if to_bring else None, bring_days=RONGQUE_WORKING_DAYS,
        hotline=js.config.hotline)


def print_receipt(js: JourneySession, receipt: Receipt, done: Callable[[str], None]) -> None:
    """Print the receipt if the kiosk has a printer; ``done("printed" | "failed")`` on the UI thread."""
    hw = js.hw
    if hw is None or not hw.has_printer:
        return
    layout = compose(content(js, receipt))

    def printed(result: Any) -> None:
        if result is not True:
            log.warning("receipt not printed: %s", getattr(result, "code", type(result).__name__))
        done("printed" if result is True else "failed")

    hw.print_receipt(layout.lines, layout.qr, layout.title, printed, footer=layout.footer)
