"""Synthetic, fictional resident ID card faces and MRZ bands for tests, the self-test and the benchmark.

Only fictional data: names are drawn from short lists of common characters, addresses from a real region
name plus a made-up street, and ID numbers get a valid GB 11643 check character from
:func:`drivers.idnumber.check_char`. Nothing here describes a real person.

The card face follows the layout of the personal-information side of a second-generation card
(85.6 x 54 mm, rendered at 10 px/mm = 856 x 540): blue labels 姓名 / 性别 / 民族 / 出生 / 住址 /
公民身份号码, black values, a photo box on the right. :func:`place_in_frame` puts a card into a larger
camera frame with rotation, perspective, blur, noise and JPEG compression.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from drivers import idnumber
from drivers.idcard.textblock import ETHNIC_GROUPS

CARD_W, CARD_H = 856, 540

CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
MONO_FONTS = (
    "/usr/share/fonts/truetype/ocr-b/OCRB.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansMono-Regular.ttf",
)
NUMBER_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    *CJK_FONTS,
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建国志红文海燕春雪梅晓东丹宁鹏飞欣怡子涵浩然思远"
STREETS = ("人民路", "解放路", "中山路", "建设路", "和平街", "新华路", "光明街", "长安街", "胜利路", "文化路",
           "朝阳路", "团结路", "幸福街", "青年路", "育才路")
COMMUNITY = ("小区", "花园", "新村", "家园", "公寓", "里")


class FontNotFoundError(FileNotFoundError):
    """No usable font; install fonts-wqy-microhei (CJK) and fonts-dejavu-core."""


def _first_existing(paths: tuple[str, ...], what: str) -> str:
    env = os.environ.get(f"KIOSK_{what.upper()}_FONT")
    if env and Path(env).is_file():
        return env
    for p in paths:
        if Path(p).is_file():
            return p
    raise FontNotFoundError(f"no {what} font found; install fonts-wqy-microhei and fonts-dejavu-core")


@functools.cache
def _font(kind: str, size: int) -> ImageFont.FreeTypeFont:
    paths = {"cjk": CJK_FONTS, "mono": MONO_FONTS, "number": NUMBER_FONTS}[kind]
    return ImageFont.truetype(_first_existing(paths, kind), size)


def cjk_font_path() -> str:
    return _first_existing(CJK_FONTS, "cjk")


def mono_font_path() -> str:
    return _first_existing(MONO_FONTS, "mono")


@dataclass(frozen=True, repr=False)
class CardData:
    """Fictional card contents. ``birth`` is a date; the rest is printed as given."""

    name: str
    sex: str  # 男 / 女
    nation: str
    birth: dt.date
    address: str
    id_number: str

    def __repr__(self) -> str:  # keep fictional data out of logs all the same
        return "CardData(<fictional personal data>)"


def make_id_number(region: str, birth: dt.date, sequence: int) -> str:
    """A valid 18-character number for region code, birth date and 3-digit sequence (odd = male)."""
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return first17 + idnumber.check_char(first17)


def card_from_number(number: str, name: str, nation: str, address: str) -> CardData:
    info = idnumber.parse(number)
    return CardData(name=name, sex=info.sex, nation=nation, birth=info.birth_date, address=address,
                    id_number=info.number)


SAMPLE_CARD = CardData(name="张三", sex="女", nation="汉", birth=dt.date(1949, 12, 31),
                       address="北京市朝阳区建国路88号院3号楼2单元501室", id_number="11010519491231002X")


@functools.cache
def _county_codes() -> tuple[str, ...]:
    table = idnumber.region_table()
    return tuple(sorted(c for c in table if c[4:] != "00" and c[2:4] != "00"))


def random_card(rng: np.random.Generator) -> CardData:
    """A random fictional card whose printed sex and birth date agree with its number."""
    codes = _county_codes()
    region = str(codes[int(rng.integers(len(codes)))])
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 66)))
    sequence = int(rng.integers(1, 1000))
    number = make_id_number(region, birth, sequence)
    sex = "男" if sequence % 2 else "女"
    n_given = 1 if rng.random() < 0.35 else 2
    name = SURNAMES[int(rng.integers(len(SURNAMES)))] + "".join(
        GIVEN[int(rng.integers(len(GIVEN)))] for _ in range(n_given))
    nation = "汉" if rng.random() < 0.6 else ETHNIC_GROUPS[int(rng.integers(len(ETHNIC_GROUPS)))]
    region_name = idnumber.region_name(region) or "北京市东城区"
    street = STREETS[int(rng.integers(len(STREETS)))]
    tail = f"{street}{int(rng.integers(1, 300))}号"
    if rng.random() < 0.7:
        tail += (f"{GIVEN[int(rng.integers(len(GIVEN)))]}{COMMUNITY[int(rng.integers(len(COMMUNITY)))]}"
                 f"{int(rng.integers(1, 30))}栋{int(rng.integers(1, 6))}单元{int(rng.integers(101, 2800))}室")
    address = (region_name + tail)[:33]
    return CardData(name=name, sex=sex, nation=nation, birth=birth, address=address, id_number=number)


# Layout (pixels on the 856 x 540 card). Labels at x=LABEL_X; values start at VALUE_X.
LABEL_X = 62
VALUE_X = 160
ROW_Y = {"name": 62, "sex": 128, "birth": 192, "address": 256, "number": 448}
NATION_LABEL_X = 320
NATION_VALUE_X = 412
ADDRESS_CHARS_PER_LINE = 11
ADDRESS_LINE_H = 42
PHOTO_BOX = (590, 50, 810, 330)  # x0, y0, x1, y1
NUMBER_X = 300
LABEL_SIZE = 26
VALUE_SIZE = 32
NUMBER_SIZE = 36
LABEL_RGB = (40, 120, 185)
VALUE_RGB = (15, 15, 15)


def _spaced(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, font: ImageFont.FreeTypeFont,
            fill: tuple[int, int, int], spacing: int) -> int:
    x, y = xy
    for ch in text:
        draw.text((x, y), ch, font=font, fill=fill)
        x += int(draw.textlength(ch, font=font)) + spacing
    return x


def wrap_address(address: str) -> list[str]:
    n = ADDRESS_CHARS_PER_LINE
    return [address[i:i + n] for i in range(0, len(address), n)][:3]


def render_card(card: CardData, rng: np.random.Generator | None = None) -> np.ndarray:
    """The card face as a BGR image of CARD_W x CARD_H (corners outside the rounded card are white)."""
    rng = rng or np.random.default_rng(0)
    # Background: pale blue-beige gradient with a faint wave pattern and mild noise.
    yy, xx = np.mgrid[0:CARD_H, 0:CARD_W].astype(np.float32)
    tint = rng.uniform(-8, 8, size=3)
    base = np.empty((CARD_H, CARD_W, 3), np.float32)
    base[..., 0] = 236 + tint[0] - 10 * xx / CARD_W  # R
    base[..., 1] = 240 + tint[1] - 4 * yy / CARD_H  # G
    base[..., 2] = 236 + tint[2] + 8 * xx / CARD_W  # B
    wave = 4 * np.sin(xx / 23.0 + 3 * np.sin(yy / 41.0))
    base += wave[..., None]
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)

    lab = _font("cjk", LABEL_SIZE)
    val = _font("cjk", VALUE_SIZE)
    num = _font("number", NUMBER_SIZE)

    def label(x: int, y: int, text: str, spacing: int = 0) -> None:
        _spaced(draw, (x, y + 4), text, lab, LABEL_RGB, spacing)

    label(LABEL_X, ROW_Y["name"], "姓名", 14)
    draw.text((VALUE_X, ROW_Y["name"]), card.name, font=val, fill=VALUE_RGB)
    label(LABEL_X, ROW_Y["sex"], "性别", 14)
    draw.text((VALUE_X, ROW_Y["sex"]), card.sex, font=val, fill=VALUE_RGB)
    label(NATION_LABEL_X, ROW_Y["sex"], "民族", 14)
    draw.text((NATION_VALUE_X, ROW_Y["sex"]), card.nation, font=val, fill=VALUE_RGB)
    label(LABEL_X, ROW_Y["birth"], "出生", 14)
    b = card.birth
    x = VALUE_X
    y = ROW_Y["birth"]
    for part, unit in ((f"{b.year}", "年"), (f"{b.month}", "月"), (f"{b.day}", "日")):
        draw.text((x, y), part, font=val, fill=VALUE_RGB)
        x += int(draw.textlength(part, font=val)) + 10
        _spaced(draw, (x, y + 4), unit, lab, LABEL_RGB, 0)
        x += LABEL_SIZE + 18
    label(LABEL_X, ROW_Y["address"], "住址", 14)
    for i, line in enumerate(wrap_address(card.address)):
        draw.text((VALUE_X, ROW_Y["address"] + i * ADDRESS_LINE_H), line, font=val, fill=VALUE_RGB)
    label(LABEL_X, ROW_Y["number"] + 6, "公民身份号码", 2)
    _spaced(draw, (NUMBER_X, ROW_Y["number"]), card.id_number, num, VALUE_RGB, 4)

    # Photo placeholder: a grey box with a head-and-shoulders silhouette.
    x0, y0, x1, y1 = PHOTO_BOX
    photo = Image.new("RGB", (x1 - x0, y1 - y0), (214, 220, 226))
    pd = ImageDraw.Draw(photo)
    cx = (x1 - x0) // 2
    pd.ellipse((cx - 48, 50, cx + 48, 160), fill=(150, 156, 166))
    pd.ellipse((cx - 95, 170, cx + 95, y1 - y0 + 80), fill=(150, 156, 166))
    img.paste(photo, (x0, y0))

    arr = np.asarray(img, dtype=np.float32)
    arr += rng.normal(0, 2.5, size=arr.shape).astype(np.float32)
    out = cv2.cvtColor(np.clip(arr, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    # Rounded corners (white outside, so a frame placer can mask them).
    mask = card_mask()
    out[mask == 0] = 255
    return out


@functools.cache
def card_mask() -> np.ndarray:
    """255 inside the rounded card outline, 0 outside."""
    m = np.zeros((CARD_H, CARD_W), np.uint8)
    r = 32
    cv2.rectangle(m, (r, 0), (CARD_W - 1 - r, CARD_H - 1), 255, -1)
    cv2.rectangle(m, (0, r), (CARD_W - 1, CARD_H - 1 - r), 255, -1)
    for cx, cy in ((r, r), (CARD_W - 1 - r, r), (r, CARD_H - 1 - r), (CARD_W - 1 - r, CARD_H - 1 - r)):
        cv2.circle(m, (cx, cy), r, 255, -1)
    m.flags.writeable = False
    return m


@dataclass(frozen=True)
class FrameParams:
    """How a card is placed in a camera frame; ``severity`` 0..1 scales every degradation."""

    width: int = 1280
    height: int = 960
    severity: float = 0.5
    jpeg: bool = True


def place_in_frame(card_img: np.ndarray, rng: np.random.Generator, params: FrameParams | None = None
                   ) -> np.ndarray:
    """Put a rendered card on a desk background with rotation, perspective, blur, noise and JPEG."""
    p = params or FrameParams()
    s = float(np.clip(p.severity, 0.0, 1.0))
    W, H = p.width, p.height
    # Desk: a dark-ish textured surface.
    desk_color = rng.uniform(40, 110, size=3)
    desk = np.empty((H, W, 3), np.float32)
    desk[:] = desk_color
    desk += cv2.resize(rng.normal(0, 12, size=(H // 16, W // 16, 3)).astype(np.float32), (W, H))[..., :3]
    desk += rng.normal(0, 4, size=desk.shape).astype(np.float32)

    scale = rng.uniform(0.62, 0.80) * W / CARD_W
    angle = rng.uniform(-1, 1) * (2 + 10 * s)
    cw, ch = CARD_W * scale, CARD_H * scale
    cx = W / 2 + rng.uniform(-1, 1) * (W - cw) * 0.25
    cy = H / 2 + rng.uniform(-1, 1) * (H - ch) * 0.25
    src = np.array([[0, 0], [CARD_W, 0], [CARD_W, CARD_H], [0, CARD_H]], np.float32)
    half = np.array([[-cw / 2, -ch / 2], [cw / 2, -ch / 2], [cw / 2, ch / 2], [-cw / 2, ch / 2]])
    jitter = rng.uniform(-1, 1, size=(4, 2)) * (0.01 + 0.05 * s) * np.array([cw, ch])
    a = np.deg2rad(angle)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    dst = ((half + jitter) @ rot.T + np.array([cx, cy])).astype(np.float32)
    M = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(card_img, M, (W, H), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(card_mask(), M, (W, H), flags=cv2.INTER_LINEAR).astype(np.float32) / 255
    frame: np.ndarray = desk * (1 - mask[..., None]) + warped.astype(np.float32) * mask[..., None]

    # Lighting: a soft gradient and a global gain.
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    gx, gy = rng.uniform(-1, 1, size=2) * 0.15 * s
    frame *= (1 + gx * (xx / W - 0.5) + gy * (yy / H - 0.5))[..., None] * rng.uniform(0.9, 1.05)
    sigma = rng.uniform(0, 0.4 + 1.4 * s)
    if sigma > 0.3:
        frame = cv2.GaussianBlur(frame, (0, 0), sigma)
    frame += rng.normal(0, 1 + 5 * s, size=frame.shape).astype(np.float32)
    out: np.ndarray = np.clip(frame, 0, 255).astype(np.uint8)
    if p.jpeg:
        out = jpeg(out, int(rng.uniform(90 - 40 * s, 95)))
    return out


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` after a JPEG round trip at ``quality``."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    return image if dec is None else dec


@dataclass(frozen=True, repr=False)
class Sample:
    card: CardData
    image: np.ndarray  # BGR camera frame (or the flat card when not placed)

    def __repr__(self) -> str:
        return f"Sample(<fictional>, {self.image.shape})"


def generate(n: int, seed: int = 1, *, frame: bool = True, severity: float = 0.5) -> list[Sample]:
    """``n`` random fictional cards, each rendered and (by default) placed in a camera frame."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        card = random_card(rng)
        img = render_card(card, rng)
        if frame:
            img = place_in_frame(img, rng, FrameParams(severity=severity))
        out.append(Sample(card, img))
    return out


def render_mrz(lines: list[str], rng: np.random.Generator | None = None, *, char_px: int = 22,
               degrade: float = 0.0) -> np.ndarray:
    """An OCR-B-like MRZ band (monospace font, or OCR-B if installed) as a BGR image."""
    rng = rng or np.random.default_rng(0)
    font = _font("mono", int(char_px * 1.6))
    width = max(len(line) for line in lines)
    adv = round(font.getlength("<"))
    line_h = int(char_px * 2.3)
    W = adv * width + 40
    H = line_h * len(lines) + 30
    img = Image.new("RGB", (W, H), (236, 238, 232))
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((20, 15 + i * line_h), line, font=font, fill=(20, 20, 25))
    arr: np.ndarray = np.asarray(img, dtype=np.float32)
    if degrade > 0:
        angle = rng.uniform(-1, 1) * 1.5 * degrade
        M = cv2.getRotationMatrix2D((W / 2, H / 2), angle, 1.0)
        arr = cv2.warpAffine(arr, M, (W, H), borderMode=cv2.BORDER_REPLICATE)
        sigma = rng.uniform(0, 1.2 * degrade)
        if sigma > 0.3:
            arr = cv2.GaussianBlur(arr, (0, 0), sigma)
        arr += rng.normal(0, 2 + 6 * degrade, size=arr.shape).astype(np.float32)
    out: np.ndarray = cv2.cvtColor(np.clip(arr, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    if degrade > 0:
        out = jpeg(out, int(90 - 30 * degrade))
    return out
