"""The central platform: ingest workers, storage, (later) fleet registry, commands and dashboard."""
