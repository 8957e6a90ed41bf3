"""The append-only results file: one JSON row a line, synced to disk row by row.

A crash (or a full disk) can leave at most a half-written last line; readers ignore it and
the next writer cuts it off before appending, so no completed row is ever lost or doubled.
Every append-only JSON-lines file of a run (rows, side files, progress events) is written
through a :class:`LineLog`, so that none is ever left with a torn line in its middle.

A LineLog checks the file's tail once, at its first append (the moment a writer opens the
file: only a writer that died can have torn it, and one folder has one writer, shared/outlock.py);
every later append writes and syncs its line and reads nothing, so the ten-thousandth row costs
what the first did (benchmarks/bench_append.py). A write that fails sends the next append back
to the check.
"""
from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from shared.errors import no_space
from shared.schema import COLUMN_NAMES, SchemaError, make_row, upgrade_row

_BLOCK = 1 << 16


def cut_torn_tail(path: Path) -> None:
    """Cut off a last line without its newline: a write cut short (a killed process, a full
    disk), never a completed line. Reads the file's end only, not the whole file."""
    try:
        f = path.open("rb+")
    except FileNotFoundError:
        return
    with f:
        end = f.seek(0, os.SEEK_END)
        if end == 0:
            return
        f.seek(end - 1)
        if f.read(1) == b"\n":
            return
        while end > 0:
            start = max(0, end - _BLOCK)
            f.seek(start)
            newline = f.read(end - start).rfind(b"\n")
            if newline >= 0:
                f.truncate(start + newline + 1)
                return
            end = start
        f.truncate(0)


class LineLog:
    """One append-only JSON-lines file, written a whole line at a time by this process."""

    def __init__(self, path: str | Path, sync: bool = True) -> None:
        self.path = Path(path)
        self._sync = sync  # fsync every line (rows, side files); events are progress only
        self._tail_checked = False  # True once the file is known to end in a whole line

    def append_line(self, line: bytes) -> None:
        """Append one whole line; a full disk is one NoSpace error, with the half-written
        line taken back."""
        try:
            if not self._tail_checked:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                cut_torn_tail(self.path)
                self._tail_checked = True
            with self.path.open("ab") as f:
                f.write(line)
                f.flush()
                if self._sync:
                    os.fsync(f.fileno())
        except OSError as exc:
            self._tail_checked = False  # whatever this write left, the next one cuts
            full = no_space(exc, self.path)
            if full is None:
                raise
            try:
                cut_torn_tail(self.path)  # taking bytes back needs no room
            except OSError:
                pass  # the next append cuts it; readers skip it meanwhile
            raise full from None

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record (a side file's line: samples, per-layer sparsity, ...)."""
        self.append_line((json.dumps(record, separators=(",", ":")) + "\n").encode())


class ResultLog:
    """``results.jsonl`` of one output folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lines = LineLog(self.path)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every complete row, upgraded to the current schema; a torn last line is skipped.

        A line that is not a row (not JSON, or JSON but not an object) is a SchemaError naming
        its line: a foreign or damaged file, never a crash of the reader."""
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            for number, raw in enumerate(f, 1):
                if not raw.endswith(b"\n"):
                    break  # torn write of a killed process: never completed
                if raw.strip():
                    yield _row(raw, number)

    def completed_keys(self) -> set[str]:
        return {row["trial_key"] for row in self.rows()}

    def append(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check a row against the schema, append it and fsync before returning it."""
        row = make_row(values)
        line = json.dumps(row, separators=(",", ":"), allow_nan=False) + "\n"
        self._lines.append_line(line.encode())
        return row

    def write_csv(self, path: str | Path) -> int:
        """Export every row to CSV in schema column order; returns the row count."""
        return write_csv(self.rows(), path)


def _row(raw: bytes, number: int) -> dict[str, Any]:
    """Line ``number`` as a row of this schema; a SchemaError naming the line where it is none."""
    try:
        value = json.loads(raw)
    except RecursionError:  # "[[[[..." : json recurses once a level
        raise SchemaError(f"line {number}: nested too deep") from None
    except ValueError as exc:  # not JSON, or not UTF-8
        raise SchemaError(f"line {number}: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise SchemaError(f"line {number}: expected a JSON object (a row), got {type(value).__name__}")
    try:
        return upgrade_row(value)
    except SchemaError as exc:
        raise SchemaError(f"line {number}: {exc}") from None


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
    """Append one record to a JSON-lines file written now and then (a validation's rows),
    flushed and synced; a file appended row after row keeps a :class:`LineLog` instead."""
    LineLog(path).append(record)
