"""The word written on the card reader in the identify screen's picture follows the screen's language (it said
读卡区 in English), and is no smaller than 18 pt in elder mode (kiosk/layout_checks.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk import automation as ui
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from tests.journey_kit import JZZ, Kiosk, close_kiosk, go_to_item, open_kiosk
from tests.test_layout import set_look


@pytest.fixture
def kiosk(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[Kiosk]:
    k = open_kiosk(tmp_path, outbox, device)
    yield k
    close_kiosk(k)


def _texts(item: Any) -> list[Any]:
    out, stack = [], [item]
    while stack:
        it = stack.pop()
        if isinstance(it.property("text"), str) and "▸ ID" in it.property("text"):
            out.append(it)
        stack.extend(it.childItems())
    return out


@pytest.mark.parametrize("lang,word", [("zh", "读卡区 ▸ ID"), ("en", "Reader ▸ ID")])
def test_the_reader_in_the_picture_is_labelled_in_the_screens_language(kiosk: Kiosk, lang: str, word: str) -> None:
    k = kiosk
    set_look(k, (1280, 1024), True, lang)
    go_to_item(k, JZZ)
    guide = ui.wait_for_item(k.window, "cardGuide")
    [label] = _texts(guide)
    assert label.property("text") == word
    pad = label.parentItem()
    assert label.property("contentWidth") <= pad.width(), "the word fits on the reader"
    assert label.property("font").pixelSize() >= 24  # 18 pt at 96 DPI, elder mode
