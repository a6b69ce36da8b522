"""``kiosk-syncd``: owns the MQTT connection and drains the outbox."""
