"""The one form validator of the journey: a value in, a problem code out; the texts come from i18n.

Every rule of the catalogue (required, options, maximum length, pattern, date) and every rule of the
field's kind (ID number, mobile number, digits) runs whatever the resident's language: the language only
chooses the text of the problem (``problem_text``). Before this module the checks existed twice and the
catalogue's own rules ran only in Chinese, so an English form was sealed with a bank account the pattern
refused.

ID numbers: ``normalise_id`` turns what a keyboard or a paste may give (full-width digits, a lower-case or
full-width X, spaces) into the 18 ASCII characters the check needs; each kind of mistake has its own code
(length, characters, birth date, check character, region), so the resident is told what is wrong.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from drivers import idnumber
from kiosk.catalog.model import FormField
from kiosk.i18n import table

MAX_FIELD = 100  # a free-text field without its own limit in the catalogue
MAX_TEXT = 500  # a complaint, a rating's reason
PHONE = re.compile(r"1\d{10}")
_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
_FULL_WIDTH = {ord(c): ord(a) for c, a in zip("０１２３４５６７８９ＸｘX", "0123456789XXX", strict=True)}
ID_PAD_CHARS = "0123456789X"

# problem code -> i18n key; the text is formatted with label / max / n
PROBLEM_KEYS = {
    "required": "errRequired",
    "choice": "errChoice",
    "too_long": "errTooLongN",
    "pattern": "errPattern",
    "phone": "errPhone",
    "date": "errDate",
    "number": "errNumber",
    "id_length": "errIdLength",
    "id_charset": "errIdCharset",
    "id_birth_date": "errIdBirthDate",
    "id_check_char": "errIdCheckChar",
    "id_region": "errIdRegion",
}


@dataclass(frozen=True)
class Problem:
    """Why a value cannot be submitted: ``code`` (a key of PROBLEM_KEYS) and what its text needs."""

    code: str
    label_zh: str = ""
    label_en: str = ""
    limit: int = 0  # the maximum length (too_long)
    count: int = 0  # how many characters the value has (too_long, id_length)


def normalise_id(text: str) -> str:
    """An ID number as typed or pasted -> upper-case ASCII without spaces (full-width digits and X mapped)."""
    return "".join(text.translate(_FULL_WIDTH).split()).upper()


def id_pad_filter(text: str) -> str:
    """What the ID-number pad lets through: digits and X only (anything else is dropped), at most 18."""
    return "".join(c for c in normalise_id(text) if c in ID_PAD_CHARS)[:18]


def field_limit(f: FormField) -> int:
    """The most characters a field takes (its catalogue's maximum, else the journey's), shown as a counter."""
    if f.kind == "id_number":
        return 18
    if f.kind in ("phone", "mobile"):
        return 11
    return f.max_length or MAX_FIELD


def normalise(f: FormField, value: str) -> str:
    """The value as it is checked and submitted: trimmed; ID numbers normalised."""
    return normalise_id(value) if f.kind == "id_number" else value.strip()


def check_id_number(value: str, label_zh: str = "身份证号", label_en: str = "ID number") -> Problem | None:
    n = normalise_id(value)
    try:
        idnumber.validate(n)
    except idnumber.IdNumberError as exc:
        return Problem(f"id_{exc.reason}", label_zh, label_en, count=len(n))
    name, _exact = idnumber.region_lookup(n[:6])
    if name is None:  # not even the province exists
        return Problem("id_region", label_zh, label_en)
    return None


def check(f: FormField, value: str) -> Problem | None:
    """The problem of ``value`` in field ``f``, or None. Language-independent: the rules always run."""
    v = normalise(f, value)
    zh, en = f.label_zh, f.label_en or f.label_zh
    options = {o.value for o in f.options}
    if not v:
        if f.required:
            return Problem("choice" if options else "required", label_zh=zh, label_en=en)
        return None
    limit = field_limit(f)
    if f.kind != "id_number" and len(v) > limit:
        return Problem("too_long", limit=limit, count=len(v), label_zh=zh, label_en=en)
    if options and v not in options:
        return Problem("choice", label_zh=zh, label_en=en)
    if f.kind == "id_number":
        return check_id_number(v, zh, en)
    if f.kind in ("phone", "mobile") and not PHONE.fullmatch(v):
        return Problem("phone", label_zh=zh, label_en=en)
    if f.kind == "date":
        m = _DATE.fullmatch(v)
        try:
            if not m:
                raise ValueError
            dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return Problem("date", label_zh=zh, label_en=en)
    if f.kind in ("number", "integer", "digits") and not v.isdigit():
        return Problem("number", label_zh=zh, label_en=en)
    if f.pattern and re.fullmatch(f.pattern, v) is None:
        return Problem("pattern", label_zh=zh, label_en=en)
    return None


def problem_text(problem: Problem | None, lang: str) -> str:
    """The resident's text of a problem, in ``lang`` ("" for no problem)."""
    if problem is None:
        return ""
    s = table(lang)
    label = problem.label_en if lang == "en" else problem.label_zh
    return s[PROBLEM_KEYS[problem.code]].format(label=label, max=problem.limit, n=problem.count)


def check_text(f: FormField, value: str, lang: str) -> str:
    return problem_text(check(f, value), lang)
