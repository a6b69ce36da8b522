"""Signed catalogue updates from the central, as the kiosk's UI reads them.

The format and the signature check are ``sync.protocol.catalog``'s. An update is one JSON document
``{"catalog": {...}, "sig": "<base64>"}`` where ``sig`` is the Ed25519
signature, by the central's command key, of the canonical JSON of ``catalog``: keys sorted, separators
``(",", ":")``, non-ASCII characters as UTF-8 (not ``\\u`` escapes), no NaN. A kiosk installs an update
only when the signature verifies, the catalogue is valid (schema and cross-checks), and its version is
newer than the one in use; it then keeps the whole signed document as ``{home}/catalog.json``.

Every failure is a :class:`~kiosk.catalog.model.CatalogError` whose message says why.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

from kiosk.catalog.model import (
    DEFAULT_CATALOG,
    Catalog,
    CatalogError,
    catalog_from_document,
    load_catalog,
    parse_json,
    version_key,
)
from sync.daemon import catalog as edge_catalog
from sync.protocol.canonical import canonical_json  # noqa: F401 - re-exported for the kiosk's callers and tests
from sync.protocol.catalog import (  # noqa: F401 - re-exported: the kiosk's callers and tests use these names
    MAX_UPDATE_BYTES,
    sign_update,
    verified_document,
)

log = logging.getLogger("kiosk.catalog")

INSTALLED_NAME = edge_catalog.INSTALLED_NAME


def verify_update(public_key_raw: bytes, data: bytes | str, *, current_version: str | None = None) -> Catalog:
    """Check a signed update and return its catalogue.

    Refused (:class:`CatalogError`) unless the signature verifies with ``public_key_raw`` (the central's
    raw Ed25519 command key), the catalogue is valid, and its version is newer than ``current_version``
    (default: the shipped default's version).
    """
    source = "catalogue update"
    catalog = catalog_from_document(verified_document(public_key_raw, data, source), source)
    current = current_version if current_version is not None else load_catalog().version
    if version_key(catalog.version) <= version_key(current):
        raise CatalogError(f"{source}: version {catalog.version} is not newer than the installed {current}")
    return catalog


def install_update(home: Path, data: bytes | str, public_key: bytes) -> Catalog:
    """Verify ``data`` and, only then, make it the installed catalogue (``{home}/catalog.json``): the edge's
    :func:`sync.daemon.catalog.install_update` against this application's shipped default."""
    doc = edge_catalog.install_update(home, data, public_key, DEFAULT_CATALOG)
    return catalog_from_document(doc, "catalogue update")


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
            doc = verified_document(public_key, data, source)
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
