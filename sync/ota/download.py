"""Fetch an artefact over HTTP(S) into a file: streamed, size-capped, hashed on the way.

Runs on a background thread of ``kiosk-syncd`` (never on the MQTT thread). Plain ``urllib``: the
central serves artefacts as static files, so nothing more is needed, and the signature (not the
transport) is what makes a download trustworthy.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path

CHUNK = 256 * 1024
TIMEOUT_S = 30.0


class DownloadError(RuntimeError):
    """The artefact could not be fetched whole. Nothing is left behind."""


def download(url: str, dest: Path, *, max_bytes: int, timeout_s: float = TIMEOUT_S,
             stop: threading.Event | None = None) -> tuple[str, int]:
    """Write ``url`` to ``dest`` (atomically: a temp file renamed at the end); return (sha256 hex, size).

    Refuses more than ``max_bytes`` (the size the signed command gives). ``stop`` aborts between chunks.
    """
    if not url.startswith(("http://", "https://")):
        raise DownloadError("only http and https addresses are fetched")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    h = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, tmp.open("wb") as out:  # noqa: S310
            while chunk := response.read(CHUNK):
                if stop is not None and stop.is_set():
                    raise DownloadError("download stopped")
                size += len(chunk)
                if size > max_bytes:
                    raise DownloadError(f"the artefact is larger than the {max_bytes} bytes announced")
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"the server answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DownloadError(f"download failed: {type(exc).__name__}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return h.hexdigest(), size


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


__all__ = ["DownloadError", "download", "fetch_bytes"]
