"""One explicit name -> class registry per extension point (no lookup by naming convention).

An entry is either registered directly (``@REGISTRY.register(name)``) or lazily, as an
explicit ``"package.module:attribute"`` that is imported on first use
(:meth:`Registry.register_lazy`): a backend whose runtime is heavy or absent (torch on a
light agent) costs nothing until it is asked for, and a missing dependency then says so
by name (:class:`~shared.errors.MissingDependency`) instead of "unknown backend".
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from shared.errors import MissingDependency, unknown_name

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps the catalog's names to implementations; an unknown name lists the valid ones."""

    def __init__(self, kind: str, allowed: Iterable[str]) -> None:
        self.kind = kind
        self._allowed = tuple(allowed)
        self._entries: dict[str, T] = {}
        self._lazy: dict[str, str] = {}  # name -> "module:attribute", imported on first get

    def register(self, name: str) -> Callable[[T], T]:
        self._check_new(name)

        def add(entry: T) -> T:
            self._check_new(name)
            self._entries[name] = entry
            return entry

        return add

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``name`` as ``target`` ("package.module:attribute"), imported by :meth:`get`."""
        self._check_new(name)
        if ":" not in target:
            raise ValueError(f"lazy target {target!r} must be 'module:attribute'")
        self._lazy[name] = target

    def _check_new(self, name: str) -> None:
        if name not in self._allowed:
            raise ValueError(f"{name!r} is not a {self.kind} in shared.catalog")
        if name in self._entries or name in self._lazy:
            raise ValueError(f"{self.kind} {name!r} registered twice")

    def get(self, name: str, *, source: str | None = None, field: str | None = None) -> T:
        """The entry; a lazy one is imported now (MissingDependency if its imports fail)."""
        if name in self._lazy and name not in self._entries:
            module, _, attribute = self._lazy[name].partition(":")
            try:
                self._entries[name] = getattr(importlib.import_module(module), attribute)
            except ImportError as exc:
                raise MissingDependency(self.kind, name, exc) from exc
        try:
            return self._entries[name]
        except KeyError:
            raise unknown_name(self.kind, name, self.names(), source=source, field=field) from None

    def names(self) -> tuple[str, ...]:
        """Every registered name, lazy ones included, in catalog order."""
        return tuple(n for n in self._allowed if n in self._entries or n in self._lazy)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
