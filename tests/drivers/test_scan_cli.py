"""kiosk-scan: JSON shape, human output and error entries (no tracebacks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import segno

from drivers.scan_cli import main

ROOT = Path(__file__).resolve().parents[2]


def _write_qr(path: Path, qr: segno.QRCode) -> None:
    m = np.pad(np.array(qr.matrix, np.uint8), 4)
    img = np.kron(np.where(m == 1, 0, 255).astype(np.uint8), np.ones((5, 5), np.uint8))
    frame = np.full((480, 640, 3), 200, np.uint8)
    frame[40:40 + img.shape[0], 60:60 + img.shape[1]] = img[:, :, None]
    assert cv2.imwrite(str(path), frame)


def _lines(capsys) -> list[dict]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_json_shape_and_chinese(tmp_path, capsys):
    gbk = tmp_path / "gbk.png"
    _write_qr(gbk, segno.make_qr("街道便民服务中心".encode("gbk")))
    binary = tmp_path / "bin.png"
    _write_qr(binary, segno.make_qr(b"\x00\x01\xfe\xff binary"))
    empty = tmp_path / "empty.png"
    cv2.imwrite(str(empty), np.full((100, 100), 255, np.uint8))
    assert main([str(gbk), str(binary), str(empty), "--json"]) == 0
    entries = _lines(capsys)
    assert [e["file"] for e in entries] == [str(gbk), str(binary), str(empty)]
    for e in entries:
        assert set(e) == {"file", "codes", "error"}
        assert e["error"] is None
        for c in e["codes"]:
            assert set(c) == {"format", "text", "bytes_hex", "charset"}
    [c] = entries[0]["codes"]
    assert c == {"format": "QRCode", "text": "街道便民服务中心",
                 "bytes_hex": "街道便民服务中心".encode("gbk").hex(), "charset": "gb18030"}
    [c] = entries[1]["codes"]
    assert c["text"] is None and c["charset"] is None
    assert bytes.fromhex(c["bytes_hex"]) == b"\x00\x01\xfe\xff binary"
    assert entries[2]["codes"] == []


def test_still_mode_reads_other_formats(tmp_path, capsys):
    import zxingcpp

    code = np.asarray(zxingcpp.create_barcode("KR-20241127-A1B2-000123-7", zxingcpp.BarcodeFormat.Code128)
                      .to_image(scale=2, add_quiet_zones=True))
    if code.ndim == 3:
        code = code[:, :, 0]
    h, w = code.shape
    img = np.full((h + 100, w + 100), 255, np.uint8)
    img[50:50 + h, 50:50 + w] = code
    path = tmp_path / "code128.png"
    cv2.imwrite(str(path), img)
    assert main([str(path), "--json"]) == 0
    [e] = _lines(capsys)
    assert [c["format"] for c in e["codes"]] == ["Code128"]
    assert e["codes"][0]["text"] == "KR-20241127-A1B2-000123-7"


def test_errors_are_entries_not_tracebacks(tmp_path, capsys):
    missing = tmp_path / "missing.png"
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is not an image")
    good = tmp_path / "ok.png"
    _write_qr(good, segno.make_qr("HELLO"))
    assert main([str(missing), str(not_image), str(tmp_path), str(good), "--json"]) == 1
    entries = _lines(capsys)
    assert len(entries) == 4
    assert entries[0]["codes"] == [] and "FileNotFoundError" in entries[0]["error"]
    assert "not a readable image" in entries[1]["error"]
    assert entries[2]["error"]
    assert entries[3]["error"] is None and entries[3]["codes"][0]["text"] == "HELLO"


def test_human_output(tmp_path, capsys):
    good = tmp_path / "ok.png"
    _write_qr(good, segno.make_qr("HELLO"))
    assert main([str(good), str(tmp_path / "nope.png")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{good}: QRCode [utf-8] HELLO"
    assert out[1].startswith(f"{tmp_path / 'nope.png'}: error:")


def test_module_entry_point(tmp_path):
    good = tmp_path / "ok.png"
    _write_qr(good, segno.make_qr("街道", encoding="utf-8"))
    proc = subprocess.run([sys.executable, "-m", "drivers.scan_cli", str(good), "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    [line] = proc.stdout.splitlines()
    assert json.loads(line)["codes"][0]["text"] == "街道"


# -- limits on what is decoded (issue 13, item 11) --------------------------------------------------------------


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims ``width`` x ``height`` with almost no pixel data: what a decompression bomb
    looks like to a reader that trusts the header."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 4)  # four rows of a grey picture, then nothing
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def _big_blank_png(path: Path, width: int, height: int) -> None:
    """A real, valid, small-on-disk PNG with many pixels (one bit each)."""
    from PIL import Image

    Image.new("1", (width, height), 1).save(path, optimize=True)


def test_an_empty_file_is_an_error_entry_not_a_traceback(tmp_path, capsys):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert main([str(empty), "--json"]) == 1
    [e] = _lines(capsys)
    assert e["codes"] == [] and "empty" in e["error"]


def test_an_image_over_the_pixel_cap_is_refused_before_it_is_decoded(tmp_path, capsys):
    from drivers.still_image import MAX_PIXELS

    big = tmp_path / "big.png"
    _big_blank_png(big, 8000, MAX_PIXELS // 8000 + 1)  # just over the cap, a few hundred KB on disk
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 30000, 30000)  # the 5.4 GB, 22 s case of the issue, without its pixels
    good = tmp_path / "ok.png"
    _write_qr(good, segno.make_qr("HELLO"))
    assert main([str(big), str(bomb), str(good), "--json"]) == 1
    big_e, bomb_e, good_e = _lines(capsys)
    assert "too large" in big_e["error"] and "megapixels" in big_e["error"]
    assert "too large" in bomb_e["error"] and "megapixels" in bomb_e["error"]
    assert good_e["error"] is None and good_e["codes"][0]["text"] == "HELLO"


def test_an_image_at_the_cap_is_decoded(tmp_path, capsys):
    from drivers.still_image import read_still

    edge = tmp_path / "edge.png"
    _big_blank_png(edge, 4000, 3000)  # a document camera's 12 megapixels
    assert read_still(edge).shape[:2] == (3000, 4000)


def test_provision_from_a_bad_qr_image_is_a_clear_error(tmp_path, capsys):
    from kiosk.cli import main as kiosk_main

    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 30000, 30000)
    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    for path, words in ((empty, "empty"), (bomb, "too large"), (junk, "not a readable image"),
                        (tmp_path / "missing.png", "no such file")):
        assert kiosk_main(["provision", "--home", str(tmp_path / "home"), "--qr", str(path)]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and "cv2.error" not in err, err
