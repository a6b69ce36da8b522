"""The fleet's trust: ``ca`` (the fleet CA, the broker's TLS files), ``revoke`` (cut a kiosk off) and ``enroll``
(one-time enrolment tokens)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from central.cli.common import (  # noqa: F401
    _broker_reload,
    _broker_tls,
    _encrypt_existing,
    _gap_timeout,
    _key_source,
    _master_key_ready,
    _open_store,
    log,
)
from central.keys import CentralKeys, KeysError
from central.paths import central_home
from sync.runtime.cli_common import print_json


def _cmd_ca(args: argparse.Namespace) -> int:
    from central.ca import CAError, FleetCA
    from central.cert_service import revoked_certificates

    home = central_home(args.home)
    try:
        ca = FleetCA.open(home)
        out: dict[str, Any] = {"ca": str(ca.ca_path), "crl": str(ca.crl_path)}
        if args.action == "broker-files":
            if not args.out or not args.name:
                print("kiosk-central ca broker-files: --out DIR and --name HOST are required", file=sys.stderr)
                return 2
            store = _open_store(args, home)
            try:
                revoked = revoked_certificates(store)
            finally:
                store.close()
            out["broker_files"] = str(ca.server_files(Path(args.out), args.name, revoked=revoked))
    except (CAError, OSError) as exc:
        print(f"kiosk-central ca: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(out)
    else:
        print("\n".join(f"{k}: {v}" for k, v in out.items()))
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    import subprocess

    from central.ca import FleetCA
    from central.cert_service import cut_off
    from sync.protocol.broker_url import BrokerUrlError, uses_tls
    from sync.protocol.topics import TopicError

    home = central_home(args.home)
    store = _open_store(args, home)
    try:
        reload = _broker_reload(args)
        ca = FleetCA.open(home)
        # The CRL is written, the broker reloads it and is seen refusing a probe on it, and only then the
        # kiosk's live connection is dropped: its reconnect meets the new CRL (cert_service.cut_off).
        cut = cut_off(store, ca, args.device, broker_url=args.broker or "",
                      tls=ca.central_tls() if args.broker and uses_tls(args.broker) else None,
                      reason=args.reason or "", crl_copy=Path(args.crl_copy) if args.crl_copy else None, reload=reload)
    except (TopicError, BrokerUrlError, OSError, ValueError, subprocess.SubprocessError) as exc:
        print(f"kiosk-central revoke: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    done = cut.revoked
    if args.broker and uses_tls(args.broker) and not cut.crl_active:
        print("kiosk-central revoke: the broker was not seen using the new CRL: reload it "
              "(systemctl reload mosquitto), then revoke again to drop the kiosk once more", file=sys.stderr)
    if args.json:
        print_json({"device_id": done.device_id, "serials": list(done.serials), "crl": str(done.crl),
                    "dropped": cut.dropped, "crl_active": cut.crl_active})
    else:
        print(f"{done.device_id} revoked ({len(done.serials)} certificate(s)); CRL {done.crl}")
    return 0


def _cmd_enroll(args: argparse.Namespace) -> int:
    from central.enrolment import TokenRequestError, issue_token, list_tokens, save_qr

    home = central_home(args.home)
    store = _open_store(args, home)
    try:
        if args.list:
            tokens = list_tokens(store)
            if args.json:
                print_json(tokens)
            else:
                for t in tokens:  # open, used or expired (an expired token is never "open")
                    expires = time.strftime("%Y-%m-%d %H:%M", time.localtime(t["expires_at"]))
                    print(f"{t['device_id']}  {t['site']}  {t['state']}  (expires {expires})")
            return 0
        if not args.site or not args.broker:
            print("kiosk-central enroll: --site and --broker are required", file=sys.stderr)
            return 2
        try:
            keys = CentralKeys.load(home)
        except KeysError as exc:
            print(f"kiosk-central enroll: {exc}", file=sys.stderr)
            return 2
        if not args.ttl > 0 or args.ttl == float("inf"):
            print("kiosk-central enroll: --ttl must be a positive number of seconds", file=sys.stderr)
            return 2
        try:
            issued = issue_token(store, keys, site=args.site, broker_url=args.broker, ttl_s=args.ttl,
                                 device_id=args.device_id, enrol_url=args.enrol_url)
        except TokenRequestError as exc:
            print(f"kiosk-central enroll: {exc}", file=sys.stderr)
            return 2
    finally:
        store.close()
    qr = str(save_qr(issued.token, Path(args.qr))) if args.qr else None
    if args.json:
        print_json({"token": issued.token, "token_id": issued.token_id, "device_id": issued.device_id,
                    "site": issued.site, "expires_at": issued.expires_at, "qr": qr})
    else:
        print(issued.token)
        if qr:
            print(f"QR code saved to {qr}", file=sys.stderr)
    return 0


def _add_ca(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("ca", parents=[common], help="the fleet CA: create it, write the broker's TLS files")
    p.add_argument("action", choices=["init", "broker-files"])
    p.add_argument("--out", help="broker-files: folder for ca.pem, server.pem, server.key, crl.pem")
    p.add_argument("--name", action="append", help="broker-files: a host name or IP kiosks dial (repeatable)")
    p.add_argument("--db")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_ca)


def _add_revoke(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("revoke", parents=[common], help="cut a kiosk off: CRL, device table, live connection")
    p.add_argument("device")
    p.add_argument("--reason", help="kept in the central's table (no personal data)")
    p.add_argument("--crl-copy", help="also write the CRL here (the file the broker's crlfile names)")
    p.add_argument("--reload-pid", type=int, help="SIGHUP this broker process so it re-reads the CRL")
    p.add_argument("--broker-reload", metavar="CMD",
                   help="run CMD to make the broker re-read the CRL (e.g. 'systemctl reload mosquitto')")
    p.add_argument("--broker", help="mqtts://host:port: drop the kiosk's live connection now")
    p.add_argument("--db")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_revoke)


def _add_enroll(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("enroll", parents=[common], help="issue a one-time enrolment token (and its QR) for a kiosk")
    p.add_argument("--site", help="the street office the kiosk belongs to")
    p.add_argument("--broker", help="the broker URL the kiosk will use (mqtt://host:port)")
    p.add_argument("--ttl", type=float, default=24 * 3600, help="seconds the token stays valid (default 24 h)")
    p.add_argument("--device-id", help="choose the device id (default: generated)")
    p.add_argument("--qr", help="also save the token as a QR PNG here")
    p.add_argument("--enrol-url", default="", help="TLS fleets: the broker's enrolment listener (mqtts://host:8884)")
    p.add_argument("--list", action="store_true", help="list issued tokens instead")
    p.add_argument("--db")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_enroll)


COMMANDS = {"ca": _add_ca, "revoke": _add_revoke, "enroll": _add_enroll}  # name -> what adds it
