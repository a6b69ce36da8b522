"""The 256-byte UCS-2LE text block of a resident ID card chip, to and from IdentityRecord."""

from __future__ import annotations

import datetime as dt

from drivers import idnumber
from drivers.idcard.protocol import TEXT_LEN, IdCardError
from drivers.interfaces import IdentityRecord

# (field, bytes) in chip order; 256 bytes in all.
LAYOUT: tuple[tuple[str, int], ...] = (
    ("name", 30),
    ("sex", 2),
    ("nation", 4),
    ("birth_date", 16),
    ("address", 70),
    ("id_number", 36),
    ("authority", 30),
    ("valid_from", 16),
    ("valid_to", 16),
    ("reserved", 36),
)
assert sum(n for _, n in LAYOUT) == TEXT_LEN

# GB 3304 order: code 01 is 汉 ... 56 is 基诺.
ETHNIC_GROUPS = (
    "汉", "蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "布依", "朝鲜", "满", "侗", "瑶", "白",
    "土家", "哈尼", "哈萨克", "傣", "黎", "傈僳", "佤", "畲", "高山", "拉祜", "水", "东乡", "纳西",
    "景颇", "柯尔克孜", "土", "达斡尔", "仫佬", "羌", "布朗", "撒拉", "毛南", "仡佬", "锡伯", "阿昌",
    "普米", "塔吉克", "怒", "乌孜别克", "俄罗斯", "鄂温克", "德昂", "保安", "裕固", "京", "塔塔尔",
    "独龙", "鄂伦春", "赫哲", "门巴", "珞巴", "基诺",
)
assert len(ETHNIC_GROUPS) == 56
NATIONS: dict[str, str] = {f"{i:02d}": n for i, n in enumerate(ETHNIC_GROUPS, start=1)}
NATIONS["97"] = "其他"
NATIONS["98"] = "外国血统中国籍人士"
NATION_CODES = {name: code for code, name in NATIONS.items()}
SEXES = {"1": "男", "2": "女"}
SEX_CODES = {v: k for k, v in SEXES.items()}
LONG_TERM = "长期"


class TextBlockError(IdCardError):
    """The text block is malformed; ``field`` names the part, never its content."""

    code = "text-block"

    def __init__(self, field: str) -> None:
        super().__init__(f"身份证文字信息格式错误：{field} / malformed card text block: {field}")
        self.field = field


def nation_name(code: str) -> str | None:
    """The ethnic group for a two-digit code (01..56, 97, 98)."""
    return NATIONS.get(code)


def parse_text_block(block: bytes, *, source: str = "chip") -> IdentityRecord:
    """Decode and check a 256-byte text block; raises :class:`TextBlockError` only."""
    if not isinstance(block, bytes | bytearray) or len(block) != TEXT_LEN:
        raise TextBlockError("length")
    fields: dict[str, str] = {}
    pos = 0
    for key, size in LAYOUT:
        try:
            text = bytes(block[pos : pos + size]).decode("utf-16-le")
        except UnicodeDecodeError:
            raise TextBlockError(key) from None
        fields[key] = text.rstrip(" \x00")
        pos += size
    if not fields["name"]:
        raise TextBlockError("name")
    sex = SEXES.get(fields["sex"])
    if sex is None:
        raise TextBlockError("sex")
    nation = NATIONS.get(fields["nation"])
    if nation is None:
        raise TextBlockError("nation")
    _check_date(fields["birth_date"], "birth_date")
    try:
        number = idnumber.validate(fields["id_number"])
    except idnumber.IdNumberError:
        raise TextBlockError("id_number") from None
    if fields["valid_from"]:
        _check_date(fields["valid_from"], "valid_from")
    if fields["valid_to"] and fields["valid_to"] != LONG_TERM:
        _check_date(fields["valid_to"], "valid_to")
    return IdentityRecord(
        name=fields["name"],
        id_number=number,
        sex=sex,
        nation=nation,
        birth_date=fields["birth_date"],
        address=fields["address"],
        authority=fields["authority"],
        valid_from=fields["valid_from"],
        valid_to=fields["valid_to"],
        source=source,
    )


def build_text_block(record: IdentityRecord) -> bytes:
    """Encode a record as the chip does (for simulators and tests)."""
    sex = SEX_CODES.get(record.sex)
    nation = NATION_CODES.get(record.nation)
    if sex is None:
        raise TextBlockError("sex")
    if nation is None:
        raise TextBlockError("nation")
    values = {
        "name": record.name,
        "sex": sex,
        "nation": nation,
        "birth_date": record.birth_date,
        "address": record.address,
        "id_number": record.id_number,
        "authority": record.authority,
        "valid_from": record.valid_from,
        "valid_to": record.valid_to,
        "reserved": "",
    }
    out = bytearray()
    for key, size in LAYOUT:
        try:
            raw = values[key].encode("utf-16-le")
        except UnicodeEncodeError:
            raise TextBlockError(key) from None
        if len(raw) > size:
            raise TextBlockError(key)
        out += raw + " ".encode("utf-16-le") * ((size - len(raw)) // 2)
    return bytes(out)


def _check_date(value: str, field: str) -> None:
    if len(value) != 8 or not value.isascii() or not value.isdigit():
        raise TextBlockError(field)
    try:
        dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise TextBlockError(field) from None
