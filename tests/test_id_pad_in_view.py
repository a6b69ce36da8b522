"""The ID-number pad opens whole in view with its field: 0-9, X, 删除, 输好了 and the number typed so far visible
without scrolling,
at every resolution in elder mode (at 1280x1024 its rows from 7 down were below the form's fold)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPointF

from kiosk import automation as ui
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from tests.journey_kit import Kiosk, close_kiosk, open_kiosk
from tests.test_layout import RESOLUTIONS, set_look, to_form


@pytest.fixture
def kiosk(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[Kiosk]:
    k = open_kiosk(tmp_path, outbox, device, hardware=False)
    yield k
    close_kiosk(k)


def _flick_of(item: Any) -> Any:
    p = item.parentItem()
    while p is not None and not p.inherits("QQuickFlickable"):
        p = p.parentItem()
    return p


@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_id_pad_is_whole_in_view_in_elder_mode(kiosk: Kiosk, size: tuple[int, int]) -> None:
    k = kiosk
    set_look(k, size, True)
    to_form(k)
    field = ui.wait_for_item(k.window, "field_id_number")
    ui.scroll_into_view(field)
    ui.tap(k.window, field)
    pad = ui.wait_for_item(k.window, "idPad_id_number")
    assert ui.process_events_until(lambda: pad.isVisible(), 3)
    ui.process_events_until(lambda: False, 0.5)  # laid out and scrolled
    flick = _flick_of(pad)
    top = flick.mapToScene(QPointF(0, 0)).y()
    bottom = top + flick.height()
    for name in ("idPadKey_1", "idPadKey_X", "idPadKey_0", "idPadDelete", "idPadDone", "field"):
        item = field if name == "field" else next(i for i in _all(pad) if i.objectName() == name)
        y0 = item.mapToScene(QPointF(0, 0)).y()
        y1 = item.mapToScene(QPointF(0, item.height())).y()
        assert top - 1 <= y0 and y1 <= bottom + 1, (name, y0, y1, top, bottom)


def _all(item: Any) -> list[Any]:
    out, stack = [], [item]
    while stack:
        it = stack.pop()
        out.append(it)
        stack.extend(it.childItems())
    return out


def test_the_error_line_names_a_problem_still_there(kiosk: Kiosk) -> None:
    """下一步 on an empty form says the first problem (the name); once the name is filled in, the line above
    the buttons names the next one, never the name that is now right."""
    k = kiosk
    to_form(k)
    ui.tap_named(k.window, "formNextButton")
    assert ui.process_events_until(lambda: bool(k.vm.errorText), 3)
    first = k.vm.errorText
    ui.enter_text(k.window, "nameField", "周九")
    assert ui.process_events_until(lambda: k.vm.errorText != first, 3), k.vm.errorText
    assert k.vm.errorText  # other fields are still empty: it says which
