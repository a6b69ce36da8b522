"""Fetch an artefact over HTTP(S) into a file: streamed, size-capped, hashed on the way.

Runs on a background thread of ``kiosk-syncd`` (never on the MQTT thread). Plain ``urllib``: the
central serves artefacts as static files, so nothing more is needed, and the signature (not the
transport) is what makes a download trustworthy.
"""

from __future__ import annotations

import hashlib
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

CHUNK = 256 * 1024
TIMEOUT_S = 30.0


class DownloadError(RuntimeError):
    """The artefact could not be fetched whole. Nothing is left behind."""


def download(url: str, dest: Path, *, max_bytes: int, timeout_s: float = TIMEOUT_S,
             stop: threading.Event | None = None) -> tuple[str, int]:
    """Write ``url`` to ``dest`` (atomically: a part file renamed at the end); return (sha256 hex, size).

    A download that breaks off leaves its part file (``.{dest name}.part``): the next call for the same ``dest``
    asks only for the rest (HTTP ``Range``) and hashes what it has first. Name ``dest`` after what is fetched
    (the manager uses the signed SHA-256), so a part is only ever continued with the same artefact. Refuses
    more than ``max_bytes`` (the size the signed command gives; a part that grew past it is dropped).
    ``stop`` aborts between chunks, keeping the part.
    """
    if not url.startswith(("http://", "https://")):
        raise DownloadError("only http and https addresses are fetched")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    h = hashlib.sha256()
    size = _hash_part(part, h, max_bytes)
    try:
        if size < max_bytes:
            request = urllib.request.Request(url, headers={"Range": f"bytes={size}-"} if size else {})  # noqa: S310
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
                if size and response.status != 206:  # the server sends it all again: start over
                    size, h = 0, hashlib.sha256()
                length = response.headers.get("Content-Length")
                expected = size + int(length) if length and length.isdigit() else None
                with part.open("ab" if size else "wb") as out:
                    while chunk := response.read(CHUNK):
                        if stop is not None and stop.is_set():
                            raise DownloadError("download stopped (it resumes from here next time)")
                        size += len(chunk)
                        if size > max_bytes:
                            out.close()
                            part.unlink()
                            raise DownloadError(f"the artefact is larger than the {max_bytes} bytes announced")
                        h.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                if expected is not None and size < expected:  # the connection ended before the body did
                    raise DownloadError(f"download broke off after {size} bytes (it resumes from there)")
        os.replace(part, dest)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"the server answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DownloadError(f"download failed after {size} bytes (it resumes from there): "
                            f"{type(exc).__name__}") from None
    return h.hexdigest(), size


def part_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.part")


def _hash_part(part: Path, h: Any, max_bytes: int) -> int:
    """Feed an earlier part into ``h``; returns its size (0 when there is none or it is unusable)."""
    try:
        if part.stat().st_size > max_bytes:
            part.unlink()
            return 0
        size = 0
        with part.open("rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
        return size
    except OSError:
        return 0


def fetch_bytes(url: str, *, max_bytes: int, timeout_s: float = TIMEOUT_S) -> bytes:
    """A small document (a catalogue) in memory, capped at ``max_bytes``."""
    if not url.startswith(("http://", "https://")):
        raise DownloadError("only http and https addresses are fetched")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
            data = bytes(response.read(max_bytes + 1))
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"the server answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DownloadError(f"download failed: {type(exc).__name__}") from None
    if len(data) > max_bytes:
        raise DownloadError(f"the document is larger than the {max_bytes} bytes announced")
    return data


__all__ = ["DownloadError", "download", "fetch_bytes", "part_path"]
