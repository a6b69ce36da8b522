"""Importing a kiosk's export of undelivered messages (``kiosk/service_mode/data.py``) at the central.

A technician exports what a kiosk could not deliver (a dead network, a kiosk going to be re-provisioned or
reset) to a USB stick: ``kiosk-undelivered-{device}-{time}/envelopes.jsonl`` holds the envelopes exactly as
the sync daemon would publish them (personal data sealed for this central, each signed by the kiosk's device
key) and ``manifest.json`` the device, the file's SHA-256 and the digest of the central key it is sealed for.

Each envelope goes through the same path as one arriving from the broker: form, device signature against the
key the kiosk enrolled, opening, then ``CentralStore.apply`` (idempotent by message id, sequence numbers
accounted for). So an export imported twice, or after the kiosk delivered the same rows itself, stores
nothing twice; a forged or edited line is refused and stores nothing. Telemetry is skipped: an old heartbeat
says nothing about the kiosk now, and neither does an import (devices' ``last_seen`` stays as it was).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from central.fleet_models import AuditEntry
from central.keys import CentralKeys
from central.messages import DeviceKeys, Incoming, Refused, parse
from central.models import AttachmentChunk, AttachmentFile, Event, Submission
from central.store import CentralStore
from central.trust import Keyring
from sync.protocol.envelope import Envelope, EnvelopeError
from sync.protocol.topics import Topic, TopicError, check_device_id

log = logging.getLogger("kiosk.central.import")

EXPORT_FORMAT = "kiosk-undelivered/1"  # kiosk.service_mode.data.EXPORT_FORMAT (the central imports no Qt side)
MANIFEST = "manifest.json"
ENVELOPES = "envelopes.jsonl"
BATCH = 200
MAX_LINE_BYTES = 1024 * 1024  # envelopes are at most 512 KiB


class ExportError(ValueError):
    """An export that cannot be imported at all (nothing was stored); the text says why."""


@dataclass
class ImportReport:
    folder: str
    device_id: str
    messages: int = 0
    stored: int = 0
    duplicate: int = 0
    refused: int = 0
    incomplete: int = 0  # submissions still waiting for attachment chunks the export did not hold
    skipped: int = 0  # telemetry
    refusals: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"folder": self.folder, "device_id": self.device_id, "messages": self.messages, "stored": self.stored,
                "duplicate": self.duplicate, "refused": self.refused, "incomplete": self.incomplete,
                "skipped": self.skipped, "refusals": self.refusals}


def export_folders(folder: Path) -> list[Path]:
    """``folder`` itself when it is an export, else the exports directly inside it (a USB stick's root)."""
    if (folder / MANIFEST).is_file():
        return [folder]
    if not folder.is_dir():
        raise ExportError(f"{folder} is not a folder")
    found = sorted(p for p in folder.iterdir() if p.is_dir() and (p / MANIFEST).is_file())
    if not found:
        raise ExportError(f"{folder} holds no kiosk export ({MANIFEST} not found)")
    return found


def read_manifest(folder: Path, keys: CentralKeys) -> dict[str, Any]:
    """The manifest, after checking the format, the envelope file's SHA-256 and the central it is sealed for."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExportError(f"{folder / MANIFEST} cannot be read: {exc.strerror or exc}") from None
    except ValueError:
        raise ExportError(f"{folder / MANIFEST} is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise ExportError(f"{folder} is not a kiosk export of format {EXPORT_FORMAT}")
    try:
        check_device_id(str(manifest.get("device_id", "")))
    except TopicError:
        raise ExportError("the manifest names no valid device") from None
    h = hashlib.sha256()
    try:
        with (folder / ENVELOPES).open("rb") as f:
            while chunk := f.read(1024 * 1024):
                h.update(chunk)
    except OSError as exc:
        raise ExportError(f"{folder / ENVELOPES} cannot be read: {exc.strerror or exc}") from None
    if h.hexdigest() != manifest.get("sha256"):
        raise ExportError(f"{ENVELOPES} does not match its manifest's SHA-256 (a damaged or edited copy)")
    sealed_for = manifest.get("sealed_for")
    if sealed_for and sealed_for != hashlib.sha256(keys.seal.public_raw).hexdigest():
        raise ExportError("the export is sealed for another central's key: this central cannot open it")
    return manifest


def _lines(folder: Path) -> Iterator[bytes]:
    with (folder / ENVELOPES).open("rb") as f:
        for line in f:
            if line.strip():
                yield line.rstrip(b"\n")


def _known(store: CentralStore, items: list[Incoming]) -> tuple[set[str], set[str]]:
    """(ids of ``items`` the central holds, of those the submissions still incomplete). A chunk counts as held
    when its row is there or its file is already joined (the chunks are then deleted)."""
    ids = [i.envelope.id for i in items if i.envelope is not None and i.refusal is None]
    files: dict[tuple[str, Any], list[str]] = defaultdict(list)  # (submission, file) -> its chunks' ids
    for item in items:
        env = item.envelope
        if env is not None and item.refusal is None and item.topic.kind == "attachment":
            files[(str(env.meta.get("submission_id")), env.meta.get("file"))].append(env.id)
    found: set[str] = set()
    incomplete: set[str] = set()
    with store.session() as s:
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            rows = s.execute(select(Submission.id, Submission.complete).where(Submission.id.in_(part)))
            for sub_id, complete in rows:
                found.add(sub_id)
                if not complete:
                    incomplete.add(sub_id)
            found.update(s.scalars(select(Event.id).where(Event.id.in_(part))))
            found.update(s.scalars(select(AttachmentChunk.message_id).where(AttachmentChunk.message_id.in_(part))))
        subs = sorted({sub_id for sub_id, _ in files})
        for i in range(0, len(subs), 500):
            joined = s.execute(select(AttachmentFile.submission_id, AttachmentFile.file)
                               .where(AttachmentFile.submission_id.in_(subs[i:i + 500])))
            for sub_id, file in joined:
                found.update(files.get((sub_id, file), ()))
    return found, incomplete


def import_export(store: CentralStore, keys: CentralKeys, folder: Path, *, device_keys: DeviceKeys | None = None,
                  actor: str = "cli") -> ImportReport:
    """Feed one export through the ingest path; raises :class:`ExportError` (nothing stored) for a bad export."""
    manifest = read_manifest(folder, keys)
    device_id = str(manifest["device_id"])
    device_keys = device_keys or Keyring(store)
    report = ImportReport(str(folder), device_id)
    items: list[Incoming] = []

    def refuse(env_id: str | None, seq: Any, kind: Any, reason: str) -> None:
        report.refused += 1
        report.refusals.append({"id": env_id, "seq": seq, "kind": kind, "reason": reason})

    for line in _lines(folder):
        report.messages += 1
        if len(line) > MAX_LINE_BYTES:
            refuse(None, None, None, "line too long")
            continue
        try:
            env = Envelope.from_bytes(line)
        except EnvelopeError as exc:
            refuse(None, None, None, f"unreadable envelope: {exc}")
            continue
        if env.device_id != device_id:
            refuse(env.id, env.seq, env.kind, "envelope of another device than the manifest's")
            continue
        if env.kind == "telemetry":
            report.skipped += 1
            continue
        try:
            items.append(parse(keys, Topic(device_id, "up", env.kind), line, device_keys))
        except Refused as exc:
            if exc.envelope is not None:  # authenticated, refused for its content: the store accounts for it
                items.append(Incoming(Topic(device_id, "up", env.kind), exc.envelope, refusal=exc.reason))
            else:
                refuse(env.id, env.seq, env.kind, exc.reason)
    known, unfinished = _known(store, items)
    before = known - unfinished  # stored and complete before this import
    rejected: dict[str, str] = {}
    for i in range(0, len(items), BATCH):
        acks = store.apply(items[i:i + BATCH], seen=False)
        rejected.update(dict(acks.rejected.get(device_id, [])))
    after, incomplete = _known(store, items)
    for item in items:
        if item.envelope is None:
            continue
        env = item.envelope
        if item.refusal is not None or env.id in rejected:
            refuse(env.id, env.seq, env.kind, item.refusal or rejected[env.id])
        elif env.id in incomplete:
            report.incomplete += 1
        elif env.id in before:
            report.duplicate += 1
        elif env.id in after:
            report.stored += 1
        else:
            refuse(env.id, env.seq, env.kind, "not stored")
    with store.session() as s, s.begin():
        s.add(AuditEntry(at=time.time(), actor=actor[:64], action="import_export", target=device_id,
                         detail=json.dumps({k: v for k, v in report.to_json().items() if k != "refusals"},
                                           ensure_ascii=False)))
    log.info("imported an export of %s: %d stored, %d duplicate, %d refused, %d incomplete", device_id,
             report.stored, report.duplicate, report.refused, report.incomplete)
    return report


__all__ = ["ExportError", "ImportReport", "export_folders", "import_export", "read_manifest"]
