"""What the journey needs from the sync layer: queue a submission, read the machine's state.
Never MQTT: the sync daemon delivers what lands in the outbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sync.device import DeviceConfig
from sync.outbox.status import daemon_connected
from sync.outbox.store import Attachment, Outbox, Receipt


@dataclass(frozen=True)
class MachineState:
    online: bool
    maintenance: bool
    maintenance_message: str
    refusal_code: str | None  # new submissions refused above the store's high-water mark
    refusal_message: str


class Submitter:
    def __init__(self, outbox: Outbox, device: DeviceConfig) -> None:
        self.outbox = outbox
        self.device = device

    def submit(self, service_code: str, fields: Sequence[Mapping[str, Any]],
               attachments: Sequence[Attachment] = ()) -> Receipt:
        return self.outbox.enqueue_submission(self.device, service_code, fields, attachments)

    def event(self, event_type: str, meta: Mapping[str, Any], private: Mapping[str, Any] | None = None) -> str:
        """Queue a rating, complaint or other event; ``private`` is sealed for the central."""
        return self.outbox.enqueue_event(self.device, event_type, meta, private=private)

    def connected(self) -> bool:
        return daemon_connected(self.outbox.states())

    def state(self) -> MachineState:
        states = self.outbox.states()
        refusal = self.outbox.refusal()
        return MachineState(
            online=daemon_connected(states),
            maintenance=states.get("maintenance") == "1",
            maintenance_message=states.get("maintenance_message", ""),
            refusal_code=refusal.code if refusal else None,
            refusal_message=refusal.message if refusal else "",
        )

