"""“我的申请” by ID card across the platform: a kiosk asks the central (a sealed keyed hash of the ID number,
never the number) and lists the card's applications taken at any kiosk, of any site; offline it lists its
own and says so. Real broker, real central (ingest worker), two kiosks' outboxes and sync daemons."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central.keys import CentralKeys
from central.models import Event
from central.status_push import set_status, site_lookup_key
from drivers.idcard.simulator import SAMPLE_RECORD
from kiosk import automation as ui
from kiosk.journey import card_lookup
from kiosk.journey.status import lookup_by_tag, save_lookup_key
from sync.daemon.commands import CommandExecutor
from sync.daemon.service import SyncDaemon
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol.commands import lookup_tag
from tests.helpers import Central, make_device, start_daemon, wait_until
from tests.journey_kit import close_kiosk, open_kiosk
from tests.test_status_push import ID_A, ID_B, _receipt

OTHER_SITE = "另一街道"


def _other_kiosk(tmp_path: Path, broker_url: str, keys: CentralKeys) -> tuple[DeviceConfig, Outbox]:
    """A second kiosk, at another site, with its own outbox."""
    home = tmp_path / "kiosk-b"
    device = dataclasses.replace(make_device(home, broker_url, keys), site=OTHER_SITE)
    device.save(home)
    return device, Outbox(home / OUTBOX_FILE)


def _daemon(outbox: Outbox, device: DeviceConfig, home: Path) -> SyncDaemon:
    return start_daemon(outbox, device, command_handler=CommandExecutor(outbox, device, home).handle)


@pytest.mark.slow
def test_a_card_lookup_finds_the_cards_applications_from_every_kiosk(
        tmp_path: Path, broker: Any, central: Central, central_keys: CentralKeys, device: DeviceConfig,
        outbox: Outbox, kiosk_home: Path) -> None:
    device_b, outbox_b = _other_kiosk(tmp_path, broker.url, central_keys)
    a, b = _daemon(outbox, device, kiosk_home), _daemon(outbox_b, device_b, tmp_path / "kiosk-b")
    try:
        here = _receipt(outbox, device, ID_A)
        there = _receipt(outbox_b, device_b, ID_A)  # the same card, at a kiosk of another site
        someone_else = _receipt(outbox_b, device_b, ID_B)
        wait_until(lambda: central.store.count() == 3, 20, "three applications at the central")
        set_status(central.store, central_keys, there, "办理中", actor="back-office", broker_url=None)
        tag = lookup_tag(site_lookup_key(central_keys, device.site), ID_A)
        assert [r.receipt_no for r in lookup_by_tag(outbox, tag)] == []  # kiosk A knows nothing by card yet
        wait_until(lambda: card_lookup.online(outbox), 15, "kiosk A online")

        query = card_lookup.ask_central(outbox, device, tag)
        wait_until(lambda: card_lookup.answered(outbox, query) is not None, 15, "the central's answer")
        assert card_lookup.answered(outbox, query) == 2
        found = {r.receipt_no: r for r in lookup_by_tag(outbox, tag)}
        assert set(found) == {here, there} and someone_else not in found
        assert found[there].state == "processing" and found[here].state == "received"

        # The question carried no ID number in clear (meta: type and query id only), and the central kept no tag.
        with central.store.session() as s:
            events = s.scalars(select(Event).where(Event.type == "card_lookup")).all()
            assert len(events) == 1 and events[0].private_sealed is None
            assert json.loads(events[0].meta_json) == {"type": "card_lookup", "query": query}

        # A card with nothing anywhere: answered with none (the screen need not wait for the time-out).
        nobody = lookup_tag(site_lookup_key(central_keys, device.site), "110101200001010010")
        query = card_lookup.ask_central(outbox, device, nobody)
        wait_until(lambda: card_lookup.answered(outbox, query) is not None, 15, "the empty answer")
        assert card_lookup.answered(outbox, query) == 0 and lookup_by_tag(outbox, nobody) == []
    finally:
        a.stop()
        b.stop()
        outbox_b.close()


@pytest.mark.slow
def test_the_status_screen_lists_another_kiosks_application_and_says_offline_when_it_is(
        qapp: Any, tmp_path: Path, broker: Any, central: Central, central_keys: CentralKeys,
        device: DeviceConfig, outbox: Outbox, kiosk_home: Path) -> None:
    device_b, outbox_b = _other_kiosk(tmp_path, broker.url, central_keys)
    save_lookup_key(kiosk_home, site_lookup_key(central_keys, device.site))
    b = _daemon(outbox_b, device_b, tmp_path / "kiosk-b")
    try:
        there = _receipt(outbox_b, device_b, SAMPLE_RECORD.id_number)
        wait_until(lambda: central.store.count() == 1, 20, "kiosk B's application at the central")
    finally:
        b.stop()
        outbox_b.close()
    k = open_kiosk(tmp_path, outbox, device)
    try:
        def look_up_by_card(record: Any) -> None:
            ui.tap_named(k.window, "startButton")
            ui.tap_named(k.window, "statusButton")
            ui.wait_for_item(k.window, "statusScreen")
            ui.tap_named(k.window, "statusByCardButton")
            k.idcard_sim.place_card(record)

        # Offline: this machine's applications only (none), and the screen says so plainly (another card: the
        # reader reports a card once until it sees it lifted).
        look_up_by_card(dataclasses.replace(SAMPLE_RECORD, id_number="110105198001010016"))
        assert ui.process_events_until(lambda: "没有联网" in k.status.statusText, 15), k.status.statusText
        k.idcard_sim.remove_card()
        assert k.status.statusText == f"{k.vm.s['statusCardNone']}\n{k.vm.s['statusCardOffline']}"
        k.vm.endSession()

        a = _daemon(outbox, device, kiosk_home)
        try:
            wait_until(lambda: card_lookup.online(outbox), 15, "kiosk A online")
            look_up_by_card(SAMPLE_RECORD)
            assert ui.process_events_until(lambda: k.status.statusList.rowCount() == 1, 20), k.status.statusText
            k.idcard_sim.remove_card()
            assert [r["receiptNo"] for r in k.status.statusList.rows] == [there]
            assert k.status.statusText.endswith(k.vm.s["statusCardAll"])
        finally:
            a.stop()
    finally:
        close_kiosk(k)
