"""Tools for people who edit catalogue files (a development aid; the kiosk never runs this).

    python -m kiosk.catalog.authoring fill  [FILE]   # fill in pinyin/initials, validate, rewrite tidily
    python -m kiosk.catalog.authoring check [FILE]   # exit 1 when pinyin is stale or the file invalid

FILE defaults to the shipped ``default_catalog.json``. Needs pypinyin (a dev dependency); the runtime
reads the pinyin stored in the file and does not.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kiosk.catalog.model import DEFAULT_CATALOG, CatalogError, catalog_from_document, parse_json

WIDTH = 110  # containers that fit in this many characters stay on one line


def pinyin_of(text: str) -> str:
    """Toneless pinyin of the Chinese characters in ``text``, one space between syllables, ü as v."""
    from pypinyin import Style, lazy_pinyin

    return " ".join(lazy_pinyin(text, style=Style.NORMAL, errors="ignore"))


def initials_of(pinyin: str) -> str:
    return "".join(s[0] for s in pinyin.split())


def fill_pinyin(doc: dict[str, Any]) -> dict[str, Any]:
    """Set ``pinyin``/``initials`` of every item name and keyword from its Chinese text (in place)."""
    for it in doc.get("items", ()):
        it["pinyin"] = pinyin_of(it["name"]["zh"])
        it["initials"] = initials_of(it["pinyin"])
        for kw in it.get("keywords", ()):
            kw["pinyin"] = pinyin_of(kw["zh"])
            kw["initials"] = initials_of(kw["pinyin"])
    return doc


def dumps(doc: Any) -> str:
    """The house layout: two-space indent, small objects and lists on one line, UTF-8 text as is."""

    def fmt(value: Any, indent: int) -> str:
        flat = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
        if not isinstance(value, dict | list) or not value or indent + len(flat) <= WIDTH:
            return flat
        pad = " " * (indent + 2)
        if isinstance(value, dict):
            body = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {fmt(v, indent + 2)}" for k, v in value.items()]
            return "{\n" + ",\n".join(body) + "\n" + " " * indent + "}"
        body = [pad + fmt(v, indent + 2) for v in value]
        return "[\n" + ",\n".join(body) + "\n" + " " * indent + "]"

    return fmt(doc, 0) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kiosk.catalog.authoring", description=__doc__.split("\n")[0])
    p.add_argument("action", choices=("fill", "check"))
    p.add_argument("file", nargs="?", type=Path, default=DEFAULT_CATALOG)
    args = p.parse_args(argv)
    original = args.file.read_text(encoding="utf-8")
    try:
        doc = parse_json(original, str(args.file))
        if not isinstance(doc, dict):
            raise CatalogError(f"{args.file} is not a JSON object")
        tidy = dumps(fill_pinyin(doc))
        catalog_from_document(doc, str(args.file))
    except CatalogError as exc:
        print(exc, file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    if args.action == "check":
        if tidy != original:
            print(f"{args.file}: pinyin or layout is stale; run: python -m kiosk.catalog.authoring fill",
                  file=sys.stderr)
            return 1
        print(f"{args.file}: ok, {len(doc['items'])} items")
        return 0
    if tidy != original:
        args.file.write_text(tidy, encoding="utf-8")
    print(f"{args.file}: {len(doc['items'])} items, version {doc['version']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
