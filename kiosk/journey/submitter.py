"""What the journey needs from the sync layer: queue a submission, read the machine's state.
Never MQTT: the sync daemon delivers what lands in the outbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError

from sync.device import DeviceConfig
from sync.kiosk_config import load_config, read_document
from sync.outbox.status import daemon_connected
from sync.outbox.store import Attachment, Outbox, OutboxFull, OutboxUnavailable, Receipt, unavailable


@dataclass(frozen=True)
class MachineState:
    online: bool
    maintenance: bool
    maintenance_message: str
    refusal_code: str | None  # new submissions refused above the store's high-water mark
    refusal_message: str
    # The settings file's version and content (``{home}/config.json``): a change made outside this process
    # (`kiosk config set`, a central's config command run by the sync daemon) is applied live from it.
    config_version: int = 0
    config: Mapping[str, Any] | None = None


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
        """Polled by the journey: an outbox that cannot be opened or read now (full disk, lock) pauses
        the kiosk with the reason; ``refusal`` retries opening it with backoff on each poll."""
        refusal: OutboxFull | None
        try:
            refusal = self.outbox.refusal()
            states = self.outbox.states()
        except OutboxUnavailable as exc:
            refusal, states = exc, {}
        except DBAPIError as exc:
            trouble = unavailable(exc, self.outbox.home)
            if trouble is None:
                raise
            refusal, states = trouble, {}
        home = self.outbox.path.parent
        return MachineState(
            online=daemon_connected(states),
            maintenance=states.get("maintenance") == "1",
            maintenance_message=states.get("maintenance_message", ""),
            refusal_code=refusal.code if refusal else None,
            refusal_message=refusal.message if refusal else "",
            config_version=int(read_document(home)["version"]),
            config=load_config(home),
        )

