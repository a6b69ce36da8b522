"""How the resident's screens read the catalogue.

The catalogue (kiosk/catalog) is data owned by its own module; this adapter reads the optional parts
(categories, materials, options, prefill, search, eligibility hints) where the catalogue provides
them and falls back to plain behaviour where it does not, so the screens never depend on a field
the shipped catalogue lacks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from drivers import idnumber
from drivers.interfaces import IdentityRecord
from kiosk.catalog.model import Catalog, FormField, ServiceItem
from kiosk.session import Material

# Identity attribute each prefill key / field id / field kind takes its value from.
_PREFILL_BY_KEY = {
    "name": "name", "identity.name": "name", "applicant_name": "name",
    "id_number": "id_number", "identity.id_number": "id_number",
    "sex": "sex", "gender": "sex", "identity.sex": "sex",
    "birth_date": "birth_date", "birthdate": "birth_date", "identity.birth_date": "birth_date",
    "address": "address", "identity.address": "address", "nation": "nation", "identity.nation": "nation",
}


def _text(value: Any, lang: str = "zh") -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("zh") or "")
    return str(value)


def item_name(item: ServiceItem, lang: str) -> str:
    return item.name_en if lang == "en" and item.name_en else item.name_zh


def item_category(item: ServiceItem, lang: str = "zh") -> str:
    """The display name of the item's category."""
    name = getattr(item, f"category_{lang}", "") or getattr(item, "category_zh", "")
    return str(name or "")


def categories(catalog: Catalog, lang: str = "zh") -> list[dict[str, str]]:
    """[{code, name}] in catalogue order (only categories that have items)."""
    used = {getattr(it, "category", "") for it in catalog.items}
    out = []
    for c in getattr(catalog, "categories", ()) or ():
        if c.code in used:
            out.append({"code": c.code, "name": c.name_en if lang == "en" and c.name_en else c.name_zh})
    return out


def by_category(catalog: Catalog, code: str) -> list[ServiceItem]:
    if not code:
        return list(catalog.items)
    own = getattr(catalog, "by_category", None)
    if callable(own):
        return list(own(code))
    return [it for it in catalog.items if getattr(it, "category", "") == code]


def search(catalog: Catalog, query: str) -> list[ServiceItem]:
    """The catalogue's own search (names, pinyin, initials: "jzz" finds 居住证) or a plain match."""
    q = query.strip()
    if not q:
        return list(catalog.items)
    own = getattr(catalog, "search", None)
    if callable(own):
        return list(own(q))
    ql = q.lower()
    return [it for it in catalog.items
            if ql in it.name_zh.lower() or ql in it.name_en.lower() or ql in it.code.lower()]


def item_department(item: ServiceItem, lang: str) -> str:
    return (getattr(item, "department_en", "") if lang == "en" else "") or item.department_zh


def item_guidance(item: ServiceItem, lang: str) -> str:
    return (getattr(item, "guidance_en", "") if lang == "en" else "") or item.guidance_zh


def item_delivery(item: ServiceItem) -> tuple[str, ...]:
    ways = tuple(w for w in getattr(item, "delivery", ("onsite", "post")) if w in ("onsite", "post"))
    return ways or ("onsite",)


def item_materials(item: ServiceItem) -> list[Material]:
    out: list[Material] = []
    for i, m in enumerate(getattr(item, "materials", ()) or ()):
        if isinstance(m, dict):
            mid = str(m.get("id") or f"m{i + 1}")
            zh, en = _text(m.get("name"), "zh"), _text(m.get("name"), "en")
            required = bool(m.get("required", True))
            allow = bool(m.get("allow_missing", m.get("rongque", False)))
        else:
            mid = str(getattr(m, "id", "") or f"m{i + 1}")
            zh = str(getattr(m, "name_zh", "") or _text(getattr(m, "name", ""), "zh"))
            en = str(getattr(m, "name_en", "") or zh)
            required = bool(getattr(m, "required", True))
            allow = bool(getattr(m, "allow_missing", getattr(m, "rongque", False)))
        licences = tuple(getattr(m, "elicence", ()) or ()) if not isinstance(m, dict) else tuple(m.get("elicence", ()))
        declarable = bool(m.get("declarable", False)) if isinstance(m, dict) else bool(getattr(m, "declarable", False))
        out.append(Material(mid, zh, en or zh, required, allow, elicence=licences, declarable=declarable))
    return out


def field_label(f: FormField, lang: str) -> str:
    return f.label_en if lang == "en" and f.label_en else f.label_zh


def field_options(f: FormField, lang: str = "zh") -> list[dict[str, str]]:
    """[{value, label}] of a choice field."""
    out = []
    for o in getattr(f, "options", None) or ():
        if isinstance(o, str):
            out.append({"value": o, "label": o})
        else:
            label = (getattr(o, "label_en", "") if lang == "en" else "") or getattr(o, "label_zh", "") or o.value
            out.append({"value": str(o.value), "label": str(label)})
    return out


def option_for(f: FormField, text: str) -> str:
    """The option value a prefilled text (男/女 from the card) stands for, else the text itself."""
    for o in field_options(f, "zh") + field_options(f, "en"):
        if text in (o["value"], o["label"]):
            return o["value"]
    return text


def prefill_value(f: FormField, identity: IdentityRecord | None) -> str:
    if identity is None:
        return ""
    key = getattr(f, "prefill", None) or ""
    attr = _PREFILL_BY_KEY.get(str(key)) or _PREFILL_BY_KEY.get(f.id) or _PREFILL_BY_KEY.get(f.kind)
    if not attr:
        return ""
    value = str(getattr(identity, attr, "") or "")
    if attr == "birth_date" and len(value) == 8 and value.isdigit():
        value = f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return option_for(f, value) if value and getattr(f, "options", None) else value


def identity_facts(identity: IdentityRecord) -> tuple[int | None, str, str]:
    """(age, sex, region code) for eligibility hints; nothing of it is kept."""
    try:
        info = idnumber.parse(identity.id_number)
    except ValueError:
        return None, identity.sex, ""
    return info.age(dt.date.today()), info.sex, info.region_code


def eligibility_hints(catalog: Catalog, identity: IdentityRecord | None, lang: str = "zh",
                      exclude: str = "") -> list[str]:
    """Courtesy hints after identification; ``exclude``: the item being applied for (never offered again)."""
    if identity is None:
        return []
    try:
        from kiosk.catalog import model as catalog_model
    except ImportError:  # pragma: no cover
        return []
    fn = getattr(catalog_model, "eligibility_hints", None)
    if fn is None:
        import kiosk.catalog as pkg

        fn = getattr(pkg, "eligibility_hints", None)
    if fn is None:
        return []
    age, sex, region = identity_facts(identity)
    try:
        hints: Sequence[Any] = fn(catalog, age, sex, region)
    except Exception:  # a hint is a courtesy; never break identification over it
        return []
    out = []
    for h in hints:
        if exclude and getattr(h, "code", getattr(getattr(h, "item", None), "code", None)) == exclude:
            continue
        if isinstance(h, str):
            out.append(h)
        elif isinstance(h, ServiceItem):
            out.append(item_name(h, lang))
        else:
            item = getattr(h, "item", None)
            text = getattr(h, f"text_{lang}", None) or getattr(h, "text_zh", None)
            if item is not None and text:
                out.append(f"{item_name(item, lang)}：{text}")
            elif item is not None:
                out.append(item_name(item, lang))
            elif text:
                out.append(str(text))
    return out[:4]
