"""Names a package exports without importing what defines them until first use: ``import
collector.analysis`` (or ``collector.report``) must not wait for DoWhy, pandas or matplotlib."""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """The package's module ``__getattr__``: ``exports`` maps a name to the module defining it."""
    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    return __getattr__
