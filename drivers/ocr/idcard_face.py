"""Read the personal-information face of a resident ID card from a camera image.

Pipeline: find the card (largest bright quadrilateral with the card's aspect ratio) and warp it to the
canonical 856 x 540 card; OCR it; group the recognised lines into rows; pick the fields by their labels
(姓名 性别 民族 出生 住址 公民身份号码), falling back to the card's fixed layout when a label is not
read. The ID number is trusted only when it passes GB 11643 validation; the usual OCR letter/digit
confusions are mapped only to find a number whose check character already matches, never to invent one.
The printed birth date and sex are checked against the number.

Errors are :class:`OcrIdError` (a ValueError) subclasses whose messages never contain card contents.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from drivers import idnumber
from drivers.health import Health
from drivers.idcard.textblock import ETHNIC_GROUPS
from drivers.interfaces import FrameSource, IdentityRecord
from drivers.ocr import synth
from drivers.ocr.engine import OcrEngine, OcrEngineUnavailableError, OcrLine, default_engine

log = logging.getLogger(__name__)

CARD_W, CARD_H = synth.CARD_W, synth.CARD_H
CARD_ASPECT = 85.6 / 54.0


class OcrIdError(ValueError):
    """The card face could not be read; ``code`` is a stable machine-readable reason."""

    code = "ocr"


class CardNotFoundError(OcrIdError):
    code = "no-card"

    def __init__(self) -> None:
        super().__init__("未识别到身份证，请将身份证人像信息面朝上平放 / no ID card face found; "
                         "place the card flat, information side up")


class IdNumberUnreadableError(OcrIdError):
    code = "id-number"

    def __init__(self, reason: str = "unreadable") -> None:
        super().__init__(f"身份证号码无法识别，请调整位置后重试 / ID number could not be read ({reason})")
        self.reason = reason


class FieldUnreadableError(OcrIdError):
    code = "field"

    def __init__(self, field: str) -> None:
        super().__init__(f"身份证信息无法识别：{field} / card field could not be read: {field}")
        self.field = field


class FieldMismatchError(OcrIdError):
    code = "mismatch"

    def __init__(self, field: str) -> None:
        super().__init__(f"身份证信息与号码不一致：{field}，请重新拍摄 / printed {field} disagrees with the "
                         "ID number; retake the photo")
        self.field = field


# --- ID number -------------------------------------------------------------------------------

# Letters OCR engines return for digits; each maps to exactly one digit, so mapping never multiplies
# candidates. "x" and look-alikes of X are accepted only in the check position.
DIGIT_CONFUSIONS = {
    "O": "0", "o": "0", "D": "0", "Q": "0",
    "I": "1", "l": "1", "i": "1", "|": "1", "!": "1",
    "Z": "2", "z": "2",
    "S": "5", "s": "5",
    "B": "8",
}
CHECK_X = {"X", "x", "×", "✕", "Х", "х"}  # the last two are Cyrillic
_RUN_CHARS = set("0123456789") | set(DIGIT_CONFUSIONS) | CHECK_X
MIN_REAL_DIGITS = 14  # of the first 17 characters: keeps words like "ISBOSZ..." from becoming numbers


def _map_candidate(raw: str) -> str | None:
    out = []
    for ch in raw[:17]:
        if ch.isdigit():
            out.append(ch)
        elif ch in DIGIT_CONFUSIONS:
            out.append(DIGIT_CONFUSIONS[ch])
        else:
            return None
    last = raw[17]
    if last.isdigit():
        out.append(last)
    elif last in CHECK_X:
        out.append("X")
    elif last in DIGIT_CONFUSIONS:
        out.append(DIGIT_CONFUSIONS[last])
    else:
        return None
    if sum(c.isdigit() for c in raw[:17]) < MIN_REAL_DIGITS:
        return None
    return "".join(out)


def _runs(text: str) -> list[str]:
    runs, cur = [], ""
    for ch in text:
        if ch in _RUN_CHARS:
            cur += ch
        else:
            if cur:
                runs.append(cur)
            cur = ""
    if cur:
        runs.append(cur)
    return runs


def find_id_numbers(texts: list[str]) -> set[str]:
    """Every distinct valid ID number in the texts (after the confusion mapping). Exact 18-character runs
    are preferred; longer runs are searched only when no exact run validates."""
    exact: set[str] = set()
    longer: set[str] = set()
    for t in texts:
        clean = re.sub(r"[\s\-_.·]", "", unicodedata.normalize("NFKC", t))
        for run in _runs(clean):
            if len(run) < 18:
                continue
            target = exact if len(run) == 18 else longer
            for i in range(len(run) - 17):
                cand = _map_candidate(run[i:i + 18])
                if cand is not None and idnumber.is_valid(cand):
                    target.add(cand)
    return exact or longer


# --- card finding -----------------------------------------------------------------------------

def _order_corners(pts: np.ndarray) -> np.ndarray:
    """Corners as top-left, top-right, bottom-right, bottom-left, with the long edge on top."""
    pts = pts.reshape(4, 2).astype(np.float32)
    c = pts.mean(axis=0)
    ang = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])
    pts = pts[np.argsort(ang)]  # clockwise in image coordinates, starting near "left"
    # Start at the corner closest to the image's top-left.
    start = int(np.argmin(pts.sum(axis=1)))
    pts = np.roll(pts, -start, axis=0)
    top = np.linalg.norm(pts[1] - pts[0])
    side = np.linalg.norm(pts[3] - pts[0])
    if side > top:  # card stands on its short edge: rotate the labelling by one corner
        pts = np.roll(pts, -1, axis=0)
    return pts


def _quad_from_contour(cnt: np.ndarray) -> np.ndarray:
    hull = cv2.convexHull(cnt)
    peri = cv2.arcLength(hull, True)
    for eps in (0.02, 0.03, 0.04, 0.06):
        approx = cv2.approxPolyDP(hull, eps * peri, True)
        if len(approx) == 4:
            return approx.reshape(4, 2).astype(np.float32)
    # Rounded corners or a clipped corner: fall back to the rotated bounding rectangle.
    box: np.ndarray = cv2.boxPoints(cv2.minAreaRect(hull))
    return box.astype(np.float32)


def find_card(image: np.ndarray) -> np.ndarray | None:
    """The four card corners in image coordinates (ordered), or None when no card-like shape is found."""
    h, w = image.shape[:2]
    scale = 640.0 / max(h, w) if max(h, w) > 640 else 1.0
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    gray = cv2.GaussianBlur(gray, (5, 5), 0)
    area = gray.shape[0] * gray.shape[1]
    masks = []
    _, otsu = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    masks.append(cv2.morphologyEx(otsu, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8)))
    edges = cv2.Canny(gray, 30, 90)
    masks.append(cv2.dilate(edges, np.ones((3, 3), np.uint8), iterations=2))
    best: tuple[float, np.ndarray] | None = None
    for m in masks:
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for cnt in contours:
            a = cv2.contourArea(cv2.convexHull(cnt))
            if a < 0.12 * area or a > 0.98 * area:
                continue
            quad = _quad_from_contour(cnt)
            q = _order_corners(quad)
            long_side = (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2
            short_side = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
            if short_side <= 0:
                continue
            aspect = float(long_side / short_side)
            if not 1.25 < aspect < 2.0:
                continue
            fill = a / max(cv2.contourArea(q), 1.0)
            score = float(a) * (1 - abs(aspect - CARD_ASPECT) / CARD_ASPECT) * min(fill, 1 / max(fill, 1e-6))
            if best is None or score > best[0]:
                best = (score, q)
    if best is None:
        return None
    return best[1] / scale


def warp_card(image: np.ndarray, corners: np.ndarray) -> np.ndarray:
    dst = np.array([[0, 0], [CARD_W - 1, 0], [CARD_W - 1, CARD_H - 1], [0, CARD_H - 1]], np.float32)
    M = cv2.getPerspectiveTransform(corners.astype(np.float32), dst)
    return cv2.warpPerspective(image, M, (CARD_W, CARD_H), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)


# --- field extraction -------------------------------------------------------------------------

LABELS = {
    "name": "姓名",
    "sex": "性别",
    "nation": "民族",
    "birth": "出生",
    "address": "住址",
    "number": "公民身份号码",
}
# Traditional forms a recogniser trained on mixed data sometimes returns (seen: 漢 for 汉).
TRADITIONAL = str.maketrans("漢滿維爾壯鮮東鄉納達錫倫門獨龍羅薩華國號區縣鎮單樓開發廣寧陽",
                            "汉满维尔壮鲜东乡纳达锡伦门独龙罗萨华国号区县镇单楼开发广宁阳")
_NATIONS_BY_LEN = sorted(ETHNIC_GROUPS, key=len, reverse=True)
_CJK = re.compile(r"[\u3400-\u9fff·•]")


@dataclass
class _Row:
    lines: list[OcrLine]

    @property
    def y0(self) -> float:
        return min(ln.y0 for ln in self.lines)

    @property
    def y1(self) -> float:
        return max(ln.y1 for ln in self.lines)

    @property
    def x0(self) -> float:
        return min(ln.x0 for ln in self.lines)

    @property
    def text(self) -> str:
        return "".join(_squash(ln.text) for ln in sorted(self.lines, key=lambda ln: ln.x0))


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).translate(TRADITIONAL)


def _rows(lines: list[OcrLine]) -> list[_Row]:
    rows: list[_Row] = []
    for ln in sorted(lines, key=lambda ln: ln.cy):
        for r in rows:
            overlap = min(r.y1, ln.y1) - max(r.y0, ln.y0)
            if overlap > 0.5 * min(ln.height, r.y1 - r.y0):
                r.lines.append(ln)
                break
        else:
            rows.append(_Row([ln]))
    rows.sort(key=lambda r: r.y0)
    return rows


def _strip_label(text: str, label: str) -> str | None:
    """The text after ``label`` when the text starts with it (one wrong character allowed for 2-char
    labels, as long as the other one is right); None otherwise."""
    if text.startswith(label):
        return text[len(label):]
    if len(label) == 2 and len(text) >= 2 and (text[0] == label[0]) != (text[1] == label[1]):
        other = text[1] if text[0] == label[0] else text[0]
        if not other.isdigit() and other not in "男女":
            return text[2:]
    if len(label) > 2:
        i = text.find(label[-4:])
        if 0 <= i <= 3:
            return text[i + 4:]
    return None


@dataclass(frozen=True, repr=False)
class FaceRead:
    """A successful read: the record, plus what could not be checked (confirm those on screen)."""

    record: IdentityRecord
    card_found: bool  # the card outline was found and warped
    unchecked: tuple[str, ...]  # fields with no check digit: always name and address, usually nation
    derived: tuple[str, ...]  # fields taken from the ID number because the printed one was unreadable

    def __repr__(self) -> str:
        return f"FaceRead(<personal data>, card_found={self.card_found}, derived={self.derived})"


def _find_label_rows(rows: list[_Row]) -> dict[str, tuple[int, str]]:
    """field -> (row index, text after the label)."""
    found: dict[str, tuple[int, str]] = {}
    for i, r in enumerate(rows):
        t = r.text
        for field in ("name", "sex", "birth", "address", "number"):
            if field in found:
                continue
            rest = _strip_label(t, LABELS[field])
            if rest is not None:
                found[field] = (i, rest)
                break
        j = t.find("民族")
        if "nation" not in found and j >= 0:
            found["nation"] = (i, t[j + 2:])
        if "sex" in found and found["sex"][0] == i and j >= 0:
            found["sex"] = (i, found["sex"][1].split("民族")[0])
    return found


def _layout_rows(rows: list[_Row], warped: bool) -> dict[str, int]:
    """Rows by their position on a warped card, for fields whose label was not read."""
    if not warped:
        return {}
    out: dict[str, int] = {}
    for field, y in (("name", synth.ROW_Y["name"]), ("sex", synth.ROW_Y["sex"]),
                     ("birth", synth.ROW_Y["birth"]), ("address", synth.ROW_Y["address"])):
        yc = y + synth.VALUE_SIZE * 0.6
        for i, r in enumerate(rows):
            if r.y0 - 8 <= yc <= r.y1 + 8:
                out[field] = i
                break
    return out


def _parse_birth(text: str) -> str | None:
    m = re.search(r"(\d{4})\D{0,3}(\d{1,2})\D{0,3}(\d{1,2})", text)
    if not m:
        return None
    y, mo, d = (int(g) for g in m.groups())
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return None
    return f"{y:04d}{mo:02d}{d:02d}"


def _nation(text: str) -> str:
    t = "".join(_CJK.findall(text))
    if t in ETHNIC_GROUPS:
        return t
    for n in _NATIONS_BY_LEN:
        if t.startswith(n):
            return n
    return ""


def _clean_name(text: str) -> str:
    return "".join(_CJK.findall(text)).replace("•", "·").strip("·")


def extract_fields(lines: list[OcrLine], *, warped: bool, today: dt.date | None = None) -> FaceRead:
    """Fields from OCR lines of a card face (warped to CARD_W x CARD_H when ``warped``)."""
    if not lines:
        raise CardNotFoundError()
    rows = _rows(lines)
    labels = _find_label_rows(rows)
    layout = _layout_rows(rows, warped)

    numbers = find_id_numbers([r.text for r in rows] + [ln.text for ln in lines])
    if len(numbers) > 1:
        raise IdNumberUnreadableError("ambiguous")
    if not numbers:
        raise IdNumberUnreadableError("no valid number")
    info = idnumber.parse(numbers.pop(), today=today)

    def value(field: str) -> tuple[int | None, str]:
        if field in labels:
            return labels[field]
        if field in layout:
            i = layout[field]
            t = rows[i].text
            return i, t
        return None, ""

    derived: list[str] = []
    unchecked = ["name", "address"]

    _, name_raw = value("name")
    name = _clean_name(name_raw)
    if not name or len(name) > 15:
        raise FieldUnreadableError("name")

    _, sex_raw = value("sex")
    sex_read = next((c for c in sex_raw if c in "男女"), "")
    if sex_read and sex_read != info.sex:
        raise FieldMismatchError("sex")
    if not sex_read:
        derived.append("sex")

    _, birth_raw = value("birth")
    birth_read = _parse_birth(birth_raw)
    birth_num = f"{info.birth_date:%Y%m%d}"
    if birth_read and birth_read != birth_num:
        raise FieldMismatchError("birth_date")
    if not birth_read:
        derived.append("birth_date")

    _, nation_raw = value("nation")
    nation = _nation(nation_raw)
    unchecked.append("nation")

    address = _address(rows, labels, layout, warped)
    if len(address) < 4:
        raise FieldUnreadableError("address")

    record = IdentityRecord(name=name, id_number=info.number, sex=info.sex, nation=nation,
                            birth_date=birth_num, address=address, source="camera")
    return FaceRead(record, warped, tuple(unchecked), tuple(derived))


def _address(rows: list[_Row], labels: dict[str, tuple[int, str]], layout: dict[str, int], warped: bool) -> str:
    if "address" in labels:
        start, first = labels["address"]
    elif "address" in layout:
        start, first = layout["address"], rows[layout["address"]].text
    else:
        return ""
    parts = [first]
    first_x = rows[start].x0
    value_x = min((ln.x0 for ln in rows[start].lines if _strip_label(_squash(ln.text), "住址") != ""),
                  default=first_x)
    line_h = max(rows[start].y1 - rows[start].y0, 1.0)
    prev_y1 = rows[start].y1
    for r in rows[start + 1:start + 4]:
        t = r.text
        if _strip_label(t, LABELS["number"]) is not None or find_id_numbers([t]):
            break
        if r.y0 - prev_y1 > 1.2 * line_h:  # a gap: the address block has ended
            break
        if warped and r.x0 > synth.PHOTO_BOX[0] - 10:
            continue
        if r.x0 < value_x - 1.5 * line_h:  # starts in the label column: another field
            break
        parts.append(t)
        prev_y1 = r.y1
    text = "".join(parts)
    return "".join(ch for ch in text if ch.isalnum() or ch in "-－#()（）·")


# --- the reader -------------------------------------------------------------------------------

def read_card_face(image: np.ndarray, engine: OcrEngine | None = None, *,
                   today: dt.date | None = None) -> FaceRead:
    """Find, OCR and parse the card face in a BGR camera image.

    Raises :class:`OcrIdError` subclasses (bad photo, unreadable or invalid number, mismatch) or
    :class:`~drivers.ocr.engine.OcrEngineUnavailableError` (the engine itself cannot run).
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise CardNotFoundError()
    eng = engine or default_engine()
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    corners = find_card(image)
    if corners is not None:
        card = warp_card(image, corners)
        attempts = [(card, True), (cv2.rotate(card, cv2.ROTATE_180), True)]
    else:
        h, w = image.shape[:2]
        s = min(1.0, 1600.0 / max(h, w))
        img = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else image
        attempts = [(img, False)]
    first_error: OcrIdError | None = None
    for img, warped in attempts:
        try:
            return extract_fields(eng.recognize(img), warped=warped, today=today)
        except OcrIdError as e:
            if first_error is None:
                first_error = e
            # Only an upside-down card (no labels, no number) is worth the second OCR pass.
            if not isinstance(e, IdNumberUnreadableError | CardNotFoundError):
                break
    assert first_error is not None
    raise first_error


class OcrIdReader:
    """ID card by camera: an :class:`~drivers.interfaces.IdCardReader` over a frame source, or for
    still images with :meth:`read_image`. Health: ok after a read or self-test, failed when the engine
    cannot run; a bad photo is the resident's, not the device's, problem and leaves health alone."""

    def __init__(self, engine: OcrEngine | None = None, frames: FrameSource | None = None, *,
                 name: str = "idcard.camera", poll_s: float = 0.2) -> None:
        self.name = name
        self.health = Health(name)
        self.engine = engine or default_engine()
        self.frames = frames
        self.poll_s = poll_s
        self.last_read: FaceRead | None = None
        self._lock = threading.Lock()

    def read_face(self, image: np.ndarray) -> FaceRead:
        with self._lock:
            try:
                res = read_card_face(image, self.engine)
            except OcrEngineUnavailableError as e:
                self.health.failed(f"engine: {e}")
                raise
            except OcrIdError as e:
                log.info("camera ID read failed: %s", e.code)
                raise
            self.health.ok()
            self.last_read = res
            return res

    def read_image(self, image: np.ndarray) -> IdentityRecord:
        return self.read_face(image).record

    def read_card(self, timeout_s: float = 5.0) -> IdentityRecord | None:
        """Read frames from the frame source until a card face reads, or ``timeout_s`` passes."""
        if self.frames is None:
            raise RuntimeError("OcrIdReader has no frame source")
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while time.monotonic() < deadline:
            frame = self.frames.latest()
            if frame is not None and frame is not last:
                last = frame
                try:
                    return self.read_image(frame)
                except OcrIdError:
                    pass
            time.sleep(self.poll_s)
        return None

    def selftest(self) -> dict[str, Any]:
        """OCR the built-in fictional card (flat and placed in a camera frame)."""
        t0 = time.perf_counter()
        rng = np.random.default_rng(2024)
        img = synth.place_in_frame(synth.render_card(synth.SAMPLE_CARD, rng), rng,
                                   synth.FrameParams(severity=0.3))
        report: dict[str, Any] = {"ok": False, "engine": getattr(self.engine, "name", "?")}
        try:
            res = read_card_face(img, self.engine)
            ok = res.record.id_number == synth.SAMPLE_CARD.id_number and res.record.name == synth.SAMPLE_CARD.name
            report["ok"] = ok
            if not ok:
                report["error"] = "selftest card misread"
        except OcrEngineUnavailableError as e:
            report["error"] = f"engine: {e}"
        except OcrIdError as e:
            report["error"] = e.code
        report["ms"] = round((time.perf_counter() - t0) * 1000, 1)
        if report["ok"]:
            self.health.ok()
        else:
            self.health.failed(f"selftest: {report['error']}")
        return report

    def close(self) -> None:
        pass
