"""What the journey needs from the sync layer: queue a submission, read the connection state.
Never MQTT: the sync daemon delivers what lands in the outbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sync.device import DeviceConfig
from sync.outbox.status import outbox_status
from sync.outbox.store import Outbox, Receipt


class Submitter:
    def __init__(self, outbox: Outbox, device: DeviceConfig) -> None:
        self.outbox = outbox
        self.device = device

    def submit(self, service_code: str, fields: Sequence[Mapping[str, Any]]) -> Receipt:
        return self.outbox.enqueue_submission(self.device, service_code, fields)

    def connected(self) -> bool:
        return bool(outbox_status(self.outbox, self.device.device_id)["connected"])
