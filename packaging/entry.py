"""The one executable of the appliance bundle, dispatching to every command of the product.

The bundle ships one frozen interpreter (``street-kiosk``) and symlinks named after the public commands
(``kiosk``, ``kiosk-syncd``, ...): one copy of Qt, OpenCV and Python instead of five. The command is picked
from the name it was started as, or from the first argument (``street-kiosk kiosk-syncd --home ...``).

``street-kiosk -m MODULE ARGS`` runs a module as ``python -m`` would: the product starts its own helper
processes that way (the OTA guard runs ``sys.executable -m sync.ota ...``), and in a frozen bundle
``sys.executable`` is this program, not a Python interpreter. The bundle is the kiosk's: the central platform
(``kiosk-central``) and the development tools (``kiosk-sim``, ``kiosk demo``) are not in it.
"""

from __future__ import annotations

import importlib
import os
import runpy
import sys

COMMANDS = {
    "kiosk": "kiosk.cli",
    "kiosk-syncd": "sync.daemon.cli",
    "kiosk-scan": "drivers.scan_cli",
}
PROGRAM = "street-kiosk"
EXIT_SCHEMA = 3


def _usage() -> int:
    names = ", ".join(sorted(COMMANDS))
    print(f"usage: {PROGRAM} COMMAND [ARGS...] | {PROGRAM} -m MODULE [ARGS...]\ncommands: {names}", file=sys.stderr)
    return 2


def _bundle_info() -> int:
    """``street-kiosk --bundle-info``: what this bundle loads, as JSON (for technicians and the tests)."""
    import json

    from pyzbar import zbar_library

    from sync.daemon.service import APP_VERSION

    libzbar, _deps = zbar_library.load()
    base = getattr(sys, "_MEIPASS", os.path.dirname(os.path.abspath(__file__)))
    qt = os.path.join(base, "PySide6", "Qt")
    print(json.dumps({
        "version": APP_VERSION,
        "frozen": bool(getattr(sys, "frozen", False)),
        "zbar": libzbar._name,
        "ffmpeg_backend": os.path.exists(os.path.join(qt, "plugins", "multimedia", "libffmpegmediaplugin.so")),
        "virtual_keyboard": os.path.exists(os.path.join(qt, "plugins", "platforminputcontexts",
                                                        "libqtvirtualkeyboardplugin.so")),
        "pinyin": os.path.exists(os.path.join(qt, "qml", "QtQuick", "VirtualKeyboard", "Plugins", "Pinyin",
                                              "libqtvkbpinyinplugin.so")),
    }))
    return 0


def _native_check() -> int:
    """``street-kiosk --native-check``: use every native library the bundle shares between wheels and the
    system (packaging/native_libs.py), and the decoders the kiosk scans with, once each; JSON, exit 1 if one
    fails. What a symlinked copy could break shows here: a missing symbol fails the import, a wrong build the
    round trip."""
    import io
    import json

    results: dict[str, object] = {}

    def check(name: str, run: object) -> None:
        try:
            results[name] = bool(run())  # type: ignore[operator]
        except Exception as exc:  # reported, not raised: the JSON says which library failed and how
            results[name] = f"{type(exc).__name__}: {exc}"[:300]

    import cv2
    import numpy as np
    import zxingcpp
    from PIL import Image, ImageDraw, ImageFont
    from pyzbar import pyzbar

    text = "KIOSK-NATIVE-CHECK"
    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode).to_image(scale=8)
    image = np.ascontiguousarray(np.asarray(code.convert("L") if hasattr(code, "convert") else code, np.uint8))

    def png_round_trip() -> bool:  # OpenCV's libpng, the one kept for Pillow and the system's users too
        ok, data = cv2.imencode(".png", image)
        decoded = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
        return ok and decoded is not None and np.array_equal(decoded, image)

    def pillow_codecs() -> bool:  # PNG (OpenCV's libpng), JPEG, TIFF (libtiff needs the shared zstd, lzma), WebP
        for fmt, options in (("PNG", {}), ("JPEG", {"quality": 95}), ("TIFF", {"compression": "tiff_adobe_deflate"}),
                             ("WEBP", {"lossless": True})):
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, fmt, **options)
            buffer.seek(0)
            if Image.open(buffer).convert("L").size != image.shape[::-1]:
                return False
        return True

    def freetype_text() -> bool:  # Pillow's FreeType (with brotli, png, harfbuzz): the one Qt and the system use
        canvas = Image.new("L", (200, 60))
        ImageDraw.Draw(canvas).text((5, 5), "Kiosk 0123", fill=255, font=ImageFont.load_default(size=32))
        return canvas.getbbox() is not None

    def qt_text_and_ffmpeg() -> bool:  # QtGui over the shared FreeType/zstd; the FFmpeg multimedia backend
        from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter
        from PySide6.QtMultimedia import QMediaFormat

        app = QGuiApplication.instance() or QGuiApplication(["street-kiosk", "-platform", "offscreen"])
        canvas = QImage(200, 60, QImage.Format.Format_ARGB32)
        canvas.fill(QColor("white"))
        painter = QPainter(canvas)
        painter.setFont(QFont("sans", 24))
        painter.drawText(5, 40, "Kiosk 0123")
        painter.end()
        drawn = any(canvas.pixelColor(x, y) != QColor("white") for x in range(0, 200, 2) for y in range(0, 60, 2))
        formats = QMediaFormat().supportedFileFormats(QMediaFormat.ConversionMode.Decode)
        return drawn and len(formats) > 0 and app is not None

    check("numpy_blas", lambda: np.allclose(np.linalg.solve(np.eye(3) * 2.0, np.ones(3)), 0.5))
    check("opencv_lapack", lambda: cv2.solve(np.eye(3) * 2.0, np.ones((3, 1)), flags=cv2.DECOMP_SVD)[0])
    check("opencv_png", png_round_trip)
    check("opencv_qr", lambda: cv2.QRCodeDetector().detectAndDecode(image)[0] == text)
    check("zxingcpp", lambda: [r.text for r in zxingcpp.read_barcodes(image)] == [text])
    check("pyzbar", lambda: [r.data.decode() for r in pyzbar.decode(Image.fromarray(image))] == [text])
    check("pillow_codecs", pillow_codecs)
    check("pillow_freetype", freetype_text)
    check("qt_text_and_ffmpeg", qt_text_and_ffmpeg)
    print(json.dumps(results))
    return 0 if all(v is True for v in results.values()) else 1


def main() -> int:
    name = os.path.basename(sys.argv[0])
    args = sys.argv[1:]
    if name not in COMMANDS:
        if args[:1] == ["-m"] and len(args) >= 2:
            module = args[1]
            sys.argv = [module, *args[2:]]
            runpy.run_module(module, run_name="__main__", alter_sys=True)
            return 0
        if args[:1] == ["--bundle-info"]:
            return _bundle_info()
        if args[:1] == ["--native-check"]:
            return _native_check()
        if args[:1] == ["--version"]:
            from sync.daemon.service import APP_VERSION

            print(APP_VERSION)
            return 0
        if not args or args[0] not in COMMANDS:
            return _usage()
        name = args.pop(0)
        sys.argv = [name, *args]
    from sync.runtime.upgrade import SchemaError

    module = importlib.import_module(COMMANDS[name])
    try:
        return int(module.main(args) or 0)
    except SchemaError as exc:
        # The database cannot be used by this release (newer schema, failed migration): say so in one line
        # for the journal and the technician, and exit with a code systemd and scripts can tell apart.
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_SCHEMA


if __name__ == "__main__":
    raise SystemExit(main())
