"""The service catalogue (事项目录) as the kiosk uses it: load, validate, search, hint.

The catalogue is data (``default_catalog.json``, replaced by a signed update from the central, see
:mod:`kiosk.catalog.update`) validated against ``schema.json`` (JSON Schema 2020-12) and then against
the rules a schema cannot say (unique codes, references between parts). The format is described in
docs/CATALOGUE.md. Nothing here needs pypinyin: the pinyin of every name is stored in the data.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

# The format and its checks are the protocol's (the central validates before it signs); re-exported here.
from sync.protocol.catalog import (  # noqa: F401
    PREFILL_KINDS,
    SCHEMA_PATH,
    CatalogError,
    parse_json,
    schema,
    schema_problems,
    semantic_problems,
    validate_document,
    version_key,
)

DEFAULT_CATALOG = Path(__file__).with_name("default_catalog.json")

FIELD_KINDS = ("text", "name", "id_number", "phone", "date", "choice", "address")
PREFILL_KEYS = ("name", "id_number", "sex", "birth_date", "address", "nation")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")



@dataclass(frozen=True)
class Category:
    code: str
    name_zh: str
    name_en: str
    icon: str


@dataclass(frozen=True)
class Option:
    """One answer of a ``choice`` field: ``value`` is what is submitted, the labels what is shown."""

    value: str
    label_zh: str
    label_en: str


@dataclass(frozen=True)
class FormField:
    id: str
    kind: str  # text | name | id_number | phone | date | choice | address
    label_zh: str
    label_en: str
    required: bool
    prefill: str = ""  # identity field that fills it in advance: name, id_number, sex, birth_date, address, nation
    options: tuple[Option, ...] = ()
    max_length: int | None = None
    pattern: str = ""  # Python regular expression the whole value must match
    hint_zh: str = ""
    hint_en: str = ""

    def value_problem(self, value: str) -> str:
        """Why ``value`` cannot be submitted in this field, in Chinese for the resident; "" when it can."""
        v = value.strip()
        if not v:
            return f"请填写{self.label_zh}" if self.required else ""
        if self.max_length is not None and len(v) > self.max_length:
            return f"{self.label_zh}最多{self.max_length}个字"
        if self.options and v not in {o.value for o in self.options}:
            return f"请从选项中选择{self.label_zh}"
        if self.pattern and re.fullmatch(self.pattern, v) is None:
            return f"{self.label_zh}的格式不对，请核对"
        if self.kind == "date" and _DATE.match(v) is None:
            return f"{self.label_zh}请按“年-月-日”填写，例如 2026-01-31"
        if self.kind == "id_number":
            from drivers import idnumber

            if not idnumber.is_valid(v):
                return f"{self.label_zh}不正确，请核对"
        return ""


@dataclass(frozen=True)
class Material:
    """A document the application needs; any one of ``elicence`` replaces the paper one."""

    id: str
    name_zh: str
    name_en: str
    required: bool
    elicence: tuple[str, ...] = ()  # e-licence (电子证照) types, e.g. 居民户口簿, 结婚证
    rongque: bool = False  # 容缺受理: may be handed in after the application
    declarable: bool = False  # 告知承诺制: the resident may declare instead of handing in the proof (level D)
    note_zh: str = ""
    note_en: str = ""

    @property
    def allow_missing(self) -> bool:
        return self.rongque


@dataclass(frozen=True)
class Keyword:
    zh: str
    pinyin: str
    initials: str


@dataclass(frozen=True)
class ServiceItem:
    code: str
    name_zh: str
    name_en: str
    department_zh: str
    guidance_zh: str
    fields: tuple[FormField, ...]
    pinyin: str = ""  # of the Chinese name: "ju zhu zheng shen ling"
    initials: str = ""  # "jzzsl"
    department_en: str = ""
    guidance_en: str = ""
    category: str = ""  # category code
    category_zh: str = ""
    category_en: str = ""
    keywords: tuple[Keyword, ...] = ()
    materials: tuple[Material, ...] = ()
    time_limit_days: int = 0  # 承诺时限, working days; 0 = 即办
    fee_yuan: float = 0.0  # 0 = free
    delivery: tuple[str, ...] = ("onsite",)  # onsite | post
    cross_province: bool = False  # 跨省通办
    commitment_zh: str = ""  # 告知承诺 of this item; "" = the general one (kiosk/i18n "commitment")
    commitment_en: str = ""
    signature: bool = False  # the resident signs the commitment on the signing pad
    face_check: bool = False  # 人证核验: the face at the kiosk is compared with the ID card's photo
    face_image: bool = False  # the frontal face image goes into the sealed submission (only with face_check)

    def field(self, field_id: str) -> FormField:
        for f in self.fields:
            if f.id == field_id:
                return f
        raise CatalogError(f"item {self.code} has no field {field_id!r}")

    @property
    def free(self) -> bool:
        return self.fee_yuan == 0

    @property
    def time_limit_zh(self) -> str:
        return "即办（当场办结）" if self.time_limit_days == 0 else f"{self.time_limit_days}个工作日"

    @property
    def fee_zh(self) -> str:
        return "免费" if self.fee_yuan == 0 else f"{self.fee_yuan:g}元"


@dataclass(frozen=True)
class Condition:
    """A parsed eligibility condition; every test present must hold (see ``schema.json``)."""

    age_gte: int | None = None
    age_lt: int | None = None
    sex: str = ""
    region_prefix: tuple[str, ...] = ()
    all_of: tuple[Condition, ...] = ()
    any_of: tuple[Condition, ...] = ()
    not_: Condition | None = None

    def holds(self, age: int | None, sex: str, region_code: str) -> bool | None:
        """True, False, or None when a fact it needs is unknown (three-valued, so ``not`` stays safe)."""
        results: list[bool | None] = []
        if self.age_gte is not None:
            results.append(None if age is None else age >= self.age_gte)
        if self.age_lt is not None:
            results.append(None if age is None else age < self.age_lt)
        if self.sex:
            results.append(None if not sex else sex == self.sex)
        if self.region_prefix:
            results.append(None if not region_code else region_code.startswith(self.region_prefix))
        if self.all_of:
            results.append(_all3(c.holds(age, sex, region_code) for c in self.all_of))
        if self.any_of:
            results.append(_any3(c.holds(age, sex, region_code) for c in self.any_of))
        if self.not_ is not None:
            inner = self.not_.holds(age, sex, region_code)
            results.append(None if inner is None else not inner)
        return _all3(results)


def _all3(values: Iterable[bool | None]) -> bool | None:
    out: bool | None = True
    for v in values:
        if v is False:
            return False
        if v is None:
            out = None
    return out


def _any3(values: Iterable[bool | None]) -> bool | None:
    out: bool | None = False
    for v in values:
        if v is True:
            return True
        if v is None:
            out = None
    return out


@dataclass(frozen=True)
class EligibilityRule:
    condition: Condition
    item: str  # item code
    hint_zh: str
    hint_en: str


class _HintPair(NamedTuple):
    item: ServiceItem
    hint_zh: str


class Hint(_HintPair):
    """``(item, hint_zh)``; also carries ``hint_en`` and ``text_zh``/``text_en`` for the screens."""

    hint_en: str = ""

    @property
    def text_zh(self) -> str:
        return self.hint_zh

    @property
    def text_en(self) -> str:
        return self.hint_en or self.hint_zh


@dataclass(frozen=True)
class Catalog:
    version: str
    items: tuple[ServiceItem, ...]
    categories: tuple[Category, ...] = ()
    rules: tuple[EligibilityRule, ...] = ()
    published: str = ""

    def item(self, code: str) -> ServiceItem:
        for it in self.items:
            if it.code == code:
                return it
        raise CatalogError(f"no service item {code!r}")

    def category(self, code: str) -> Category:
        for c in self.categories:
            if c.code == code:
                return c
        raise CatalogError(f"no category {code!r}")

    def by_category(self, code: str) -> list[ServiceItem]:
        """Items of one category in catalogue order; [] for an unknown category."""
        return [it for it in self.items if it.category == code]

    def search(self, query: str) -> list[ServiceItem]:
        """Items matching ``query``, best first; an empty query finds nothing.

        Matches Chinese substrings of the name, full pinyin (spaces and case do not matter, ü is v),
        pinyin initials ("jzz" finds 居住证…), the item code, keywords (社保, 医保), the department and
        category names, and the English name. Ranks: exact name, code or whole keyword first; then
        name prefixes; substrings; keyword prefixes and substrings; department and category; English.
        Ties keep catalogue order.
        """
        q = _normalize(query)
        if not q:
            return []
        scored = []
        for index, it in enumerate(self.items):
            rank = _rank(it, q)
            if rank is not None:
                scored.append((rank, index, it))
        scored.sort(key=lambda t: (t[0], t[1]))
        return [it for _, _, it in scored]


# --- search --------------------------------------------------------------------------------------

_LATIN_JOINERS = re.compile(r"[\s'’·\-]+")


def _normalize(query: str) -> str:
    q = unicodedata.normalize("NFKC", query).strip().lower().replace("ü", "v").replace("u:", "v")
    return _LATIN_JOINERS.sub(" ", q).strip()


def _pinyin_rank(pinyin: str, initials: str, q: str) -> int | None:
    """0 exact, 1 prefix, 2 substring starting at a syllable; None when the Latin query does not match."""
    syllables = pinyin.split()
    compact = "".join(syllables)
    qc = q.replace(" ", "")
    if qc in (compact, initials):
        return 0
    if compact.startswith(qc) or initials.startswith(qc):
        return 1
    if len(qc) >= 2:
        offset = 0
        for s in syllables:
            if compact.startswith(qc, offset):
                return 2
            offset += len(s)
        if qc in initials:
            return 2
    return None


def _text_rank(text: str, q: str) -> int | None:
    if not text:
        return None
    t = text.lower()
    if t == q:
        return 0
    if t.startswith(q):
        return 1
    if q in t:
        return 2
    return None


def _keyword_rank(rank: int | None) -> int | None:
    """A keyword typed in full counts like the exact name (the resident's own word for the item);
    a keyword's prefix or substring ranks below the name's."""
    if rank is None:
        return None
    return 0 if rank == 0 else rank + 1


def _rank(it: ServiceItem, q: str) -> int | None:
    latin = q.isascii()
    qz = q.replace(" ", "")
    ranks: list[int] = []

    def add(rank: int | None, offset: int) -> None:
        if rank is not None:
            ranks.append(rank + offset)

    code = it.code.lower().replace("-", "")
    qcode = qz.replace("-", "")
    if code == qcode:
        ranks.append(0)
    elif len(qcode) >= 3 and code.startswith(qcode):
        ranks.append(1)
    if latin:
        add(_pinyin_rank(it.pinyin, it.initials, q), 0)
        for k in it.keywords:
            add(_keyword_rank(_pinyin_rank(k.pinyin, k.initials, q)), 0)
        if len(qz) >= 3:
            at_word = re.compile(r"\b" + re.escape(q))
            if any(at_word.search(_normalize(t)) for t in (it.name_en, it.department_en, it.category_en)):
                ranks.append(5)
    else:
        add(_text_rank(it.name_zh, qz), 0)
        for k in it.keywords:
            add(_keyword_rank(_text_rank(k.zh, qz)), 0)
        if qz in it.department_zh or qz in it.category_zh:
            ranks.append(4)
    return min(ranks) if ranks else None


# --- eligibility hints ---------------------------------------------------------------------------


def eligibility_hints(catalog: Catalog, age: int | None, sex: str = "", region_code: str = "") -> list[Hint]:
    """Items the resident may want to know about, as ``(item, hint_zh)`` pairs, in rule order.

    ``sex`` is 男/女, ``region_code`` the first six digits of the ID number; unknown facts are
    ``None``/"" and never make a rule fire. One hint per item (its first matching rule).
    """
    out: list[Hint] = []
    seen: set[str] = set()
    for rule in catalog.rules:
        if rule.item in seen or rule.condition.holds(age, sex, region_code) is not True:
            continue
        try:
            item = catalog.item(rule.item)
        except CatalogError:
            continue
        hint = Hint(item, rule.hint_zh)
        hint.hint_en = rule.hint_en
        out.append(hint)
        seen.add(rule.item)
    return out


# --- loading and validation ----------------------------------------------------------------------




def _condition(c: Mapping[str, Any]) -> Condition:
    return Condition(
        age_gte=c.get("age_gte"),
        age_lt=c.get("age_lt"),
        sex=c.get("sex", ""),
        region_prefix=tuple(c.get("region_prefix", ())),
        all_of=tuple(_condition(x) for x in c.get("all", ())),
        any_of=tuple(_condition(x) for x in c.get("any", ())),
        not_=_condition(c["not"]) if "not" in c else None,
    )


def _field(f: Mapping[str, Any]) -> FormField:
    hint = f.get("hint", {})
    return FormField(
        id=f["id"], kind=f["kind"], label_zh=f["label"]["zh"], label_en=f["label"]["en"],
        required=f["required"], prefill=f.get("prefill", ""),
        options=tuple(Option(o["value"], o["label"]["zh"], o["label"]["en"]) for o in f.get("options", ())),
        max_length=f.get("max_length"), pattern=f.get("pattern", ""),
        hint_zh=hint.get("zh", ""), hint_en=hint.get("en", ""),
    )


def _material(m: Mapping[str, Any]) -> Material:
    note = m.get("note", {})
    return Material(
        id=m["id"], name_zh=m["name"]["zh"], name_en=m["name"]["en"], required=m["required"],
        elicence=tuple(m.get("elicence", ())), rongque=bool(m.get("rongque", False)),
        declarable=bool(m.get("declarable", False)),
        note_zh=note.get("zh", ""), note_en=note.get("en", ""),
    )


def catalog_from_document(doc: Any, source: str = "catalogue") -> Catalog:
    """Validate a parsed catalogue document and build the :class:`Catalog`."""
    validate_document(doc, source)
    categories = tuple(Category(c["code"], c["name"]["zh"], c["name"]["en"], c["icon"]) for c in doc["categories"])
    by_code = {c.code: c for c in categories}
    items = []
    for it in doc["items"]:
        g = it["guidance"]
        cat = by_code[it["category"]]
        items.append(ServiceItem(
            code=it["code"], name_zh=it["name"]["zh"], name_en=it["name"]["en"],
            department_zh=it["department"]["zh"], guidance_zh=g["zh"],
            fields=tuple(_field(f) for f in it["fields"]),
            pinyin=it["pinyin"], initials=it["initials"],
            department_en=it["department"]["en"], guidance_en=g["en"],
            category=cat.code, category_zh=cat.name_zh, category_en=cat.name_en,
            keywords=tuple(Keyword(k["zh"], k["pinyin"], k["initials"]) for k in it.get("keywords", ())),
            materials=tuple(_material(m) for m in g["materials"]),
            time_limit_days=g["time_limit_days"], fee_yuan=float(g["fee_yuan"]),
            delivery=tuple(g["delivery"]), cross_province=g["cross_province"],
            commitment_zh=it.get("commitment", {}).get("zh", ""), commitment_en=it.get("commitment", {}).get("en", ""),
            signature=bool(it.get("signature", False)),
            face_check=bool(it.get("face_check", False)),
            face_image=bool(it.get("face_check", False)) and bool(it.get("face_image", False)),
        ))
    rules = tuple(EligibilityRule(_condition(r["if"]), r["item"], r["hint_zh"], r["hint_en"])
                  for r in doc.get("eligibility", ()))
    return Catalog(doc["version"], tuple(items), categories, rules, doc.get("published", ""))



def load_catalog(path: Path = DEFAULT_CATALOG) -> Catalog:
    """Load and validate a catalogue file (the shipped default unless told otherwise).

    A file already loaded and unchanged since (same size and modification time) is not parsed and
    validated again: a :class:`Catalog` is immutable, so every caller may share it.
    """
    try:
        st = path.stat()
    except OSError as exc:
        raise CatalogError(f"catalogue {path.name} cannot be read: {exc.strerror or exc}") from exc
    return _load_cached(path.resolve(), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _load_cached(path: Path, mtime_ns: int, size: int) -> Catalog:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"catalogue {path.name} cannot be read: {exc.strerror or exc}") from exc
    return catalog_from_document(parse_json(data, f"catalogue {path.name}"), f"catalogue {path.name}")
