"""The report as value objects: sections of figures, tables and notes, rendered by html.py and
markdown.py and exported by export.py. Section builders (sections/) make them; nothing here
knows HTML, Markdown or matplotlib."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_MAX_ACCURACY_DROP = 0.01  # one point of top-1, as the analysis's budget


@dataclass(frozen=True)
class Budgets:
    """What the recommended pruning ratio of a device must stay within.

    ``batch_size``: the batch size latency is judged at (None: the smallest measured for that
    model on that device class, the latency a single request sees).
    """

    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP
    max_latency_ms: float | None = None
    max_peak_mem_mb: float | None = None
    batch_size: int | None = None

    def describe(self) -> str:
        parts = [f"accuracy drop <= {self.max_accuracy_drop * 100:g} points of top-1 against the unpruned model"]
        if self.max_latency_ms is not None:
            parts.append(f"p50 latency <= {self.max_latency_ms:g} ms")
        if self.max_peak_mem_mb is not None:
            parts.append(f"peak memory <= {self.max_peak_mem_mb:g} MiB")
        parts.append(f"latency at batch size {self.batch_size}" if self.batch_size is not None
                     else "latency at the smallest batch size measured")
        return "; ".join(parts)


@dataclass(frozen=True)
class Figure:
    """An inline SVG (one <svg> element, ids made unique by svg.py) and what it shows."""

    name: str
    svg: str
    caption: str


@dataclass(frozen=True)
class Table:
    """A table, shown capped at ``max_rows`` (0: only a link to the CSV) and exported whole as
    ``<name>.csv``.

    Column names carry units (``latency_p50_ms``); ``formats`` maps a column to a format spec
    for display only (the CSV keeps full precision).
    """

    name: str
    title: str
    frame: pd.DataFrame
    caption: str = ""
    max_rows: int = 40
    formats: Mapping[str, str] = field(default_factory=dict)
    collapsed: bool = False             # the numbers behind a figure: shown on demand
    shown: tuple[str, ...] = ()         # the columns on the page (default all); the CSV has every one

    @property
    def display(self) -> pd.DataFrame:
        return self.frame[list(self.shown)] if self.shown else self.frame


@dataclass(frozen=True)
class Note:
    """A paragraph: ``warn`` for what a reader must not miss (no analysis, no rows to plot)."""

    text: str
    kind: str = "info"


Block = Union[Figure, Table, Note]


@dataclass(frozen=True)
class Section:
    """One part of the report. ``summary``: its findings as one-line sentences, for the
    Markdown summary and the top of the section."""

    id: str
    title: str
    intro: str
    blocks: tuple[Block, ...] = ()
    summary: tuple[str, ...] = ()

    @property
    def tables(self) -> tuple[Table, ...]:
        return tuple(b for b in self.blocks if isinstance(b, Table))

    @property
    def figures(self) -> tuple[Figure, ...]:
        return tuple(b for b in self.blocks if isinstance(b, Figure))


@dataclass(frozen=True)
class Report:
    title: str
    source: str
    created_at: str
    version: str
    headline: tuple[str, ...]
    sections: tuple[Section, ...]
    tables_dir: str = "report-tables"   # where the CSVs are, relative to the HTML file

    @property
    def tables(self) -> tuple[Table, ...]:
        return tuple(t for s in self.sections for t in s.tables)
