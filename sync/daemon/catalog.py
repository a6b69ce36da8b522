"""The edge's side of a catalogue update: verify, validate, compare versions, install atomically.

The format and the signature are ``sync.protocol.catalog``'s; the touchscreen application reads the installed
file between sessions (``kiosk.catalog.update.installed_catalog``, which applies the same rules and builds its
model). The shipped default catalogue is the kiosk application's data: the edge reads only its version, as a
file of the installed ``kiosk`` package (found without importing it), so a kiosk never installs an update older
than the catalogue it already shows.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

from sync.protocol.catalog import CatalogError, parse_json, validate_document, verified_document, version_key

log = logging.getLogger("kiosk.catalog")

INSTALLED_NAME = "catalog.json"


def shipped_default() -> Path:
    """``kiosk/catalog/default_catalog.json`` of the installed application (development tree or bundle)."""
    spec = importlib.util.find_spec("kiosk")
    if spec is None or not spec.submodule_search_locations:
        raise CatalogError("the kiosk application (and its default catalogue) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "catalog" / "default_catalog.json"


@functools.lru_cache(maxsize=4)
def _document_version(path: Path, mtime_ns: int, size: int) -> str:
    source = f"catalogue {path.name}"
    doc = parse_json(path.read_bytes(), source)
    validate_document(doc, source)
    return str(doc["version"])


def file_version(path: Path) -> str:
    """The version of a valid catalogue file (validated once per change of the file)."""
    try:
        st = path.stat()
        return _document_version(path.resolve(), st.st_mtime_ns, st.st_size)
    except OSError as exc:
        raise CatalogError(f"catalogue {path.name} cannot be read: {exc.strerror or exc}") from exc


class InUse(NamedTuple):
    version: str
    source: str  # "installed" | "default"
    problem: str  # why the installed file was passed over; "" when nothing is wrong


def in_use(home: Path, public_key: bytes | None, default: Path | None = None) -> InUse:
    """Which catalogue the kiosk uses: the installed ``{home}/catalog.json`` when it is valid (and, given
    ``public_key``, its signature verifies) and not older than the shipped default; else the default."""
    default_version = file_version(default or shipped_default())
    path = home / INSTALLED_NAME
    if not path.exists():
        return InUse(default_version, "default", "")
    source = f"installed catalogue {path}"
    try:
        data = path.read_bytes()
        if public_key is not None:
            doc = verified_document(public_key, data, source)
        else:
            parsed = parse_json(data, source)
            inner = parsed.get("catalog") if isinstance(parsed, dict) else None
            if not isinstance(inner, dict):
                raise CatalogError(f"{source} is not a signed catalogue document")
            doc = inner
        validate_document(doc, source)
        version = str(doc["version"])
    except OSError as exc:
        problem = f"{source} cannot be read: {exc.strerror or exc}"
    except CatalogError as exc:
        problem = str(exc)
    else:
        if version_key(version) < version_key(default_version):
            log.info("the shipped default %s is newer than the %s (%s); using the default", default_version, source,
                     version)
            return InUse(default_version, "default",
                         f"the shipped default {default_version} is newer than the {source} ({version})")
        return InUse(version, "installed", "")
    log.warning("%s; using the shipped default %s", problem, default_version)
    return InUse(default_version, "default", problem)


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the platform allows
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def install_update(home: Path, data: bytes | str, public_key: bytes, default: Path | None = None) -> dict[str, Any]:
    """Verify ``data`` and, only then, make it the installed catalogue (``{home}/catalog.json``); return the
    catalogue document. Refused (:class:`CatalogError`) unless the signature verifies, the catalogue is valid and
    its version is newer than the one in use. The file is replaced atomically: a crash leaves the old catalogue
    or the new one, never a torn file."""
    current = in_use(home, public_key, default).version
    source = "catalogue update"
    doc = verified_document(public_key, data, source)
    validate_document(doc, source)
    version = str(doc["version"])
    if version_key(version) <= version_key(current):
        raise CatalogError(f"{source}: version {version} is not newer than the installed {current}")
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    home.mkdir(parents=True, exist_ok=True)
    try:
        _write_atomically(home / INSTALLED_NAME, raw)
    except OSError as exc:
        raise CatalogError(f"catalogue {version} could not be written: {exc.strerror or exc}") from exc
    log.info("catalogue %s installed (was %s)", version, current)
    return doc
