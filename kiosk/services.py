"""A small service registry: the app provides its services once; view-models created by QML ask
for them by type (as mpvQC injects services into its view-models)."""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")

_services: dict[type, Any] = {}


class MissingService(LookupError):
    pass


def provide(kind: type[T], instance: T) -> None:
    _services[kind] = instance


def get(kind: type[T]) -> T:
    try:
        return _services[kind]
    except KeyError:
        raise MissingService(f"no {kind.__name__} provided to the UI") from None


def clear() -> None:
    _services.clear()
