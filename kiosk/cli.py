"""``kiosk``: the touchscreen application and the technician's commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sync.cli_common import print_json
from sync.device import OUTBOX_FILE, DeviceConfig, DeviceConfigError, resolve_home
from sync.logconfig import setup_logging


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
    outbox = open_outbox(home, device)
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
    daemon = None
    if args.sim and device is not None:
        # Development: run the sync daemon in this process instead of as kiosk-syncd.
        from sync.daemon.service import SyncDaemon

        daemon = SyncDaemon(outbox, device, heartbeat_interval_s=float(settings["heartbeat_interval_s"])).start()
    app = ensure_application()
    config = JourneyConfig(idle_timeout_s=float(settings["idle_timeout_s"]), language=str(settings["language_default"]),
                           elder_mode=bool(settings["elder_mode_default"]))
    # Unprovisioned, the submitter has no device until first run completes (the first-run screen
    # covers the resident's screens, so nothing can be submitted before).
    engine, _window = load_ui(Submitter(outbox, device), hardware=hardware, config=config,  # type: ignore[arg-type]
                              fullscreen=args.fullscreen,
                              catalog=load_installed(home, device.command_public_key if device else None))
    health_timer = None
    if hardware is not None and hardware.drivers is not None:
        # The drivers' health goes into the database; the daemon reports it in its heartbeat.
        drivers = hardware.drivers
        health_timer = QTimer(interval=10_000)
        health_timer.timeout.connect(
            lambda: hardware.runner.run(lambda: outbox.put_driver_health(drivers.health()), lambda _r: None))
        health_timer.start()
        hardware.runner.run(lambda: outbox.put_driver_health(drivers.health()), lambda _r: None)
    try:
        return int(app.exec())
    finally:
        if health_timer is not None:
            health_timer.stop()
        del engine
        if hardware is not None:
            hardware.close()
        if daemon is not None:
            daemon.stop()
        outbox.close()


def _cmd_demo(args: argparse.Namespace) -> int:
    from kiosk.app import has_display
    from kiosk.demo import run_demo

    headless = args.headless or not has_display()
    return run_demo(Path(args.output), headless=headless, timeout_s=args.timeout)


def _cmd_status(args: argparse.Namespace) -> int:
    from sync.outbox.status import outbox_status
    from sync.outbox.store import Outbox

    home = resolve_home(args.home)
    try:
        device_id: str | None = DeviceConfig.load(home).device_id
    except DeviceConfigError:
        device_id = None
    outbox = Outbox(home / OUTBOX_FILE)
    try:
        status = outbox_status(outbox, device_id)
    finally:
        outbox.close()
    if args.json:
        print_json(status)
    else:
        state = "connected" if status["connected"] else "not connected"
        print(f"device {device_id or '(not provisioned)'}: {state}; outbox {status['outbox']}")
    return 0


def _cmd_selftest(args: argparse.Namespace) -> int:
    import json

    from drivers.registry import ConfigError, build_drivers, default_sim_config, selftest_all

    home = resolve_home(args.home)
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
    if args.json:
        print_json(reports)
    else:
        for r in reports:
            mark = "PASS" if r["ok"] else "FAIL"
            print(f"{mark}  {r['driver']:<18} {r['kind']:<8} {r['state']:<9} {r['last_error'] or ''}")
    return 0 if all(r["ok"] for r in reports) else 1


def _cmd_provision(args: argparse.Namespace) -> int:
    from kiosk.service_mode.provisioning import provision

    token = args.token
    if args.qr:
        token = _token_from_image(Path(args.qr))
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
    import cv2

    from drivers.codes import DecodePipeline

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        return None
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
    from sync.outbox.store import Outbox

    home = resolve_home(args.home)
    outbox = Outbox(home / OUTBOX_FILE)
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


def _cmd_factory_reset(args: argparse.Namespace) -> int:
    from kiosk.service_mode.data import DataError, factory_reset

    if not args.yes:
        print("kiosk factory-reset: this wipes identity, secrets, the PIN, outbox and settings; add --yes",
              file=sys.stderr)
        return 2
    try:
        factory_reset(resolve_home(args.home))
    except DataError as exc:
        print(f"kiosk factory-reset: {exc.message}", file=sys.stderr)
        return 1
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
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("status", parents=[common], help="outbox counts and connection")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("selftest", parents=[common], help="self-test every configured driver")
    p.add_argument("--json", action="store_true")
    p.add_argument("--sim", action="store_true", help="test the simulated driver set")
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
