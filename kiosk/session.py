"""One resident's session: every piece of personal data the kiosk holds while they use it.

The view-models keep personal data here and nowhere else, so one :meth:`ResidentSession.wipe` (at
submit, on the idle time-out, on "done") forgets it all: the identity read from the card, the form,
the document photos and their previews, the virtual keyboard's per-session user data folder and whatever
the keyboard's engines wrote (see :mod:`kiosk.keyboard`).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.interfaces import IdentityRecord
from kiosk import keyboard
from kiosk.camera.preview import PreviewStore


@dataclass
class Material:
    """One material of the chosen item and what the resident gave for it (photo, e-licence, 容缺)."""

    id: str
    name_zh: str
    name_en: str
    required: bool
    allow_missing: bool
    elicence: tuple[str, ...] = ()  # e-licence types that may replace the paper document
    declarable: bool = False  # 告知承诺制: the resident's declaration may replace it
    # needed | captured | elicence | missing (容缺) | exempt (免提交: read by the kiosk) | declared (本人承诺代替)
    state: str = "needed"
    photo: bytes | None = None  # JPEG; personal data
    licence: str = ""  # e-licence reference id; personal data


@dataclass
class ResidentSession:
    """The personal data of one resident. Never logged; ``wipe()`` forgets it."""

    previews: PreviewStore
    keyboard_root: Path
    identity: IdentityRecord | None = None
    values: dict[str, str] = field(default_factory=dict)
    materials: list[Material] = field(default_factory=list)
    delivery: str = "onsite"  # onsite | post
    delivery_address: str = ""
    delivery_phone: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    keyboard_dir: Path = field(init=False)
    generation: int = 0

    def __post_init__(self) -> None:
        self.keyboard_dir = self._new_keyboard_dir()

    def _new_keyboard_dir(self) -> Path:
        path = self.keyboard_root / f"session-{uuid.uuid4().hex[:12]}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @classmethod
    def create(cls, previews: PreviewStore | None = None, keyboard_root: Path | None = None) -> ResidentSession:
        root = keyboard_root or Path(tempfile.gettempdir()) / "kiosk-keyboard"
        return cls(previews or PreviewStore(), root)

    @property
    def has_personal_data(self) -> bool:
        return bool(self.identity or self.values or self.delivery_address or self.delivery_phone
                    or any(m.photo or m.licence for m in self.materials) or self.extra)

    def wipe(self) -> None:
        """Forget everything of this resident and start a fresh keyboard folder for the next one."""
        self.identity = None
        self.values.clear()
        for m in self.materials:
            m.photo = None
            m.licence = ""
        self.materials.clear()
        self.delivery = "onsite"
        self.delivery_address = ""
        self.delivery_phone = ""
        self.extra.clear()
        self.previews.clear()
        old = self.keyboard_dir
        self.keyboard_dir = self._new_keyboard_dir()
        shutil.rmtree(old, ignore_errors=True)
        keyboard.forget_learned()
        self.generation += 1

    def close(self) -> None:
        self.wipe()
        shutil.rmtree(self.keyboard_dir, ignore_errors=True)
