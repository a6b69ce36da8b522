"""The kiosk's durable outbox: the contract between the UI process and the sync daemon."""
