"""Signed over-the-air software updates with automatic rollback (the kiosk's side, and the release
statement the central signs).

Layout under the OTA root (default ``/opt/street-kiosk``, ``$KIOSK_OTA_ROOT`` or a parameter)::

    releases/<version>/    one unpacked release each (A/B and older, side by side)
    current -> releases/<version>   the release systemd starts (switched atomically)
    ota_state.json         the update in progress: survives the restart into the new version

Modules: :mod:`~sync.ota.verify` (hash and Ed25519 release signature), :mod:`~sync.ota.download`
(HTTP(S) to a file, size-capped, hashed while streaming), :mod:`~sync.ota.install` (safe unpack
side by side), :mod:`~sync.ota.switch` (the ``current`` link and the state file),
:mod:`~sync.ota.health` (health script and mark), :mod:`~sync.ota.schema` (taking the outbox back to the
old release's schema before a rollback), :mod:`~sync.ota.manager` (the whole flow, run by ``kiosk-syncd``).
"""
