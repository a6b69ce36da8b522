"""The touchscreen application: Qt Quick views, Python view-models, resident and service modes."""

__version__ = "0.1.0"
