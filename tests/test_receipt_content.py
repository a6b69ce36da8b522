"""The printed receipt (issue 14, finding 8): site, item, masked name, what is still to bring and by when,
the hotline and the status QR, in the resident's language, reaching the (simulated) printer in GB18030."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from drivers.printer.backends import FileBackend
from drivers.printer.escpos import CHINESE_ON, display_width, render_text
from drivers.printer.printer import EscPosPrinter
from kiosk.journey.receipt_layout import ReceiptContent, compose, wrap

RECEIPT_NO = "KS-20261205-A1B2-000042-7"
WHEN = dt.datetime(2026, 12, 5, 9, 30).timestamp()


def _print(tmp_path: Path, content: ReceiptContent) -> tuple[bytes, str]:
    backend = FileBackend(tmp_path / "printer.bin")
    printer = EscPosPrinter(backend)
    layout = compose(content)
    printer.print_receipt(layout.lines, layout.qr, title=layout.title, footer=layout.footer)
    raw = (tmp_path / "printer.bin").read_bytes()
    return raw, render_text(raw, "gb18030")


def _zh(**kw: object) -> ReceiptContent:
    base: dict[str, object] = dict(
        lang="zh", receipt_no=RECEIPT_NO, created_at=WHEN, item_name="居住证申领", site="东四街道便民服务中心",
        applicant="张三丰", online=True, time_limit="5个工作日", to_bring=("居住证明", "租房合同"),
        bring_by=dt.date(2026, 12, 12), bring_days=5, hotline="010-12345678")
    base.update(kw)
    return ReceiptContent(**base)  # type: ignore[arg-type]


def test_chinese_receipt_reaches_the_printer_in_gb18030_with_everything_the_resident_needs(tmp_path: Path) -> None:
    raw, text = _print(tmp_path, _zh())
    assert raw.startswith(b"\x1b@" + CHINESE_ON), "Chinese mode (FS &) before any text"
    assert "东四街道便民服务中心".encode("gb18030") in raw
    assert "东四街道".encode() not in raw, "not UTF-8: the printer's Chinese mode reads GB18030"
    assert "受理回执" in text
    assert "办理地点：东四街道便民服务中心" in text
    assert "办理事项：居住证申领" in text
    assert "申请人：张**" in text
    assert "张三丰" not in text and "三丰" not in text, "the full name is never printed"
    assert "受理编号：" in text
    assert any(line.strip() == RECEIPT_NO or line.endswith(RECEIPT_NO) for line in text.splitlines()), \
        "the receipt number on one line, never broken"
    assert "提交时间：2026-12-05 09:30" in text
    assert "正在提交" in text
    assert "承诺办理时限：5个工作日" in text
    assert "1. 居住证明" in text and "2. 租房合同" in text
    flat = text.replace("\n", "").replace(" ", "")
    assert "请于2026年12月12日前（5个工作日内）带原件到东四街道便民服务中心窗口补交" in flat
    assert "咨询电话：010-12345678" in text
    assert f"[QR] {RECEIPT_NO}" in text
    for line in text.splitlines():
        assert display_width(line) <= 32, f"wider than 58 mm paper: {line!r}"


def test_english_receipt_is_in_english(tmp_path: Path) -> None:
    content = _zh(lang="en", item_name="Residence permit application", site="Dongsi Service Centre",
                  applicant="Zhang Sanfeng", time_limit="5 working days",
                  to_bring=("Proof of residence",), online=False)
    _raw, printed = _print(tmp_path, content)
    text = " ".join(line.strip() for line in printed.splitlines() if line.strip())  # undo the wrapping
    assert "Receipt" in text
    assert "Service centre: Dongsi Service Centre" in text
    assert "Service: Residence permit application" in text
    assert "Applicant: Z" in text and "Zhang Sanfeng" not in text and "Sanfeng" not in text
    assert "offline" in text
    assert "1. Proof of residence" in text
    assert "by 12 Dec 2026 (5 working days)" in text
    assert "Hotline: 010-12345678" in text
    assert f"[QR] {RECEIPT_NO}" in text
    assert not any(0x4E00 <= ord(ch) <= 0x9FFF for ch in text), "no Chinese on an English receipt"


def test_nothing_to_bring_is_said_and_missing_site_or_hotline_do_not_leave_gaps(tmp_path: Path) -> None:
    _raw, text = _print(tmp_path, _zh(to_bring=(), bring_by=None, site="", hotline=""))
    assert "材料已齐全，无需补交" in text
    assert "办理地点：本街道便民服务中心" in text
    assert "咨询电话" not in text


def test_wrap_never_splits_a_wide_character_and_respects_words() -> None:
    lines = wrap("请于2026年12月12日前（5个工作日内）带原件到东四街道便民服务中心窗口补交。", 32)
    assert all(display_width(line) <= 32 for line in lines)
    assert "".join(lines) == "请于2026年12月12日前（5个工作日内）带原件到东四街道便民服务中心窗口补交。"
    en = wrap("Bring the originals to the counter at Dongsi Service Centre by 12 Dec 2026", 32)
    assert all(display_width(line) <= 32 for line in en)
    assert " ".join(en) == "Bring the originals to the counter at Dongsi Service Centre by 12 Dec 2026"
