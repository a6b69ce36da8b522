"""Plumbing both deployables run (the kiosk's edge and the central), beside the pure protocol: the MQTT
connection, private files, SQLite and its guarded schema upgrade, reconnect backoff, logging and CLI helpers.

Imports ``sync.protocol`` and third-party libraries only; never the edge, ``central`` or ``kiosk``.
"""
