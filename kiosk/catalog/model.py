"""Catalogue items as the UI uses them, loaded from the shipped JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CATALOG = Path(__file__).with_name("default_catalog.json")


class CatalogError(ValueError):
    pass


@dataclass(frozen=True)
class FormField:
    id: str
    kind: str
    label_zh: str
    label_en: str
    required: bool


@dataclass(frozen=True)
class ServiceItem:
    code: str
    name_zh: str
    name_en: str
    department_zh: str
    guidance_zh: str
    fields: tuple[FormField, ...]


@dataclass(frozen=True)
class Catalog:
    version: str
    items: tuple[ServiceItem, ...]

    def item(self, code: str) -> ServiceItem:
        for it in self.items:
            if it.code == code:
                return it
        raise CatalogError(f"no service item {code!r}")


def load_catalog(path: Path = DEFAULT_CATALOG) -> Catalog:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        items = tuple(
            ServiceItem(
                code=it["code"], name_zh=it["name"]["zh"], name_en=it["name"]["en"],
                department_zh=it["department"]["zh"], guidance_zh=it["guidance"]["zh"],
                fields=tuple(FormField(f["id"], f["kind"], f["label"]["zh"], f["label"]["en"],
                                       bool(f.get("required", False))) for f in it["fields"]),
            )
            for it in data["items"]
        )
        return Catalog(str(data["version"]), items)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CatalogError(f"catalogue {path.name} is invalid: {type(exc).__name__}") from exc
