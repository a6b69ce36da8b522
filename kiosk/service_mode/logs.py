"""The kiosk's log file, its last lines for the service screen, and its export to a USB folder.

Log messages never carry personal data by construction (modules log ids, counts and error kinds;
see ``sync.runtime.logconfig``), so the viewer shows them as they are. ``kiosk run`` adds a rotating file
``{home}/logs/kiosk.log`` (0600) to the console logging.
"""

from __future__ import annotations

import datetime as dt
import logging
import logging.handlers
import os
import shutil
from pathlib import Path

from kiosk.service_mode.data import DataError, check_folder
from sync.device import DeviceConfig, DeviceConfigError

LOG_DIR = "logs"
LOG_FILE = "kiosk.log"
MAX_BYTES = 1024 * 1024
BACKUPS = 3
TAIL_BYTES = 256 * 1024
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_path(home: Path) -> Path:
    return home / LOG_DIR / LOG_FILE


def install_log_file(home: Path, level: int = logging.INFO) -> logging.Handler:
    """Add the rotating log file to the root logger (once per path)."""
    path = log_path(home)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    root = logging.getLogger()
    for h in root.handlers:
        if isinstance(h, logging.handlers.RotatingFileHandler) and Path(h.baseFilename) == path.resolve():
            return h
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    os.chmod(path, 0o600)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(level)
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    return handler


def tail(home: Path, n: int = 200) -> list[str]:
    """The last ``n`` lines of the log file (reads at most the last 256 KiB); [] when there is none."""
    path = log_path(home)
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - TAIL_BYTES))
            data = f.read()
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    if len(data) == TAIL_BYTES and lines:
        lines = lines[1:]  # the first line was cut in the middle
    return lines[-n:]


def export_logs(home: Path, folder: str | os.PathLike[str]) -> Path:
    """Copy the log file and its rotations into ``folder``/kiosk-logs-{device id}-{time}/ (named after the
    kiosk, so a stick with several kiosks' logs says whose is whose)."""
    target = check_folder(folder)
    files = sorted(log_path(home).parent.glob(LOG_FILE + "*")) if log_path(home).parent.exists() else []
    if not files:
        raise DataError("no_logs", "本机还没有日志文件")
    try:
        device_id = DeviceConfig.load(home).device_id
    except DeviceConfigError:
        device_id = "unprovisioned"
    out = target / f"kiosk-logs-{device_id}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    try:
        out.mkdir(exist_ok=True)
        for f in files:
            shutil.copyfile(f, out / f.name)
    except OSError as exc:
        raise DataError("write_failed", f"写入 U 盘失败（{type(exc).__name__}），请检查空间后重试") from exc
    return out
