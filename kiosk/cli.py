"""``kiosk``: the touchscreen application and the technician's commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kiosk.cli_demo import demo_command
from sync.device import OUTBOX_FILE, DeviceConfig, DeviceConfigError, resolve_home
from sync.runtime.cli_common import print_json
from sync.runtime.logconfig import setup_logging

EXIT_TRY_AGAIN = 75  # EX_TEMPFAIL: the outbox is busy or the disk full; nothing changed


def _cmd_run(args: argparse.Namespace) -> int:
    import json

    from PySide6.QtCore import QTimer

    from drivers.registry import ConfigError, build_drivers
    from kiosk.app import ensure_application, load_ui
    from kiosk.catalog.update import load_installed
    from kiosk.hardware import Hardware
    from kiosk.journey.config import JourneyConfig
    from kiosk.journey.submitter import Submitter
    from kiosk.service_mode.logs import install_log_file
    from sync.kiosk_config import load_config
    from sync.outbox.store import open_outbox

    home = resolve_home(args.home)
    install_log_file(home)
    try:
        device: DeviceConfig | None = DeviceConfig.load(home)
    except DeviceConfigError:
        device = None  # not provisioned: the UI opens on the service mode's first-run screen
    # A full disk or a lock does not stop the UI: it shows "暂停受理" with the reason and opens the outbox
    # when it can (Outbox(defer=True), retried with backoff from the journey's status poll).
    outbox = open_outbox(home, device, defer=True)
    settings = load_config(home)
    drivers_file = home / "drivers.json"
    try:
        if args.sim:
            hardware: Hardware | None = Hardware.simulated(home)
        elif drivers_file.exists():
            hardware = Hardware(build_drivers(json.loads(drivers_file.read_text(encoding="utf-8")), start=True))
        else:
            hardware = None  # no devices configured: identify by typing only
    except (ConfigError, ValueError) as exc:
        print(f"kiosk run: the driver configuration is invalid: {exc}", file=sys.stderr)
        return 2
    from kiosk.service_mode.sync_control import ExternalSync, InProcessSync, SyncControl

    # Development (--sim): the sync daemon runs in this process, and the service mode starts, restarts and
    # stops it (enrolment, re-enrolment, factory reset); on a kiosk it is kiosk-syncd, held and released
    # through the database (kiosk/service_mode/sync_control.py).
    daemon: InProcessSync | None = None
    sync: SyncControl = ExternalSync()
    if args.sim:
        daemon = InProcessSync(float(settings["heartbeat_interval_s"]))
        sync = daemon
        if device is not None:
            daemon.start(outbox, device)
    app = ensure_application()
    config = JourneyConfig(idle_timeout_s=float(settings["idle_timeout_s"]), language=str(settings["language_default"]),
                           elder_mode=bool(settings["elder_mode_default"]),
                           voice_volume=int(settings.get("voice_volume", 70)),
                           voice_muted=bool(settings.get("voice_muted", False)),
                           site_name=str(settings["site_display_name"]),
                           hotline=str(settings.get("service_hotline", "")))
    # Unprovisioned, the submitter has no device until first run completes (the first-run screen
    # covers the resident's screens, so nothing can be submitted before).
    engine, _window = load_ui(Submitter(outbox, device), hardware=hardware, config=config,  # type: ignore[arg-type]
                              fullscreen=args.fullscreen, sync=sync,
                              catalog=load_installed(home, device.command_public_key if device else None))
    # Proof of life from the UI thread: systemd's watchdog, the heartbeat's UI liveness, the update's health gate.
    from drivers.registry import selftest_all
    from kiosk.app import journey_of
    from kiosk.liveness import UiLiveness

    liveness = UiLiveness(home, _window, journey_of(_window)).start()
    health_timer = None
    if hardware is not None and hardware.drivers is not None:
        drivers_for_test = hardware.drivers
        hardware.runner.run(lambda: selftest_all(drivers_for_test), liveness.set_selftest)
        # The drivers' health (the printer's paper sensors asked each time) goes into the database; the daemon
        # reports it in its heartbeat.
        drivers = hardware.drivers
        health_timer = QTimer(interval=10_000)
        health_timer.timeout.connect(
            lambda: hardware.runner.run(lambda: outbox.put_driver_health(drivers.health(probe=True)), lambda _r: None))
        health_timer.start()
        hardware.runner.run(lambda: outbox.put_driver_health(drivers.health(probe=True)), lambda _r: None)
    try:
        return int(app.exec())
    finally:
        liveness.stop()
        if health_timer is not None:
            health_timer.stop()
        del engine
        if hardware is not None:
            hardware.close()
        if daemon is not None:
            daemon.stop()
        outbox.close()


def _outbox_trouble(command: str, exc: Exception) -> int:
    """A full disk, a lock or an I/O error on the outbox: say so (nothing was moved); exit 75 (try again)."""
    print(f"kiosk {command}: the outbox cannot be opened now ({exc}); nothing was moved or lost. "
          "Free disk space or wait for the other process, then try again.", file=sys.stderr)
    return EXIT_TRY_AGAIN


def _cmd_status(args: argparse.Namespace) -> int:
    from sync.outbox.status import outbox_status
    from sync.outbox.store import Outbox, OutboxUnavailable

    home = resolve_home(args.home)
    try:
        device_id: str | None = DeviceConfig.load(home).device_id
    except DeviceConfigError:
        device_id = None
    try:
        outbox = Outbox(home / OUTBOX_FILE)
    except OutboxUnavailable as exc:
        return _outbox_trouble("status", exc)
    try:
        status = outbox_status(outbox, device_id)
    finally:
        outbox.close()
    if args.json:
        print_json(status)
    else:
        state = "connected" if status["connected"] else "not connected"
        print(f"device {device_id or '(not provisioned)'}: {state}; outbox {status['outbox']}")
        if status["quarantine"]["files"]:
            q = status["quarantine"]
            print(f"quarantined outbox files: {', '.join(q['files'])}; {q['salvaged']} undelivered message(s) "
                  f"salvaged into the outbox" + (f"; not fully readable: {', '.join(q['incomplete'])}"
                                                  if q["incomplete"] else ""))
        if status["disk"]["full"]:
            print(f"the disk is full ({status['disk']['free']} bytes free); new applications are refused")
    return 0


def _cmd_selftest(args: argparse.Namespace) -> int:
    import json

    from drivers.registry import ConfigError, build_drivers, default_sim_config, selftest_all
    from kiosk.service_mode.control import ask

    home = resolve_home(args.home)
    # The running app's own drivers first: a fresh set would pass while the app's camera is unplugged.
    answer = None if args.fresh else ask(home, {"op": "selftest", "timeout_s": args.timeout}, args.timeout + 10)
    if answer is not None and answer.get("ok"):
        return _print_selftest(args, answer.get("reports") or [], "the running kiosk app")
    config_file = home / "drivers.json"
    if config_file.exists() and not args.sim:
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except ValueError:
            print(f"kiosk selftest: {config_file} is not valid JSON", file=sys.stderr)
            return 2
    elif args.sim:
        config = default_sim_config(home)
    else:
        print(f"kiosk selftest: no drivers configured ({config_file} is missing; --sim tests the "
              "simulated set)", file=sys.stderr)
        return 2
    try:
        drivers = build_drivers(config, start=True)
    except ConfigError as exc:
        print(f"kiosk selftest: {exc}", file=sys.stderr)
        return 2
    try:
        reports = selftest_all(drivers, timeout_s=args.timeout)
    finally:
        drivers.close()
    return _print_selftest(args, reports, "a simulated set" if args.sim else "the configured drivers")


def _print_selftest(args: argparse.Namespace, reports: list[dict[str, Any]], source: str) -> int:
    from kiosk.service_mode.explain import explain

    if args.json:
        print_json(reports)
    else:
        print(f"self-test of {source}:")
        for r in reports:
            mark = "PASS" if r["ok"] else "FAIL"
            advice = explain(r["last_error"], "zh") if r["last_error"] else ""
            print(f"{mark}  {r['driver']:<18} {r['kind']:<8} {r['state']:<9} {r['last_error'] or ''}"
                  + (f"  {advice}" if advice else ""))
    if not reports:
        return 1
    return 0 if all(r["ok"] for r in reports) else 1


def _cmd_provision(args: argparse.Namespace) -> int:
    from kiosk.service_mode.provisioning import provision

    token = args.token
    if args.qr:
        from drivers.still_image import ImageRefused

        try:
            token = _token_from_image(Path(args.qr))
        except FileNotFoundError:
            print(f"kiosk provision: {args.qr}: no such file", file=sys.stderr)
            return 2
        except (OSError, ImageRefused) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            print(f"kiosk provision: {args.qr}: {reason}", file=sys.stderr)
            return 2
        if token is None:
            print("kiosk provision: no enrolment QR code found in that image", file=sys.stderr)
            return 2
    if not token:
        print("kiosk provision: give the token, or --qr IMAGE", file=sys.stderr)
        return 2
    result = provision(resolve_home(args.home), token, timeout_s=args.timeout)
    if args.json:
        print_json({"ok": result.ok, "code": result.code, "message": result.message, "device_id": result.device_id})
    else:
        print(result.message, file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else (3 if result.code == "pending" else 1)


def _token_from_image(path: Path) -> str | None:
    from drivers.codes import DecodePipeline
    from drivers.still_image import read_still

    image = read_still(path)  # OSError, or ImageRefused: empty, unreadable, over the pixel cap
    for code in DecodePipeline("still").decode(image):
        if code.text and code.text.startswith("KIOSKPROV1:"):
            return code.text
    return None


def _cmd_config(args: argparse.Namespace) -> int:
    from sync.kiosk_config import ConfigError, apply_updates, load_config
    from sync.outbox.store import open_outbox

    home = resolve_home(args.home)
    if args.action == "get":
        config = load_config(home)
        unknown = [k for k in args.items if k not in config]
        if unknown:
            print(f"kiosk config: unknown setting {unknown[0]!r}", file=sys.stderr)
            return 2
        shown = {k: config[k] for k in args.items} if args.items else config
        if args.json:
            print_json(shown)
        else:
            for key, value in shown.items():
                print(f"{key}={value}")
        return 0
    updates = {}
    for item in args.items:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"kiosk config set: write KEY=VALUE, not {item!r}", file=sys.stderr)
            return 2
        updates[key.strip()] = value
    before = load_config(home)
    try:
        version, config = apply_updates(home, updates, source="technician")
    except ConfigError as exc:
        print(f"kiosk config set: {exc} (nothing changed)", file=sys.stderr)
        return 2
    try:
        device = DeviceConfig.load(home)
    except DeviceConfigError:
        device = None
    if device is not None:  # audited at the central
        outbox = open_outbox(home, device)
        outbox.enqueue_event(device, "config_changed", {"keys": sorted(updates), "source": "technician",
                                                        "config_version": version})
        outbox.close()
    if args.json:
        print_json(config)
    else:  # say what changed (and what did not), so the technician sees the command took
        for key in updates:
            if before.get(key) == config[key]:
                print(f"{key}={config[key]} (unchanged)")
            else:
                print(f"{key}: {before.get(key)} -> {config[key]}")
        print(f"settings version {version} saved; audited at the central" if device is not None
              else f"settings version {version} saved")
    return 0


def _cmd_service_pin(args: argparse.Namespace) -> int:
    import getpass

    from kiosk.service_mode.pin import PinError, PinStore

    home = resolve_home(args.home)
    pin = sys.stdin.readline() if not sys.stdin.isatty() else getpass.getpass("service PIN (6-12 digits): ")
    try:
        PinStore(home).set_pin(pin.strip())
    except PinError as exc:
        print(f"kiosk service-pin: {exc} (nothing changed)", file=sys.stderr)
        return 2
    print("service PIN set")
    return 0


def _cmd_export_undelivered(args: argparse.Namespace) -> int:
    from kiosk.service_mode.data import DataError, export_undelivered
    from sync.outbox.store import Outbox, OutboxUnavailable

    home = resolve_home(args.home)
    try:
        outbox = Outbox(home / OUTBOX_FILE)
    except OutboxUnavailable as exc:
        return _outbox_trouble("export-undelivered", exc)
    try:
        result = export_undelivered(home, outbox, args.folder)
    except DataError as exc:
        print(f"kiosk export-undelivered: {exc.message}", file=sys.stderr)
        return 1 if exc.code == "nothing" else 2
    finally:
        outbox.close()
    if args.json:
        print_json({"folder": str(result.folder), "count": result.count, "submissions": result.submissions})
    else:
        print(f"exported {result.count} messages ({result.submissions} applications) to {result.folder}")
    return 0


def _cmd_update_usb(args: argparse.Namespace) -> int:
    """Stage a signed release from a USB stick for the sync daemon (kiosk/service_mode/usb_update.py)."""
    from kiosk.service_mode.usb_update import MOUNT_ROOTS, find_releases, stage

    roots = (Path(args.source),) if args.source else MOUNT_ROOTS
    found = [r for r in find_releases(roots) if not args.version or r.version == args.version]
    if not found:
        print("kiosk update-usb: no signed release (street-kiosk-VERSION.tar.gz with its .release.json) found on "
              f"{', '.join(str(r) for r in roots)}", file=sys.stderr)
        return 2
    chosen = found[-1]
    try:
        staged = stage(resolve_home(args.home), chosen)
    except OSError as exc:
        print(f"kiosk update-usb: {exc}", file=sys.stderr)
        return EXIT_TRY_AGAIN
    print(f"release {chosen.version} staged ({staged.name}): the sync daemon checks its signature and installs it "
          "between residents' sessions, then confirms it healthy or rolls it back; see usb_update in "
          "'kiosk status --json'")
    return 0


def _cmd_factory_reset(args: argparse.Namespace) -> int:
    from kiosk.service_mode.data import DataError, factory_reset

    if not args.yes:
        print("kiosk factory-reset: this wipes identity, secrets, the PIN, outbox and settings; add --yes",
              file=sys.stderr)
        return 2
    from kiosk.service_mode.data import not_exported
    from kiosk.service_mode.sync_control import ExternalSync
    from sync.outbox.store import Outbox, OutboxUnavailable

    home = resolve_home(args.home)
    try:
        outbox = Outbox(home / OUTBOX_FILE)
    except OutboxUnavailable as exc:  # it cannot tell what is undelivered: refused, nothing wiped
        return _outbox_trouble("factory-reset", exc)
    try:
        if not not_exported(home, outbox):
            # kiosk-syncd lets go of the identity first (it then finds none and stops): nothing is sent for a
            # wiped kiosk (kiosk/service_mode/sync_control.py).
            ExternalSync().hold(outbox)
        factory_reset(home, outbox)
    except DataError as exc:
        print(f"kiosk factory-reset: {exc.message}", file=sys.stderr)
        return 1
    except OutboxUnavailable as exc:
        return _outbox_trouble("factory-reset", exc)
    finally:
        outbox.close()
    print("factory reset done: provision the kiosk again")
    return 0


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", help="kiosk data folder (default $KIOSK_HOME or ~/.local/share/kiosk)")
    common.add_argument("-v", "--verbose", action="store_true")
    parser = argparse.ArgumentParser(prog="kiosk", description="Street-office self-service kiosk.")
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("run", parents=[common], help="the touchscreen app")
    p.add_argument("--sim", action="store_true", help="simulated hardware; sync daemon in this process")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--windowed", dest="fullscreen", action="store_false")
    mode.add_argument("--fullscreen", dest="fullscreen", action="store_true")
    p.set_defaults(func=_cmd_run, fullscreen=False)

    p = sub.add_parser("demo", parents=[common], help="the whole loop on this machine, simulated hardware")
    p.add_argument("--headless", action="store_true", help="scripted session offscreen even with a display")
    p.add_argument("--output", default="demo-output", help="folder for the screenshots (default demo-output)")
    p.add_argument("--timeout", type=float, default=90.0)
    p.add_argument("--gallery", metavar="DIR", help="render every screen (zh/en, standard/elder, 1280x1024, "
                   "1920x1080, 1080x1920) into DIR with layout.json listing layout violations; exit 1 if any")
    p.add_argument("--sizes", help="with --gallery: only these sizes, e.g. 1920x1080,1080x1920")
    p.add_argument("--languages", help="with --gallery: only these languages, e.g. zh")
    p.set_defaults(func=demo_command)

    p = sub.add_parser("status", parents=[common], help="outbox counts and connection")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("selftest", parents=[common], help="self-test every configured driver")
    p.add_argument("--json", action="store_true")
    p.add_argument("--sim", action="store_true", help="test the simulated driver set (when no app runs)")
    p.add_argument("--fresh", action="store_true",
                   help="build and test a fresh driver set even when the kiosk app runs (it may hold the devices)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per driver")
    p.set_defaults(func=_cmd_selftest)

    p = sub.add_parser("provision", parents=[common], help="enrol this kiosk with a token the central issued")
    p.add_argument("token", nargs="?", help="the enrolment token (KIOSKPROV1:...)")
    p.add_argument("--qr", help="read the token from a photo or PNG of its QR code")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the central's confirmation")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_provision)

    p = sub.add_parser("config", parents=[common], help="read or change this kiosk's settings")
    p.add_argument("action", choices=["get", "set"])
    p.add_argument("items", nargs="*", help="get: setting names (default all); set: KEY=VALUE ...")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser("service-pin", parents=[common], help="set the service-mode PIN (read from stdin)")
    p.set_defaults(func=_cmd_service_pin)

    p = sub.add_parser("export-undelivered", parents=[common],
                       help="write undelivered submissions (sealed for the central) to a folder, e.g. a USB stick")
    p.add_argument("folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_export_undelivered)

    p = sub.add_parser("update-usb", parents=[common], help="apply a signed release from a USB stick")
    p.add_argument("--from", dest="source", help="the folder to look in (default: mounted sticks under /media, "
                                                 "/run/media, /mnt)")
    p.add_argument("--version", help="the release to apply when the stick holds several (default: the newest)")
    p.set_defaults(func=_cmd_update_usb)

    p = sub.add_parser("factory-reset", parents=[common],
                       help="wipe identity, secrets, outbox and settings (refused while data is not exported)")
    p.add_argument("--yes", action="store_true", help="really do it")
    p.set_defaults(func=_cmd_factory_reset)

    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    setup_logging(getattr(args, "verbose", False))
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
