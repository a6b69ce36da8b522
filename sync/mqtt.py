"""paho-mqtt construction shared by the daemon, the central and the simulators (MQTT 5 only)."""

from __future__ import annotations

import paho.mqtt.client as mqtt


def new_client(client_id: str) -> mqtt.Client:
    # paho's own reconnect is not used: each owner reconnects with jittered backoff on its one thread.
    return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
