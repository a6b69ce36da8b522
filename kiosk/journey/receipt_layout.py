"""What the printed receipt (受理回执) says, in the resident's language (issue 14, finding 8).

The site, the item, the masked name, the receipt number and time, the honest state of the submission, the
processing time, what is still to bring (容缺) and by when and where, the hotline, and the status QR (the
receipt number, which the kiosk's status screen reads back from the scanner). The printer driver
(``drivers.printer``) sends it in ESC/POS Chinese mode encoded GB18030; an English receipt is plain
ASCII in the same encoding. Lines are wrapped to the paper's width by display columns (a Chinese
character takes two), so a wide character is never split across lines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from drivers.printer.escpos import DEFAULT_WIDTH_CHARS, display_width
from kiosk.i18n import table
from sync.protocol.masking import mask_name


@dataclass(frozen=True)
class ReceiptContent:
    lang: str
    receipt_no: str
    created_at: float
    item_name: str
    site: str = ""
    applicant: str = ""  # the name (or its masked form: masking again changes nothing); printed masked
    online: bool = True
    time_limit: str = ""  # "5个工作日" / "5 working days"; "" = not stated
    to_bring: Sequence[str] = field(default_factory=tuple)  # 容缺 materials, in the resident's language
    bring_by: dt.date | None = None
    bring_days: int = 0
    hotline: str = ""


@dataclass(frozen=True)
class ReceiptLayout:
    title: str
    lines: list[str]
    qr: str
    footer: list[str]


def wrap(text: str, width: int = DEFAULT_WIDTH_CHARS, indent: str = "") -> list[str]:
    """Break ``text`` into lines of at most ``width`` display columns, at spaces where the text has them
    (English), anywhere between characters otherwise (Chinese); continuation lines get ``indent``."""
    out: list[str] = []
    line = ""
    for word in _words(text):
        candidate = line + word if line else word.lstrip()
        if display_width(candidate) <= width:
            line = candidate
            continue
        if line.strip():
            out.append(line.rstrip())
        line = indent + word.lstrip()
        while display_width(line) > width:  # a single word longer than a line
            cut = _fit(line, width)
            out.append(line[:cut])
            line = indent + line[cut:]
    if line.strip():
        out.append(line.rstrip())
    return out


def _words(text: str) -> list[str]:
    words: list[str] = []
    current = ""
    for ch in text:
        if display_width(ch) == 2:  # a wide character is a word of its own
            if current:
                words.append(current)
                current = ""
            words.append(ch)
        elif ch == " " and current and not current.endswith(" "):
            words.append(current)
            current = " "
        else:
            current += ch
    if current:
        words.append(current)
    return words


def _fit(text: str, width: int) -> int:
    used = 0
    for i, ch in enumerate(text):
        used += display_width(ch)
        if used > width:
            return max(1, i)
    return len(text)


_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def date_text(day: dt.date, lang: str) -> str:
    """A date as the resident reads it; English months spelt out here (strftime follows the process locale,
    which is zh_CN on a kiosk)."""
    if lang == "zh":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day:02d} {_MONTHS_EN[day.month - 1]} {day.year}"


def compose(c: ReceiptContent, width: int = DEFAULT_WIDTH_CHARS) -> ReceiptLayout:
    s = table(c.lang)
    colon = "：" if c.lang == "zh" else ": "
    site = c.site or s["rcSiteUnknown"]
    when = dt.datetime.fromtimestamp(c.created_at).strftime("%Y-%m-%d %H:%M")
    lines: list[str] = []

    def add(label: str, value: str) -> None:
        lines.extend(wrap(f"{s[label]}{colon}{value}", width, indent="  "))

    add("rcSite", site)
    add("rcItem", c.item_name)
    if c.applicant:
        add("rcApplicant", mask_name(c.applicant))
    add("rcNumber", c.receipt_no)
    add("rcTime", when)
    lines.extend(wrap(s["rcStateOnline"] if c.online else s["rcStateOffline"], width, indent="  "))
    if c.time_limit:
        add("rcTimeLimit", c.time_limit)
    lines.append("-" * width)
    if c.to_bring:
        lines.extend(wrap(s["rcBring"] + colon, width))
        for n, name in enumerate(c.to_bring, 1):
            lines.extend(wrap(f"{n}. {name}", width, indent="   "))
        if c.bring_by is not None:
            lines.extend(wrap(s["rcBringBy"].format(date=date_text(c.bring_by, c.lang), n=c.bring_days,
                                                    site=site), width))
    else:
        lines.extend(wrap(s["rcNothingToBring"], width))
    lines.append("-" * width)
    lines.extend(wrap(s["rcQuery"], width))
    footer: list[str] = []
    if c.hotline:
        footer.extend(wrap(f"{s['rcHotline']}{colon}{c.hotline}", width))
    footer.extend(wrap(s["rcKeep"], width))
    return ReceiptLayout(title=s["rcTitle"], lines=lines, qr=c.receipt_no, footer=footer)
