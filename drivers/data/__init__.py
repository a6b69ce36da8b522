"""Data files shipped with the drivers (GB/T 2260 region table)."""
