"""One explicit name -> class registry per extension point (no lookup by naming convention)."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from shared.errors import unknown_name

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps the catalog's names to implementations; an unknown name lists the valid ones."""

    def __init__(self, kind: str, allowed: Iterable[str]) -> None:
        self.kind = kind
        self._allowed = tuple(allowed)
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        if name not in self._allowed:
            raise ValueError(f"{name!r} is not a {self.kind} in shared.catalog")

        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = entry
            return entry

        return add

    def get(self, name: str, *, source: str | None = None, field: str | None = None) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise unknown_name(self.kind, name, self._entries, source=source, field=field) from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
