"""What the kiosk and the central share, and the kiosk's edge.

- ``sync.protocol``: the wire format both ends speak (envelopes, canonical JSON, signing, topics, batches);
  standard library and crypto libraries only.
- ``sync.runtime``: plumbing both deployables run (MQTT connection, files, SQLite, schema upgrade, logging).
- the kiosk's edge: ``sync.outbox``, ``sync.daemon``, ``sync.ota``, ``sync.device``, ``sync.kiosk_config``.

The central platform is the top-level ``central`` package; development tools are in ``devtools``.
Nothing here imports Qt: the daemon, the central, the simulators and the benchmarks run headless.
"""
