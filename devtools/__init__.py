"""Development and test tools, shipped in no bundle: the fleet simulator (``kiosk-sim``), the soak harness,
private Mosquitto and PostgreSQL instances for tests and benchmarks, and TLS provisioning for simulated kiosks.

Product code never imports this package.
"""
