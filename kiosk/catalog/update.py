"""Signed catalogue updates from the central.

An update is one JSON document ``{"catalog": {...}, "sig": "<base64>"}`` where ``sig`` is the Ed25519
signature, by the central's command key, of the canonical JSON of ``catalog``: keys sorted, separators
``(",", ":")``, non-ASCII characters as UTF-8 (not ``\\u`` escapes), no NaN. A kiosk installs an update
only when the signature verifies, the catalogue is valid (schema and cross-checks), and its version is
newer than the one in use; it then keeps the whole signed document as ``{home}/catalog.json``.

Every failure is a :class:`~kiosk.catalog.model.CatalogError` whose message says why.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kiosk.catalog.model import (
    Catalog,
    CatalogError,
    catalog_from_document,
    load_catalog,
    parse_json,
    validate_document,
    version_key,
)

log = logging.getLogger("kiosk.catalog")

INSTALLED_NAME = "catalog.json"
MAX_UPDATE_BYTES = 4 * 1024 * 1024


def canonical_json(catalog: Any) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, UTF-8, NaN refused."""
    return json.dumps(catalog, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _public_key(public_key_raw: bytes) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes(public_key_raw))
    except (ValueError, TypeError) as exc:
        raise CatalogError("the central's public key is not a raw 32-byte Ed25519 key") from exc


def sign_update(private_raw: bytes, catalog: dict[str, Any], *, validate: bool = True) -> bytes:
    """The central's side: the update document for ``catalog``, signed with its command key.

    The catalogue is validated first (``validate=False`` is for tests that need a signed bad one).
    """
    if validate:
        validate_document(catalog, "catalogue update")
    try:
        key = Ed25519PrivateKey.from_private_bytes(bytes(private_raw))
    except (ValueError, TypeError) as exc:
        raise CatalogError("the signing key is not a raw 32-byte Ed25519 private key") from exc
    try:
        body = canonical_json(catalog)
        sig = base64.b64encode(key.sign(body)).decode("ascii")
        return json.dumps({"catalog": catalog, "sig": sig}, ensure_ascii=False, indent=1).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise CatalogError(f"catalogue update cannot be serialised: {type(exc).__name__}: {exc}") from exc


def _verified_document(public_key_raw: bytes, data: bytes | str, source: str) -> dict[str, Any]:
    """The ``catalog`` object of a signed update document whose signature verifies (not yet validated)."""
    key = _public_key(public_key_raw)
    if len(data) > MAX_UPDATE_BYTES:
        raise CatalogError(f"{source} is too large ({len(data)} bytes; at most {MAX_UPDATE_BYTES})")
    doc = parse_json(data, source)
    if not isinstance(doc, dict):
        raise CatalogError(f"{source} is not a signed catalogue: expected an object with 'catalog' and 'sig'")
    if "sig" not in doc:
        raise CatalogError(f"{source} is not signed (no 'sig')")
    if set(doc) != {"catalog", "sig"}:
        extra = sorted(set(doc) - {"catalog", "sig"})
        missing = sorted({"catalog", "sig"} - set(doc))
        raise CatalogError(f"{source} must hold exactly 'catalog' and 'sig'"
                           + (f"; unexpected {extra}" if extra else "") + (f"; missing {missing}" if missing else ""))
    catalog, sig = doc["catalog"], doc["sig"]
    if not isinstance(catalog, dict):
        raise CatalogError(f"{source}: 'catalog' is not an object")
    if not isinstance(sig, str):
        raise CatalogError(f"{source}: 'sig' is not a base64 string")
    try:
        raw_sig = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CatalogError(f"{source}: 'sig' is not valid base64") from exc
    if len(raw_sig) != 64:
        raise CatalogError(f"{source}: 'sig' is not an Ed25519 signature ({len(raw_sig)} bytes, expected 64)")
    try:
        body = canonical_json(catalog)
    except (TypeError, ValueError, RecursionError) as exc:  # lone surrogates cannot be UTF-8
        raise CatalogError(f"{source}: 'catalog' cannot be put in canonical form") from exc
    try:
        key.verify(raw_sig, body)
    except InvalidSignature:
        raise CatalogError(f"{source}: the signature does not verify with the central's key") from None
    return catalog


def verify_update(public_key_raw: bytes, data: bytes | str, *, current_version: str | None = None) -> Catalog:
    """Check a signed update and return its catalogue.

    Refused (:class:`CatalogError`) unless the signature verifies with ``public_key_raw`` (the central's
    raw Ed25519 command key), the catalogue is valid, and its version is newer than ``current_version``
    (default: the shipped default's version).
    """
    source = "catalogue update"
    catalog = catalog_from_document(_verified_document(public_key_raw, data, source), source)
    current = current_version if current_version is not None else load_catalog().version
    if version_key(catalog.version) <= version_key(current):
        raise CatalogError(f"{source}: version {catalog.version} is not newer than the installed {current}")
    return catalog


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


def install_update(home: Path, data: bytes | str, public_key: bytes) -> Catalog:
    """Verify ``data`` and, only then, make it the installed catalogue (``{home}/catalog.json``).

    The version must be newer than the catalogue in use now (installed or shipped default). The file is
    replaced atomically: a crash leaves the old catalogue or the new one, never a torn file.
    """
    current = installed_catalog(home, public_key).catalog
    catalog = verify_update(public_key, data, current_version=current.version)
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    home.mkdir(parents=True, exist_ok=True)
    try:
        _write_atomically(home / INSTALLED_NAME, raw)
    except OSError as exc:
        raise CatalogError(f"catalogue {catalog.version} could not be written: {exc.strerror or exc}") from exc
    log.info("catalogue %s installed (was %s)", catalog.version, current.version)
    return catalog


class InstalledCatalog(NamedTuple):
    catalog: Catalog
    source: str  # "installed" | "default"
    problem: str  # why the installed file was not used; "" when nothing is wrong


def installed_catalog(home: Path, public_key: bytes | None = None) -> InstalledCatalog:
    """The catalogue in use, where it came from, and why an installed file was passed over.

    The installed ``{home}/catalog.json`` is used when it is a valid catalogue (and, given
    ``public_key``, its signature still verifies) and not older than the shipped default; otherwise
    the shipped default is used.
    """
    default = load_catalog()
    path = home / INSTALLED_NAME
    if not path.exists():
        return InstalledCatalog(default, "default", "")
    source = f"installed catalogue {path}"
    try:
        data = path.read_bytes()
        if public_key is not None:
            doc = _verified_document(public_key, data, source)
        else:
            parsed = parse_json(data, source)
            inner = parsed.get("catalog") if isinstance(parsed, dict) else None
            if not isinstance(inner, dict):
                raise CatalogError(f"{source} is not a signed catalogue document")
            doc = inner
        installed = catalog_from_document(doc, source)
    except OSError as exc:
        problem = f"{source} cannot be read: {exc.strerror or exc}"
    except CatalogError as exc:
        problem = str(exc)
    else:
        if version_key(installed.version) < version_key(default.version):
            problem = f"the shipped default {default.version} is newer than the {source} ({installed.version})"
            log.info("%s; using the default", problem)
            return InstalledCatalog(default, "default", problem)
        return InstalledCatalog(installed, "installed", "")
    log.warning("%s; using the shipped default %s", problem, default.version)
    return InstalledCatalog(default, "default", problem)


def load_installed(home: Path, public_key: bytes | None = None) -> Catalog:
    """The catalogue to use: the installed one when valid, else the shipped default (the reason is logged)."""
    return installed_catalog(home, public_key).catalog
