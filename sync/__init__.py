"""Both ends of the kiosk <-> central protocol: edge outbox + sync daemon, central ingest + fleet.

Nothing here imports Qt: the daemon, the central, the simulators and the benchmarks run headless.
"""
