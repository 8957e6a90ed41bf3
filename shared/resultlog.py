"""The append-only results file: one JSON row a line, synced to disk row by row.

A crash can leave at most a half-written last line; readers ignore it and the next
writer cuts it off before appending, so no completed row is ever lost or doubled.
"""
from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from shared.schema import COLUMN_NAMES, make_row, upgrade_row


class ResultLog:
    """``results.jsonl`` of one output folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every complete row, upgraded to the current schema; a torn last line is skipped."""
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            for number, raw in enumerate(f, 1):
                if not raw.endswith(b"\n"):
                    break  # torn write of a killed process: never completed
                if raw.strip():
                    yield upgrade_row(_row(raw, number))

    def completed_keys(self) -> set[str]:
        return {row["trial_key"] for row in self.rows()}

    def _cut_torn_tail(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb+") as f:
            data = f.read()
            end = data.rfind(b"\n") + 1
            if end != len(data):
                f.truncate(end)

    def append(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check a row against the schema, append it and fsync before returning it."""
        row = make_row(values)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cut_torn_tail()
        line = json.dumps(row, separators=(",", ":"), allow_nan=False) + "\n"
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        return row

    def write_csv(self, path: str | Path) -> int:
        """Export every row to CSV in schema column order; returns the row count."""
        return write_csv(self.rows(), path)


def _row(raw: bytes, number: int) -> dict[str, Any]:
    """One line as a row; a line that is none is a ValueError naming it (its readers turn that
    into one line for the user: a results file may come from any host)."""
    try:
        row = json.loads(raw)
    except RecursionError:  # "[[[[..." : json recurses once a level
        raise ValueError(f"line {number}: nested too deep") from None
    if not isinstance(row, dict):
        raise ValueError(f"line {number}: not a JSON object")
    return row


def write_csv(rows: Iterable[Mapping[str, Any]], path: str | Path) -> int:
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    count = 0
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMN_NAMES)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    tmp.replace(path)
    return count


def append_jsonl(path: str | Path, record: Mapping[str, Any]) -> None:
    """Append one record to a side file (samples, per-layer sparsity), flushed and synced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, separators=(",", ":")) + "\n")
        f.flush()
        os.fsync(f.fileno())
