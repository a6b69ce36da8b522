"""Which camera, ID-card reader and printer the kiosk uses: the choices present on this machine, a change
checked against ``drivers.registry`` and written to ``{home}/drivers.json`` (atomically, the previous kept
as ``drivers.json.bak``).

The technician picks per role from what is plugged in (``/dev/video*`` with the names the kernel gives
them, serial ports, USB line printers), the simulators, "not installed", or the current setting when it
is none of those (e.g. a ``/dev/v4l/by-id`` path or a network printer). A device that does not exist is
refused before anything is written. The roots of ``/dev`` and ``/sys`` are parameters so tests can use
real files in a temporary folder. Device paths are not personal data; nothing here touches any.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.registry import ConfigError, build_drivers
from sync.runtime.files import write_private

DRIVERS_FILE = "drivers.json"
CAMERA_ROLES = ("scanner", "document")
ROLES = ("camera.scanner", "camera.document", "idcard", "printer")
ROLE_LABELS = {"camera.scanner": "扫码摄像头", "camera.document": "证件摄像头", "idcard": "身份证读卡器",
               "printer": "凭条打印机"}
NONE = "none"
SERIAL_GLOBS = ("ttyUSB*", "ttyACM*", "ttyS*")
SIM_CAMERA = {"scanner": {"kind": "sim", "fps": 15, "width": 640, "height": 480},
              "document": {"kind": "sim", "fps": 5, "width": 1280, "height": 960}}


class DevicesError(ValueError):
    """A device change that cannot be made; ``str()`` is the Chinese message for the technician."""


@dataclass(frozen=True)
class Choice:
    key: str  # stable id within the role: none, sim, file, current, or the device path
    label: str  # what the technician reads
    config: dict[str, Any] | None  # the role's section in drivers.json; None = not installed
    device: str = ""  # the device node that must exist when chosen ("" for simulators, files, network)


@dataclass
class RoleChoices:
    role: str
    label: str
    choices: list[Choice] = field(default_factory=list)
    selected: str = NONE

    def find(self, key: str) -> Choice | None:
        return next((c for c in self.choices if c.key == key), None)


# == what is present =================================================================================

def _natural(path: Path) -> tuple[str, int]:
    digits = "".join(ch for ch in path.name if ch.isdigit())
    return path.name.rstrip("0123456789"), int(digits) if digits else -1


def video_devices(dev_root: Path = Path("/dev"), sys_root: Path = Path("/sys")) -> list[tuple[str, str]]:
    """``(path, name)`` of every ``/dev/video*``; the name from ``/sys/class/video4linux/*/name`` if any."""
    out = []
    for node in sorted(Path(dev_root).glob("video*"), key=_natural):
        name_file = Path(sys_root) / "class" / "video4linux" / node.name / "name"
        try:
            name = name_file.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            name = ""
        out.append((str(node), name))
    return out


def serial_ports(dev_root: Path = Path("/dev")) -> list[str]:
    """The serial ports that exist: USB-serial adapters and CDC-ACM first, then the board's own UARTs."""
    return [str(p) for pattern in SERIAL_GLOBS for p in sorted(Path(dev_root).glob(pattern), key=_natural)]


def usb_printers(dev_root: Path = Path("/dev")) -> list[str]:
    return [str(p) for p in sorted((Path(dev_root) / "usb").glob("lp*"), key=_natural)]


# == the current setting =============================================================================

def load_drivers(home: Path) -> dict[str, Any]:
    """The current ``drivers.json`` ({} when there is none); unreadable JSON is a :class:`DevicesError`."""
    path = Path(home) / DRIVERS_FILE
    if not path.exists():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DevicesError(f"{DRIVERS_FILE} 无法读取（{type(exc).__name__}），请先修复该文件") from exc
    if not isinstance(config, dict):
        raise DevicesError(f"{DRIVERS_FILE} 格式错误，请先修复该文件")
    return config


def section(config: Mapping[str, Any], role: str) -> dict[str, Any] | None:
    if role.startswith("camera."):
        cams = config.get("cameras") or {}
        value = cams.get(role.split(".", 1)[1]) if isinstance(cams, Mapping) else None
    else:
        value = config.get(role)
    return dict(value) if isinstance(value, Mapping) and value else None


def _device_of(cfg: Mapping[str, Any]) -> str:
    if cfg.get("kind") == "network":
        return ""
    value = cfg.get("device") or cfg.get("port") or (cfg.get("path") if cfg.get("kind") == "usb" else None)
    return str(value) if isinstance(value, str) else ""


def _describe(cfg: Mapping[str, Any]) -> str:
    kind = str(cfg.get("kind", "?"))
    where = cfg.get("device") or cfg.get("port") or cfg.get("path") or cfg.get("host") or ""
    if kind == "network":
        where = f"{cfg.get('host')}:{cfg.get('port', 9100)}"
    return f"{kind} {where}".strip()


def _same_kind(current: dict[str, Any] | None, kinds: tuple[str, ...]) -> dict[str, Any]:
    return copy.deepcopy(current) if current and current.get("kind") in kinds else {}


# == the choices =====================================================================================

def choices(home: Path, config: Mapping[str, Any] | None = None, *, dev_root: Path = Path("/dev"),
            sys_root: Path = Path("/sys")) -> list[RoleChoices]:
    """Every role's choices and which one is selected now (``config`` defaults to ``drivers.json``)."""
    config = load_drivers(home) if config is None else config
    videos, ports, lps = video_devices(dev_root, sys_root), serial_ports(dev_root), usb_printers(dev_root)
    out = []
    for role in ROLES:
        current = section(config, role)
        rc = RoleChoices(role, ROLE_LABELS[role], [Choice(NONE, "未安装", None)])
        if role.startswith("camera."):
            cam_role = role.split(".", 1)[1]
            rc.choices.append(Choice("sim", "模拟摄像头", dict(SIM_CAMERA[cam_role])))
            base = _same_kind(current, ("opencv", "v4l2")) or {"kind": "opencv"}
            for path, name in videos:
                rc.choices.append(Choice(path, f"{Path(path).name} {name}".strip(), {**base, "device": path}, path))
        elif role == "idcard":
            rc.choices.append(Choice("sim", "模拟读卡器", {"kind": "sim"}))
            base = _same_kind(current, ("serial",)) or {"kind": "serial"}
            for port in ports:
                rc.choices.append(Choice(port, f"串口 {Path(port).name}", {**base, "port": port}, port))
        else:
            out_dir = Path(home) / "printer"
            file_cfg = _same_kind(current, ("file",)) or {
                "kind": "file", "path": str(out_dir / "receipts.escpos"), "text_path": str(out_dir / "receipts.txt")}
            rc.choices.append(Choice("file", "模拟打印机（写入文件）", file_cfg))
            for path in lps:
                base = _same_kind(current, ("usb",)) or {"kind": "usb"}
                rc.choices.append(Choice(path, f"USB 打印机 {Path(path).name}", {**base, "path": path}, path))
            for port in ports:
                base = _same_kind(current, ("serial",)) or {"kind": "serial"}
                rc.choices.append(Choice(f"serial:{port}", f"串口打印机 {Path(port).name}",
                                         {**base, "port": port}, port))
        rc.selected = _select(rc, current)
        out.append(rc)
    return out


def _select(rc: RoleChoices, current: dict[str, Any] | None) -> str:
    if current is None:
        return NONE
    for c in rc.choices:
        if c.config == current:
            return c.key
    sim = rc.find("sim")
    if sim is not None and current.get("kind") == "sim":  # a tuned simulator stays as it is
        rc.choices[rc.choices.index(sim)] = Choice("sim", sim.label, current)
        return "sim"
    # The current setting is none of the detected ones (a by-id path, a network printer, a missing device):
    # it stays a choice, so saving other roles never changes it behind the technician's back.
    rc.choices.append(Choice("current", f"当前：{_describe(current)}", current, _device_of(current)))
    return "current"


# == a change ========================================================================================

def plan(config: Mapping[str, Any], roles: list[RoleChoices], selection: Mapping[str, str]) -> tuple[
        dict[str, Any], list[str]]:
    """The new ``drivers.json`` for ``selection`` (role -> choice key) and the roles it changes."""
    new = copy.deepcopy(dict(config))
    changed: list[str] = []
    by_role = {rc.role: rc for rc in roles}
    for role, key in selection.items():
        rc = by_role.get(role)
        if rc is None:
            raise DevicesError(f"未知的设备角色：{role}（未做任何修改）")
        choice = rc.find(key)
        if choice is None:
            if key.startswith(("/", "serial:")):  # listed a moment ago, unplugged since
                raise DevicesError(f"{rc.label}：设备 {key.removeprefix('serial:')} 不存在，请检查连接（未做任何修改）")
            raise DevicesError(f"{rc.label}：没有“{key}”这个选项（未做任何修改）")
        if choice.config == section(config, role):
            continue
        changed.append(role)
        if role.startswith("camera."):
            cams = dict(new.get("cameras") or {})
            cam_role = role.split(".", 1)[1]
            if choice.config is None:
                cams.pop(cam_role, None)
            else:
                cams[cam_role] = copy.deepcopy(choice.config)
            if cams:
                new["cameras"] = cams
            else:
                new.pop("cameras", None)
        elif choice.config is None:
            new.pop(role, None)
        else:
            new[role] = copy.deepcopy(choice.config)
    return new, sorted(changed)


def validate(new: Mapping[str, Any], roles: list[RoleChoices], selection: Mapping[str, str]) -> None:
    """Refuse a chosen device that does not exist, then build the whole set once (nothing opened)."""
    by_role = {rc.role: rc for rc in roles}
    for role, key in selection.items():
        choice = by_role[role].find(key)
        if choice is not None and choice.device and not Path(choice.device).exists():
            raise DevicesError(f"{by_role[role].label}：设备 {choice.device} 不存在，请检查连接（未做任何修改）")
    try:
        drivers = build_drivers(new, start=False)
    except ConfigError as exc:
        raise DevicesError(f"设备配置无效：{exc}（未做任何修改）") from exc
    drivers.close()


def save(home: Path, new: Mapping[str, Any]) -> Path:
    """Write ``drivers.json`` atomically (0600); the previous content is kept as ``drivers.json.bak``."""
    path = Path(home) / DRIVERS_FILE
    if path.exists():
        write_private(path.with_name(DRIVERS_FILE + ".bak"), path.read_bytes())
    return write_private(path, json.dumps(new, ensure_ascii=False, indent=2) + "\n")


def change(home: Path, selection: Mapping[str, str], *, dev_root: Path = Path("/dev"),
           sys_root: Path = Path("/sys")) -> list[str]:
    """Validate and write ``selection``; returns the changed roles ([] = nothing to do, nothing written)."""
    config = load_drivers(home)
    roles = choices(home, config, dev_root=dev_root, sys_root=sys_root)
    new, changed = plan(config, roles, selection)
    if not changed:
        return []
    validate(new, roles, {r: k for r, k in selection.items() if r in changed})
    save(home, new)
    return changed
