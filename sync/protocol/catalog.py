"""The service catalogue's format and signing, as both ends use them.

The format: ``catalog_schema.json`` (JSON Schema) plus the cross-checks JSON Schema cannot say
(:func:`semantic_problems`), strict JSON (:func:`parse_json`) and dotted-integer versions (:func:`version_key`).

Signing: an update is one JSON document ``{"catalog": {...}, "sig": "<base64>"}`` where ``sig`` is the
Ed25519 signature, by the central's command key, of the canonical JSON of ``catalog`` (keys sorted, separators
``(",", ":")``, UTF-8, no NaN). The central signs (:func:`sign_update`), a kiosk checks
(:func:`verified_document`) before it validates and installs.

Every failure is a :class:`CatalogError` whose message says why. The kiosk's model of a catalogue (search,
hints, the form) is ``kiosk.catalog``; installing an update on a kiosk is the edge's (``sync.daemon.catalog``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.protocol import signatures

SCHEMA_PATH = Path(__file__).with_name("catalog_schema.json")
MAX_UPDATE_BYTES = 4 * 1024 * 1024

# Which field kinds each identity field may prefill.
PREFILL_KINDS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "id_number": ("id_number",),
    "sex": ("choice", "text"),
    "birth_date": ("date",),
    "address": ("address", "text"),
    "nation": ("text", "choice"),
}
_MAX_PROBLEMS_SHOWN = 5
_MAX_CONDITION_DEPTH = 4
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class CatalogError(ValueError):
    """A catalogue (or an update of it) that cannot be used; ``problems`` lists every reason found."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems)


@functools.cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema())
    cls.check_schema(schema())
    return cls(schema())


def _path_text(path: Iterable[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _where(doc: Any, path: Sequence[Any]) -> str:
    """'item MZ-LNYD-001 at items[0].fields[1].kind' (the code when the document has one)."""
    where = _path_text(path)
    if len(path) >= 2 and path[0] == "items" and isinstance(path[1], int) and isinstance(doc, dict):
        try:
            code = doc["items"][path[1]].get("code")
        except (AttributeError, IndexError, KeyError, TypeError):
            code = None
        if isinstance(code, str) and code:
            return f"item {code} at {where}"
    return f"at {where}"


def _short(message: str, limit: int = 240) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


def schema_problems(doc: Any) -> list[str]:
    """Every way ``doc`` breaks ``schema.json``, each naming the item code and the path."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{_where(doc, list(e.absolute_path))}: {_short(e.message)}" for e in errors]


def _iter_conditions(cond: Mapping[str, Any], depth: int = 1) -> Iterator[tuple[Mapping[str, Any], int]]:
    yield cond, depth
    for key in ("all", "any"):
        for c in cond.get(key, ()):
            yield from _iter_conditions(c, depth + 1)
    if "not" in cond:
        yield from _iter_conditions(cond["not"], depth + 1)


def _dupes(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dupes: list[str] = []
    for v in values:
        if v in seen and v not in dupes:
            dupes.append(v)
        seen.add(v)
    return dupes


def _pinyin_problems(where: str, zh: str, pinyin: str, initials: str) -> list[str]:
    problems = []
    syllables = pinyin.split()
    if len(syllables) != len(_HAN.findall(zh)):
        problems.append(f"{where}: pinyin {pinyin!r} has {len(syllables)} syllables for "
                        f"{len(_HAN.findall(zh))} Chinese characters in {zh!r}")
    if initials != "".join(s[0] for s in syllables):
        problems.append(f"{where}: initials {initials!r} do not match pinyin {pinyin!r}")
    return problems


def semantic_problems(doc: Mapping[str, Any]) -> list[str]:
    """What a schema-valid document gets wrong that JSON Schema cannot say."""
    problems: list[str] = []
    cat_codes = [c["code"] for c in doc["categories"]]
    problems += [f"at categories: duplicate category code {c!r}" for c in _dupes(cat_codes)]
    codes = [it["code"] for it in doc["items"]]
    problems += [f"item {c}: duplicate item code {c!r}" for c in _dupes(codes)]
    for i, it in enumerate(doc["items"]):
        where = f"item {it['code']} at items[{i}]"
        if it["category"] not in cat_codes:
            problems.append(f"{where}.category: unknown category {it['category']!r}")
        problems += _pinyin_problems(f"{where}.pinyin", it["name"]["zh"], it["pinyin"], it["initials"])
        for k, kw in enumerate(it.get("keywords", ())):
            problems += _pinyin_problems(f"{where}.keywords[{k}]", kw["zh"], kw["pinyin"], kw["initials"])
        materials = it["guidance"]["materials"]
        problems += [f"{where}.guidance.materials: duplicate material id {m!r}"
                     for m in _dupes(m["id"] for m in materials)]
        problems += [f"{where}.fields: duplicate field id {f!r}" for f in _dupes(f["id"] for f in it["fields"])]
        for j, f in enumerate(it["fields"]):
            fw = f"{where}.fields[{j}]"
            if f["kind"] != "choice" and "options" in f:
                problems.append(f"{fw}.options: only choice fields have options (kind is {f['kind']!r})")
            problems += [f"{fw}.options: duplicate option value {v!r}"
                         for v in _dupes(o["value"] for o in f.get("options", ()))]
            if "prefill" in f and f["kind"] not in PREFILL_KINDS[f["prefill"]]:
                problems.append(f"{fw}.prefill: {f['prefill']!r} cannot fill a {f['kind']!r} field "
                                f"(only {', '.join(PREFILL_KINDS[f['prefill']])})")
            if "pattern" in f:
                try:
                    re.compile(f["pattern"])
                except re.error as exc:
                    problems.append(f"{fw}.pattern: not a regular expression ({exc})")
    for r, rule in enumerate(doc.get("eligibility", ())):
        if rule["item"] not in codes:
            problems.append(f"at eligibility[{r}].item: unknown item {rule['item']!r}")
        if max(d for _, d in _iter_conditions(rule["if"])) > _MAX_CONDITION_DEPTH:
            problems.append(f"at eligibility[{r}].if: conditions nest deeper than {_MAX_CONDITION_DEPTH}")
    return problems


def validate_document(doc: Any, source: str = "catalogue") -> None:
    """Raise :class:`CatalogError` listing every problem of ``doc``; return when it is a valid catalogue."""
    try:
        problems = schema_problems(doc)
        if not problems:
            problems = semantic_problems(doc)
    except RecursionError:
        problems = ["the document nests too deeply"]
    if problems:
        shown = "; ".join(problems[:_MAX_PROBLEMS_SHOWN])
        more = len(problems) - _MAX_PROBLEMS_SHOWN
        suffix = f" (and {more} more)" if more > 0 else ""
        raise CatalogError(f"{source} is invalid: {shown}{suffix}", problems)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a catalogue")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def parse_json(data: bytes | str, source: str = "catalogue") -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, no duplicate keys; every failure is a :class:`CatalogError`."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise CatalogError(f"{source} is not valid JSON: it nests too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, our own
        raise CatalogError(f"{source} is not valid JSON: {_short(str(exc), 120)}") from exc



def version_key(version: str) -> tuple[int, ...]:
    """'2026.11.0' -> (2026, 11, 0), for comparing versions; CatalogError when it is not dotted integers."""
    parts = version.split(".")
    if not all(p.isdigit() and p.isascii() and len(p) <= 9 for p in parts) or len(parts) < 2:
        raise CatalogError(f"catalogue version {version[:40]!r} is not dotted integers like 2026.11.0")
    key = tuple(int(p) for p in parts)
    while len(key) > 1 and key[-1] == 0:  # 2026.11 == 2026.11.0
        key = key[:-1]
    return key


def _public_key(public_key_raw: bytes) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes(public_key_raw))
    except (ValueError, TypeError) as exc:
        raise CatalogError("the central's public key is not a raw 32-byte Ed25519 key") from exc


def sign_update(private_raw: bytes, catalog: dict[str, Any], *, validate: bool = True) -> bytes:
    """The central's side: the update document for ``catalog``, signed with its command key.

    The catalogue is validated first (``validate=False`` is for tests that need a signed bad one).
    """
    if validate:
        validate_document(catalog, "catalogue update")
    try:
        key = Ed25519PrivateKey.from_private_bytes(bytes(private_raw))
    except (ValueError, TypeError) as exc:
        raise CatalogError("the signing key is not a raw 32-byte Ed25519 private key") from exc
    try:
        body = signatures.object_statement(catalog)
        sig = base64.b64encode(key.sign(body)).decode("ascii")
        return json.dumps({"catalog": catalog, "sig": sig}, ensure_ascii=False, indent=1).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise CatalogError(f"catalogue update cannot be serialised: {type(exc).__name__}: {exc}") from exc


def verified_document(public_key_raw: bytes, data: bytes | str, source: str) -> dict[str, Any]:
    """The ``catalog`` object of a signed update document whose signature verifies (not yet validated)."""
    key = _public_key(public_key_raw)
    if len(data) > MAX_UPDATE_BYTES:
        raise CatalogError(f"{source} is too large ({len(data)} bytes; at most {MAX_UPDATE_BYTES})")
    doc = parse_json(data, source)
    if not isinstance(doc, dict):
        raise CatalogError(f"{source} is not a signed catalogue: expected an object with 'catalog' and 'sig'")
    if "sig" not in doc:
        raise CatalogError(f"{source} is not signed (no 'sig')")
    if set(doc) != {"catalog", "sig"}:
        extra = sorted(set(doc) - {"catalog", "sig"})
        missing = sorted({"catalog", "sig"} - set(doc))
        raise CatalogError(f"{source} must hold exactly 'catalog' and 'sig'"
                           + (f"; unexpected {extra}" if extra else "") + (f"; missing {missing}" if missing else ""))
    catalog, sig = doc["catalog"], doc["sig"]
    if not isinstance(catalog, dict):
        raise CatalogError(f"{source}: 'catalog' is not an object")
    if not isinstance(sig, str):
        raise CatalogError(f"{source}: 'sig' is not a base64 string")
    try:
        raw_sig = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CatalogError(f"{source}: 'sig' is not valid base64") from exc
    if len(raw_sig) != 64:
        raise CatalogError(f"{source}: 'sig' is not an Ed25519 signature ({len(raw_sig)} bytes, expected 64)")
    try:
        body = signatures.object_statement(catalog)
    except (TypeError, ValueError, RecursionError) as exc:  # lone surrogates cannot be UTF-8
        raise CatalogError(f"{source}: 'catalog' cannot be put in canonical form") from exc
    try:
        key.verify(raw_sig, body)
    except InvalidSignature:
        raise CatalogError(f"{source}: the signature does not verify with the central's key") from None
    return catalog
