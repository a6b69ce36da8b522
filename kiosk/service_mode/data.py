"""Undelivered submissions leaving the kiosk by hand, and the factory reset that must not lose them.

An export writes every undelivered outbox row (submissions, their attachment chunks, events) as the
envelopes the sync daemon would have published: their personal data is already sealed for the
central's key, so the files on the USB stick are unreadable to anyone but the central. A manifest
lists them with the file's SHA-256. The kiosk remembers what it exported (``{home}/exported.json``);
re-provisioning and factory reset refuse while an undelivered row is not in a verified export.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sync.device import DEVICE_FILE, OUTBOX_FILE, DeviceConfig, DeviceConfigError
from sync.kiosk_config import CONFIG_FILE
from sync.outbox.models import OutboxMessage, State
from sync.outbox.store import Outbox
from sync.runtime.files import write_private

log = logging.getLogger("kiosk.service")

EXPORT_FORMAT = "kiosk-undelivered/1"
EXPORTED_FILE = "exported.json"
UNDELIVERED = (State.PENDING, State.SENT)


class DataError(RuntimeError):
    """A refused export, reset or re-provisioning; ``message`` is for the technician's screen."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    count: int  # rows (attachment chunks included)
    submissions: int


def check_folder(folder: str | os.PathLike[str]) -> Path:
    """The folder the technician chose (a USB stick's mount point): it must exist and be writable."""
    text = os.fspath(folder).strip() if isinstance(folder, str) else os.fspath(folder)
    if not text:
        raise DataError("no_folder", "请选择导出目录（U 盘）")
    path = Path(text)
    if not path.is_dir():
        raise DataError("no_folder", "导出目录不存在，请插入 U 盘并确认路径")
    if not os.access(path, os.W_OK):
        raise DataError("read_only", "导出目录不可写，请检查 U 盘是否写保护")
    return path


def _rows(outbox: Outbox) -> list[OutboxMessage]:
    with Session(outbox.engine) as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.state.in_(UNDELIVERED))
                              .order_by(OutboxMessage.seq)))


def undelivered_ids(outbox: Outbox) -> set[str]:
    with Session(outbox.engine) as s:
        return set(s.scalars(select(OutboxMessage.id).where(OutboxMessage.state.in_(UNDELIVERED))))


def exported_ids(home: Path) -> set[str]:
    try:
        data = json.loads((home / EXPORTED_FILE).read_text(encoding="utf-8"))
        return {str(i) for i in data.get("ids", [])}
    except (OSError, ValueError, AttributeError):
        return set()


def not_exported(home: Path, outbox: Outbox) -> int:
    """Undelivered rows that no verified export holds."""
    return len(undelivered_ids(outbox) - exported_ids(home))




def export_undelivered(home: Path, outbox: Outbox, folder: str | os.PathLike[str],
                       device: DeviceConfig | None = None) -> ExportResult:
    """Write the undelivered rows to ``folder``/kiosk-undelivered-{device}-{time}/; read back and verified."""
    target = check_folder(folder)
    rows = _rows(outbox)
    if not rows:
        raise DataError("nothing", "没有未送达的数据，无需导出")
    if device is None:
        with contextlib.suppress(DeviceConfigError):
            device = DeviceConfig.load(home)
    device_id = device.device_id if device else "unprovisioned"
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = target / f"kiosk-undelivered-{device_id}-{stamp}"
    n = 1
    while out.exists():
        n += 1
        out = target / f"kiosk-undelivered-{device_id}-{stamp}-{n}"
    try:
        out.mkdir()
        lines = b"".join(r.body + b"\n" for r in rows if r.body is not None)
        digest = hashlib.sha256(lines).hexdigest()
        write_private(out / "envelopes.jsonl", lines)
        kinds: dict[str, int] = {}
        for r in rows:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        manifest: dict[str, Any] = {
            "format": EXPORT_FORMAT, "device_id": device_id, "site": device.site if device else "",
            "exported_at": time.time(), "count": len(rows), "kinds": kinds, "sha256": digest,
            "sealed_for": (hashlib.sha256(device.seal_public_key).hexdigest() if device else None),
            "messages": [{"id": r.id, "seq": r.seq, "kind": r.kind, "state": r.state, "created_at": r.created_at,
                          "parent_id": r.parent_id} for r in rows],
        }
        write_private(out / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
        # Verify what reached the stick before the kiosk counts it as exported.
        if hashlib.sha256((out / "envelopes.jsonl").read_bytes()).hexdigest() != digest:
            raise DataError("verify_failed", "导出文件校验失败，请更换 U 盘重试")
    except OSError as exc:
        shutil.rmtree(out, ignore_errors=True)
        raise DataError("write_failed", f"写入 U 盘失败（{type(exc).__name__}），请检查空间后重试") from exc
    except DataError:
        shutil.rmtree(out, ignore_errors=True)
        raise
    ids = sorted(exported_ids(home) | {r.id for r in rows})
    write_private(home / EXPORTED_FILE, json.dumps({"ids": ids, "last": out.name}).encode("utf-8"))
    log.info("exported %d undelivered messages to removable storage", len(rows))
    return ExportResult(out, len(rows), kinds.get("submission", 0))


def drop_exported(home: Path, outbox: Outbox) -> int:
    """Delete the undelivered rows a verified export holds (before re-provisioning); refuse otherwise."""
    if not_exported(home, outbox):
        raise DataError("undelivered", "还有未导出的未送达数据：请先导出到 U 盘")
    ids = list(undelivered_ids(outbox))
    if ids:
        with Session(outbox.engine) as s, s.begin():
            s.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
        log.info("%d exported messages removed from the outbox", len(ids))
    return len(ids)


def factory_reset(home: Path, outbox: Outbox | None = None) -> None:
    """Wipe identity, secrets (device key, broker secret, service PIN), outbox and settings.

    Refuses (:class:`DataError` ``undelivered``) while an undelivered row is not in a verified export.
    ``outbox``, if the caller has it open, is closed first; the caller reopens a fresh one.
    """
    own = outbox is None
    ob = outbox if outbox is not None else Outbox(home / OUTBOX_FILE)
    try:
        if not_exported(home, ob):
            raise DataError("undelivered", "还有未送达的申请：请先导出到 U 盘，再恢复出厂设置")
    finally:
        if own:
            ob.close()
    if outbox is not None:
        outbox.close()
    for name in (DEVICE_FILE, OUTBOX_FILE, OUTBOX_FILE + "-wal", OUTBOX_FILE + "-shm", OUTBOX_FILE + "-journal",
                 EXPORTED_FILE, CONFIG_FILE):
        (home / name).unlink(missing_ok=True)
    shutil.rmtree(home / "secrets", ignore_errors=True)
    log.warning("factory reset: identity, secrets, outbox and settings wiped")
