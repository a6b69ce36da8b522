"""Which e-licence (电子证照) a scanned code is, and whether a material takes it.

A code names its kind by a type code (``ezz://licence?type=hukou``, or ``zzlxdm`` in the JSON form);
the catalogue names the e-licences a material accepts by their Chinese names (``"elicence":
["居民户口簿"]``). This table joins the two. A material accepts a code whose type code, or the name
that code stands for, is in its list; anything else is refused with both names said, so a resident who
shows the ID-card e-licence for the 户口簿 is told which one is needed instead of having it taken."""

from __future__ import annotations

from collections.abc import Iterable

# type code -> (Chinese name as the catalogue writes it, English name)
LICENCE_TYPES: dict[str, tuple[str, str]] = {}
for _codes, _zh, _en in (
        (("idcard", "sfz", "jmsfz", "resident_id"), "居民身份证", "resident ID card"),
        (("hukou", "hkb", "jmhkb"), "居民户口簿", "household register"),
        (("jzz", "juzhuzheng", "residence_permit"), "居住证", "residence permit"),
        (("sbk", "shebao", "social_security"), "社会保障卡", "social security card"),
        (("jhz", "marriage"), "结婚证", "marriage certificate"),
        (("lhz", "divorce"), "离婚证", "divorce certificate"),
        (("csyxzm", "birth"), "出生医学证明", "birth certificate"),
        (("cjrz", "disability"), "残疾人证", "disability certificate"),
        (("bdcqz", "property"), "不动产权证书", "property certificate"),
        (("lnryd", "senior"), "老年人优待证", "senior citizen card"),
        (("yyzz", "bizlic"), "营业执照", "business licence")):
    for _code in _codes:
        LICENCE_TYPES[_code] = (_zh, _en)

_BY_NAME: dict[str, tuple[str, str]] = {names[0]: names for names in LICENCE_TYPES.values()}
ID_CARD_TYPES = frozenset(code for code, (zh, _en) in LICENCE_TYPES.items() if zh == "居民身份证")


def licence_name(type_code: str, lang: str = "zh") -> str:
    """The e-licence's name in ``lang`` ("zh" or "en"), or ``""`` for a type code this kiosk does not know."""
    names = LICENCE_TYPES.get(type_code.lower())
    if names is None:
        return ""
    return names[1] if lang == "en" else names[0]


def accepts(elicence: Iterable[str], type_code: str) -> bool:
    """Whether a material listing ``elicence`` takes a code of ``type_code``."""
    wanted = set(elicence)
    code = type_code.lower()
    return code in wanted or licence_name(code) in wanted - {""}


def wanted_names(elicence: Iterable[str], lang: str) -> str:
    """The accepted e-licences as a resident reads them (a catalogue entry may be a name or a type code)."""
    names = []
    for entry in elicence:
        known = LICENCE_TYPES.get(entry.lower()) or _BY_NAME.get(entry)
        names.append(entry if known is None else known[1] if lang == "en" else known[0])
    return (" or " if lang == "en" else "、").join(dict.fromkeys(names))
