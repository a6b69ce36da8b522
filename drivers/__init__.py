"""Hardware behind small interfaces: cameras, code decoding, ID-card readers, printer; simulators.

Nothing here imports Qt, ``kiosk`` or ``sync``: the daemon, benchmarks and simulators use it headless.
"""
