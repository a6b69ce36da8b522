"""Keep the virtual keyboard's Pinyin engine from remembering what residents type.

Measured on the PySide6 6.11 wheels (``libqtvkbpinyinplugin.so`` imports
``QStandardPaths::writableLocation`` and no ``VirtualKeyboardSettings`` symbol; Qt's
``pinyindecoderservice.cpp`` says the same): the Pinyin engine is one per process; the first time a
keyboard is shown it opens its user dictionary at ``<config location>/qtvirtualkeyboard/pinyin/usr_dict.dat``
(``$XDG_CONFIG_HOME``, else ``~/.config``) and it ignores ``VirtualKeyboardSettings.userDataPath``. With the
dictionary open it learns every phrase a resident composes from partial candidates (a name, typed as
"wang" + "xiu mei"), suggests it to the next resident, and writes it in clear UTF-16 when the process ends.

So the kiosk does two things:

1. every field a resident types into carries ``Qt.ImhSensitiveData`` (``KField.qml`` always sets it): for
   such fields the engine closes its user dictionary and learns nothing, in memory or on disk
   (``tests/test_keyboard_privacy.py`` shows the same typing *is* learned without the flag);
2. the process's config location is a private per-process folder under the temp directory (tmpfs on the
   kiosk), emptied at every session wipe and removed at exit: even the empty dictionary the engine creates
   at start never lands in the kiosk user's home.

The per-session ``userDataPath`` folder (``ResidentSession.keyboard_dir``) stays for the input methods that
do honour it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

CONFIG_ENV = "XDG_CONFIG_HOME"  # what QStandardPaths::ConfigLocation follows on Linux
ENGINE_PREFIX = "engine-"
ENGINE_DATA = Path("qtvirtualkeyboard")  # everything the keyboard's engines write under the config location
PINYIN_USER_DICT = ENGINE_DATA / "pinyin" / "usr_dict.dat"

_engine_dir: Path | None = None


def default_root() -> Path:
    return Path(tempfile.gettempdir()) / "kiosk-keyboard"


def confine_engine_data(root: Path | None = None) -> Path:
    """Point this process's config location at a private folder; once, before Qt starts any thread.

    Returns the folder. Later calls return the same folder: the Pinyin engine reads the location once.
    """
    global _engine_dir
    if _engine_dir is not None:
        return _engine_dir
    root = root or default_root()
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        _remove_stale(root)
        path = root / f"{ENGINE_PREFIX}{os.getpid()}"
        path.mkdir(mode=0o700, exist_ok=True)
    except OSError:  # e.g. another user's folder of that name: a fresh private one instead
        path = Path(tempfile.mkdtemp(prefix=f"kiosk-keyboard-{ENGINE_PREFIX}"))
    os.environ[CONFIG_ENV] = str(path)
    _engine_dir = path
    atexit.register(shutil.rmtree, path, True)
    return path


def engine_dir() -> Path | None:
    """The folder the keyboard's engines write to in this process (None until confined)."""
    return _engine_dir


def forget_learned() -> None:
    """Delete whatever the keyboard's engines wrote (called at every session wipe)."""
    if _engine_dir is not None:
        shutil.rmtree(_engine_dir / ENGINE_DATA, ignore_errors=True)


def _remove_stale(root: Path) -> None:
    """Folders of kiosk processes that died without cleaning up (power cut, kill -9)."""
    for child in root.glob(f"{ENGINE_PREFIX}*"):
        pid = child.name.removeprefix(ENGINE_PREFIX)
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(child, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def contains_text(folder: Path, text: str) -> bool:
    """Whether any file under ``folder`` holds ``text`` (UTF-16LE as the engine stores it, or UTF-8)."""
    needles = (text.encode("utf-16-le"), text.encode("utf-8"))
    for path in folder.rglob("*") if folder.exists() else ():
        with contextlib.suppress(OSError):
            if path.is_file() and any(n in path.read_bytes() for n in needles):
                return True
    return False
