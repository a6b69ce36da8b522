"""The central's command signer: build, sign with the central's Ed25519 command key, publish on
``kiosk/v1/{device_id}/down/cmd`` (QoS 1, not retained) with a short-lived MQTT client.

A command to a site or to the whole fleet is one signed command (one id, target ``{"site": S}`` or
``{"all": true}``) published to each device the central's registry knows for it; each kiosk checks
the target against its own identity and answers with its own ``command_result`` event. Kiosks connect
with a clean session, so a command reaches only kiosks connected when it is published: an operator
whose kiosk was offline sends it again (a new id).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy import select

from central.keys import CentralKeys
from central.models import Device, DeviceRevocation
from central.staging import stage_file
from central.store import CentralStore
from sync.protocol import topics
from sync.protocol.broker_url import parse_broker_url, uses_tls
from sync.protocol.catalog import (
    MAX_UPDATE_BYTES,
    CatalogError,
    sign_update,
    validate_document,
    verified_document,
    version_key,
)
from sync.protocol.commands import (
    DEFAULT_TTL_S,
    MAX_PAYLOAD_BYTES,
    Command,
    canonical_json,
    is_version,
    new_command,
    sign_command,
    target_all,
    target_device,
    target_site,
)
from sync.protocol.release import MANIFEST_FORMAT
from sync.runtime.mqtt import TlsFiles, new_client, unguessable_client_id

PUBLISH_TIMEOUT_S = 10.0

# The dashboard's button names (central.web.commands_bridge) for the protocol's actions.
ACTION_ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "maintenance_on": ("maintenance", {"on": True}),
    "maintenance_off": ("maintenance", {"on": False}),
    "catalog": ("catalog_update", {}),
    "service_unlock": ("service_pin", {"op": "unlock"}),  # an admin's (web: admin role; audited)
    "service_pin_reset": ("service_pin", {"op": "reset"}),
}
# A signed catalogue larger than this goes by URL (the rest of the command and its signature need room).
MAX_INLINE_CATALOG_BYTES = MAX_PAYLOAD_BYTES - 4096


class PublishError(RuntimeError):
    """The broker could not be reached or did not accept the command."""


@dataclass
class SentCommand:
    command: Command
    payload: bytes
    published: list[str] = field(default_factory=list)  # device ids the broker accepted it for

    @property
    def id(self) -> str:
        return self.command.id

    def to_json(self) -> dict[str, Any]:
        c = self.command
        return {"command_id": c.id, "action": c.action, "args": c.args, "target": c.target,
                "issued_at": c.issued_at, "expires_at": c.expires_at, "devices": list(self.published)}


def normalise_action(action: str, args: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """``maintenance_on`` / ``maintenance_off`` -> ``maintenance`` with ``on``; others unchanged."""
    if action in ACTION_ALIASES:
        name, fixed = ACTION_ALIASES[action]
        merged = {**dict(args or {}), **fixed}
        if "on" in fixed and not merged["on"]:
            merged.pop("message", None)
        return name, merged
    return action, dict(args or {})


def build_command(keys: CentralKeys, action: str, args: Mapping[str, Any] | None, target: Mapping[str, Any], *,
                  ttl_s: float = DEFAULT_TTL_S, now: float | None = None) -> tuple[Command, bytes]:
    """A checked command and its signed wire payload (``ValueError``/``CommandRefused`` if invalid)."""
    name, checked = normalise_action(action, args)
    command = new_command(name, checked, target, ttl_s=ttl_s, now=now)
    return command, sign_command(keys.command_private_raw, command)


def central_tls(broker_url: str, home: Path) -> TlsFiles | None:
    """The central's fleet identity (``{home}/ca``, made on first use) for an ``mqtts://`` broker; None for
    plain ``mqtt://``. Raises ``CAError``/``OSError`` when the CA folder cannot be read or created."""
    if not uses_tls(broker_url):
        return None
    from central.ca import FleetCA

    return FleetCA.open(home).central_tls()


def publish(broker_url: str, device_ids: Sequence[str], payload: bytes, *,
            timeout_s: float = PUBLISH_TIMEOUT_S, tls: TlsFiles | None = None) -> list[str]:
    """Publish ``payload`` on each device's ``down/cmd`` (QoS 1); the ids the broker acknowledged.

    ``tls`` is the central's identity for an ``mqtts://`` broker (:func:`central_tls`). Raises
    :class:`PublishError` if the broker cannot be reached in ``timeout_s``.
    """
    for device_id in device_ids:
        topics.check_device_id(device_id)
    if not device_ids:
        return []
    host, port = parse_broker_url(broker_url)
    client = new_client(unguessable_client_id("central-cmd"), tls)
    connected = threading.Event()
    refused: list[str] = []
    failed_mids: set[int] = set()  # PUBACKs with a failure reason code (e.g. not authorised)

    def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        if reason_code.is_failure:
            refused.append(str(reason_code))
        connected.set()

    def on_publish(_c: mqtt.Client, _u: Any, mid: int, reason_code: Any, _p: Any) -> None:
        # Runs under paho's own lock: no lock of ours may be taken here.
        if reason_code.is_failure:
            failed_mids.add(mid)

    client.on_connect = on_connect
    client.on_publish = on_publish
    try:
        client.connect(host, port, keepalive=30, clean_start=True)
    except OSError as exc:  # ssl.SSLError (a broker the fleet CA did not sign) is an OSError too
        raise PublishError(f"broker unreachable: {type(exc).__name__}") from exc
    client.loop_start()
    accepted: list[str] = []
    try:
        if not connected.wait(timeout_s) or refused:
            raise PublishError("the broker refused the connection" if refused else "broker did not answer")
        infos = [(device_id, client.publish(topics.down(device_id, "cmd"), payload, qos=1, retain=False))
                 for device_id in device_ids]
        deadline = time.monotonic() + timeout_s
        for device_id, info in infos:
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                continue
            published = False
            with contextlib.suppress(RuntimeError, ValueError):  # paho raises both once the connection is lost
                info.wait_for_publish(max(0.01, deadline - time.monotonic()))
                published = info.is_published()
            if published and info.mid not in failed_mids:
                accepted.append(device_id)
        if not accepted and infos:
            raise PublishError("the broker did not acknowledge the command in time")
    finally:
        client.disconnect()
        client.loop_stop()
    return accepted


def send_command(keys: CentralKeys, broker_url: str, device_id: str, action: str,
                 args: Mapping[str, Any] | None = None, *, ttl_s: float = DEFAULT_TTL_S,
                 tls: TlsFiles | None = None, store: CentralStore | None = None) -> SentCommand:
    """Sign ``action`` for one device and publish it; raises :class:`PublishError` if not accepted, or, with
    the central's ``store``, if the device is revoked (nothing is signed or published for it)."""
    if store is not None and is_revoked(store, device_id):
        raise PublishError(f"{device_id} is revoked: nothing is sent to it")
    command, payload = build_command(keys, action, args, target_device(device_id), ttl_s=ttl_s)
    sent = SentCommand(command, payload, publish(broker_url, [device_id], payload, tls=tls))
    if not sent.published:
        raise PublishError("the broker did not accept the command")
    return sent


def send_to_devices(keys: CentralKeys, broker_url: str, device_ids: Sequence[str], action: str,
                    args: Mapping[str, Any] | None = None, *, site: str | None = None,
                    ttl_s: float = DEFAULT_TTL_S, tls: TlsFiles | None = None) -> SentCommand:
    """One command for a site (``site`` given) or the whole fleet, published to each of ``device_ids``."""
    target = target_site(site) if site is not None else target_all()
    command, payload = build_command(keys, action, args, target, ttl_s=ttl_s)
    return SentCommand(command, payload, publish(broker_url, list(device_ids), payload, tls=tls))


# -- catalogue and release payloads ---------------------------------------------------------------------


def _join_url(base_url: str, path: str) -> str:
    if not base_url.startswith(("http://", "https://")):
        raise ValueError("--base-url must be the central's http(s) address as kiosks reach it")
    return base_url.rstrip("/") + path


def catalog_args(keys: CentralKeys, home: Path, catalog_file: Path, *, base_url: str | None = None) -> dict[str, Any]:
    """The ``catalog_update`` arguments for a catalogue file: a signed update document as it is, or a bare
    catalogue signed here with the central's command key. Inline when it fits one command, else staged
    for download (``base_url`` needed). ``ValueError`` says what is wrong with the file."""
    try:
        raw = catalog_file.read_bytes()
        doc = json.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise ValueError(f"{catalog_file} cannot be read: {exc.strerror or exc}") from None
    except ValueError:
        raise ValueError(f"{catalog_file} is not JSON") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{catalog_file} is neither a catalogue nor a signed catalogue document")
    try:
        if "sig" not in doc:  # a bare catalogue: sign it (after the full validation sign_update does)
            raw = sign_update(keys.command_private_raw, doc)
            doc = json.loads(raw)
        catalog = verified_document(keys.command_public_raw, raw, "catalogue update")
        validate_document(catalog, "catalogue update")
        version_key(catalog["version"])
    except CatalogError as exc:
        raise ValueError(str(exc)) from None
    if len(canonical_json(doc)) <= MAX_INLINE_CATALOG_BYTES:
        return {"document": doc}
    if len(raw) > MAX_UPDATE_BYTES:
        raise ValueError(f"the signed catalogue is larger than a kiosk accepts ({MAX_UPDATE_BYTES} bytes)")
    if not base_url:
        raise ValueError("the catalogue is too large for one command: give --base-url (the central's HTTP "
                         "address as kiosks reach it) so kiosks download it")
    if not is_version(catalog["version"]):
        raise ValueError("the catalogue's version cannot be sent by URL")
    sha, size = stage_file(home, "catalogs", raw)
    return {"url": _join_url(base_url, f"/ota/catalogs/{sha}"), "sha256": sha, "size": size,
            "version": catalog["version"]}


def update_args(home: Path, version: str, artifact: Path, *, base_url: str, manifest: Mapping[str, Any],
                health_timeout_s: int | None = None) -> dict[str, Any]:
    """The ``update`` arguments: the artefact staged for download from ``base_url``, its SHA-256 and size, and
    the release signature from its manifest (``packaging/release`` signs offline with the release key; the
    central never holds that key and signs nothing here). The manifest must name this version, hash and size."""
    if not is_version(version):
        raise ValueError("--version must be 1-64 letters, digits or ._+- (it names the release folder)")
    if not artifact.is_file():
        raise ValueError(f"{artifact} is not a file")
    if manifest.get("format") != MANIFEST_FORMAT or not manifest.get("signature"):
        raise ValueError("the release manifest is not one packaging/release wrote")
    _join_url(base_url, "/")  # checked before anything is staged
    sha, size = stage_file(home, "artifacts", artifact)
    # A delta's manifest signs the release it rebuilds (sha256, size); the file sent is the delta itself.
    is_delta = manifest.get("kind") == "delta"
    sent = (manifest.get("delta_sha256"), manifest.get("delta_size")) if is_delta else (manifest.get("sha256"),
                                                                                        manifest.get("size"))
    if (manifest.get("version"), *sent) != (version, sha, size):
        raise ValueError("the release manifest is for another version or another artefact")
    args: dict[str, Any] = {"version": version, "url": _join_url(base_url, f"/ota/artifacts/{sha}"), "sha256": sha,
                            "size": size, "signature": str(manifest["signature"])}
    if is_delta:
        args["delta"] = {"base": manifest.get("base"), "base_sha256": manifest.get("base_sha256"),
                         "target_sha256": manifest.get("sha256"), "target_size": manifest.get("size")}
    if isinstance(manifest.get("unpacked_size"), int):
        args["unpacked_size"] = manifest["unpacked_size"]
    if manifest.get("key_rotation"):
        args["key_rotation"] = dict(manifest["key_rotation"])
    if health_timeout_s is not None:
        args["health_timeout_s"] = int(health_timeout_s)
    return args


def is_revoked(store: CentralStore, device_id: str) -> bool:
    with store.session() as s:
        return s.get(DeviceRevocation, device_id) is not None


def fleet_device_ids(store: CentralStore, site: str | None = None) -> list[str]:
    """The device ids the central's registry knows (of one site if given), sorted; revoked kiosks are left out,
    so no downlink built from this list (commands, catalogue updates, status pushes) reaches them."""
    revoked = select(DeviceRevocation.device_id)
    stmt = select(Device.device_id).where(Device.device_id.not_in(revoked)).order_by(Device.device_id)
    if site is not None:
        stmt = stmt.where(Device.site == site)
    with store.session() as s:
        return [str(d) for d in s.scalars(stmt)]


__all__ = ["ACTION_ALIASES", "PublishError", "SentCommand", "build_command", "catalog_args", "central_tls",
           "fleet_device_ids",
           "is_revoked", "normalise_action", "publish", "send_command", "send_to_devices", "stage_file", "update_args"]
