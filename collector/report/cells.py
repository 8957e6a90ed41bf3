"""Table cells as text, the same in the HTML page and the Markdown summary."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from collector.report.model import Table

EMPTY = "–"
NOT_RECORDED = "not recorded"  # a number a sentence needs that no row holds (never "nan")


def _number(value: float) -> str:
    """Enough digits to read, no more: 0.0123, 1.23, 12.3, 1,234."""
    size = abs(value)
    if size == 0 or size >= 1e7 or size < 1e-3:
        return f"{value:.3g}"
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def cell(value: Any, spec: str | None = None) -> str:
    if missing(value):
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if spec:
        try:
            return format(value, spec)
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float):
        return cell(int(value)) if value.is_integer() and abs(value) < 1e15 else _number(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 100_000 else str(value)
    return str(value)


def missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and not math.isfinite(value))


def said(value: Any, spec: str, scale: float = 1.0, unit: str = "") -> str:
    """A number inside a sentence: ``said(0.42, ".0f", 100, "%")`` is "42%"; a missing one
    "not recorded"."""
    value = _plain(value)
    if missing(value):
        return NOT_RECORDED
    return format(value * scale, spec) + unit


def times_faster(ratio: Any) -> str:
    """A speed-up in words: "1.84x faster", or "2.70x slower" for 0.37 (never "0.37x faster")."""
    ratio = _plain(ratio)
    if missing(ratio) or ratio <= 0:
        return NOT_RECORDED
    return f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"


def rows(table: Table, limit: int | None = None) -> list[list[str]]:
    frame = table.display if limit is None else table.display.head(limit)
    formats: Mapping[str, str] = table.formats
    specs = [formats.get(str(c)) for c in frame.columns]
    return [[cell(_plain(v), s) for v, s in zip(values, specs)] for values in frame.itertuples(index=False)]


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones, so that bool and int are told apart."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value
