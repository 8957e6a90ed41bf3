"""A result column: its name (with the unit in it), type and meaning."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: type
    doc: str
    required: bool = False  # required columns may never be null


def _c(name: str, type_: type, doc: str, required: bool = False) -> Column:
    return Column(name, type_, doc, required)
