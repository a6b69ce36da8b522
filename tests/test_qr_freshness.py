"""An e-licence QR that carries its time is refused once older than its validity window (issue 20): real QR
images through the kiosk's real decoder, and through the real UI on the identify and materials screens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.codes.payloads import CLOCK_SKEW_S, VALIDITY_S, ELicenceRef, freshness_problem, parse_payload
from drivers.codes.pipeline import DecodePipeline
from kiosk import automation as ui
from kiosk.hardware import SCANNER
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from tests.journey_kit import JZZ, Kiosk, close_kiosk, fill_required, go_to_item, open_kiosk, qr_frame

FULL_ID = "11010519491231002X"


def uri(ts: int | None, kind: str = "idcard", ident: str = FULL_ID) -> str:
    return f"ezz://licence?type={kind}&id={ident}&issuer=110000" + (f"&ts={ts}" if ts is not None else "")


def decoded(text: str) -> ELicenceRef:
    [code] = DecodePipeline("live").decode(qr_frame(text))  # the kiosk's scanner pipeline on a real image
    ref = parse_payload(code)
    assert isinstance(ref, ELicenceRef)
    return ref


def test_real_codes_are_judged_by_their_age() -> None:
    now = int(time.time())
    assert VALIDITY_S == 20 * 60
    fresh, old = decoded(uri(now - VALIDITY_S + 60)), decoded(uri(now - VALIDITY_S - 60))
    ahead, far_ahead = decoded(uri(now + CLOCK_SKEW_S - 30)), decoded(uri(now + CLOCK_SKEW_S + 60))
    untimed = decoded('{"zzlxdm": "hukou", "zzbh": "HK1", "bfjgdm": "110000"}')
    assert freshness_problem(fresh, now) == ""
    assert freshness_problem(old, now) == "expired"
    assert freshness_problem(ahead, now) == ""  # a phone's clock a little fast
    assert freshness_problem(far_ahead, now) == "future"
    assert untimed.ts is None and freshness_problem(untimed, now) == ""
    assert freshness_problem(fresh, now, window_s=30) == "expired"  # a type with a shorter window


@pytest.fixture
def kiosk(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[Kiosk]:
    k = open_kiosk(tmp_path, outbox, device)
    yield k
    close_kiosk(k)


@pytest.mark.slow
def test_an_expired_code_is_refused_with_a_plain_message_then_a_fresh_one_works(kiosk: Kiosk) -> None:
    k = kiosk
    go_to_item(k, JZZ)
    ui.wait_for_item(k.window, "identifyScreen")
    scanner = k.camera(SCANNER)
    scanner.show(qr_frame(uri(int(time.time()) - 25 * 60)))  # a screenshot from 25 minutes ago
    assert ui.process_events_until(lambda: "已经过期" in k.identify.identifyStatus, 15)
    assert k.vm.screen == "identify" and k.vm.session.identity is None
    scanner.show(qr_frame(uri(int(time.time()) + 3600)))  # dated an hour ahead
    assert ui.process_events_until(lambda: "时间不对" in k.identify.identifyStatus, 15)
    scanner.show(qr_frame(uri(int(time.time()))))  # refreshed on the phone
    ui.wait_for_item(k.window, "formScreen", timeout_s=15)
    scanner.resume()
    assert k.form.identitySource == "qr"

    # On the materials screen the same: the material stays open and the resident is told why.
    fill_required(k)
    ui.tap_named(k.window, "formNextButton")
    ui.wait_for_item(k.window, "materialsScreen")
    ui.tap_named(k.window, "scan_1")
    # The tap has reached the screen before the code is shown (a CI run once saw no error here at all; this
    # says whether the tap or the code went missing).
    assert ui.process_events_until(lambda: k.materials.waitingForLicence, 15), "the tap on scan_1 was not taken"
    scanner.show(qr_frame(uri(int(time.time()) - 21 * 60, "hukou", "HK20261127")))
    assert ui.process_events_until(lambda: "已经过期" in k.vm.errorText, 15), (
        f"no expiry error: errorText={k.vm.errorText!r}, waiting={k.materials.waitingForLicence}, "
        f"screen={k.vm.screen}")
    assert k.materials.materials.rows[1]["mstate"] == "needed" and k.materials.waitingForLicence
    # The ID-card e-licence, fresh, is not a 户口簿: refused, and the resident is told which one is needed.
    scanner.show(qr_frame(uri(int(time.time()))))
    assert ui.process_events_until(lambda: "这是居民身份证的二维码" in k.vm.errorText, 15), k.vm.errorText
    assert "居民户口簿" in k.vm.errorText
    assert k.materials.materials.rows[1]["mstate"] == "needed" and k.materials.waitingForLicence
    scanner.show(qr_frame(uri(int(time.time()), "x-unknown", "X1")))  # a kind this kiosk does not know
    assert ui.process_events_until(lambda: "这是其他证照的二维码" in k.vm.errorText, 15), k.vm.errorText
    assert k.materials.materials.rows[1]["mstate"] == "needed" and k.materials.waitingForLicence
    scanner.show(qr_frame(uri(int(time.time()), "hukou", "HK20261127")))
    assert ui.process_events_until(lambda: k.materials.materials.rows[1]["mstate"] == "elicence", 15)
    assert k.vm.errorText == ""
    scanner.resume()
