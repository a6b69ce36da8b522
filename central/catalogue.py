"""The service catalogue as the central reads it: item names (中文 and English), departments, materials and
承诺时限 (``guidance.time_limit_days``, working days) for the operators' console and the reports.

Where it comes from: ``{central home}/catalog.json`` (the catalogue the office publishes, a bare or a signed
document: put the file given to ``kiosk-central command ... catalog --file`` there), else the catalogue the kiosks ship
(``kiosk/catalog/default_catalog.json``, found by ``importlib.util.find_spec`` as data, never imported, as the
edge does). A code the catalogue does not know is shown as the code itself."""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("kiosk.central.catalogue")

CATALOG_FILE = "catalog.json"
DEFAULT_TIME_LIMIT_DAYS = 20  # 行政许可法 第四十二条: twenty working days where an item names none


@dataclass(frozen=True)
class Material:
    id: str
    zh: str
    en: str


@dataclass(frozen=True)
class Item:
    code: str
    zh: str
    en: str
    department_zh: str = ""
    department_en: str = ""
    time_limit_days: int = DEFAULT_TIME_LIMIT_DAYS
    materials: tuple[Material, ...] = field(default_factory=tuple)
    delivery: tuple[str, ...] = field(default_factory=tuple)

    def name(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


def _text(value: Any, lang: str, fallback: str = "") -> str:
    if isinstance(value, dict) and isinstance(value.get(lang), str):
        return str(value[lang])
    return fallback


def _item(raw: dict[str, Any]) -> Item:
    code = str(raw["code"])
    g = raw.get("guidance")
    guidance: dict[str, Any] = g if isinstance(g, dict) else {}
    mats = tuple(Material(str(m.get("id")), _text(m.get("name"), "zh", str(m.get("id"))),
                          _text(m.get("name"), "en", str(m.get("id"))))
                 for m in guidance.get("materials", []) if isinstance(m, dict) and m.get("id"))
    limit = guidance.get("time_limit_days")
    return Item(code=code, zh=_text(raw.get("name"), "zh", code), en=_text(raw.get("name"), "en", code),
                department_zh=_text(raw.get("department"), "zh"), department_en=_text(raw.get("department"), "en"),
                time_limit_days=int(limit) if isinstance(limit, int) and limit >= 0 else DEFAULT_TIME_LIMIT_DAYS,
                materials=mats, delivery=tuple(str(d) for d in guidance.get("delivery", []) if isinstance(d, str)))


class Catalogue:
    """Items by code. ``item(code)`` never fails: an unknown code gets an item named by its code."""

    def __init__(self, items: dict[str, Item], version: str = "") -> None:
        self.items = items
        self.version = version

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Catalogue:
        items = {}
        for raw in doc.get("items", []):
            if isinstance(raw, dict) and isinstance(raw.get("code"), str):
                it = _item(raw)
                items[it.code] = it
        return cls(items, str(doc.get("version", "")))

    def item(self, code: str) -> Item:
        return self.items.get(code) or Item(code=code, zh=code, en=code)

    def name(self, code: str, lang: str) -> str:
        return self.item(code).name(lang)

    def choices(self, lang: str) -> list[tuple[str, str]]:
        """(code, name) of every item, by name, for a filter's drop-down."""
        return sorted(((c, i.name(lang)) for c, i in self.items.items()), key=lambda p: p[1])


def _default_path() -> Path | None:
    spec = importlib.util.find_spec("kiosk")  # the shipped catalogue is data; the kiosk package is not imported
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "catalog" / "default_catalog.json"
    return path if path.is_file() else None


_cache: dict[Path | None, tuple[float, Catalogue]] = {}
_lock = threading.Lock()


def load(home: Path | None) -> Catalogue:
    """The central's catalogue (reread when its file changes)."""
    path = home / CATALOG_FILE if home is not None and (home / CATALOG_FILE).is_file() else _default_path()
    if path is None:
        return Catalogue({})
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return Catalogue({})
    with _lock:
        hit = _cache.get(path)
        if hit is not None and hit[0] == mtime:
            return hit[1]
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if "catalog" in doc and isinstance(doc["catalog"], dict):  # a signed update document
            doc = doc["catalog"]
        cat = Catalogue.from_document(doc)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("the catalogue %s cannot be read (%s); items are shown by code", path, type(exc).__name__)
        cat = Catalogue({})
    with _lock:
        _cache[path] = (mtime, cat)
    return cat


__all__ = ["CATALOG_FILE", "Catalogue", "Item", "Material", "load"]
