"""Progress events: what a running agent tells whoever watches it, one JSON object a line.

The agent appends them to ``OUT/events.jsonl`` (``agent run --events FILE``; the name is
``shared.resultsdir.ResultsFolder.EVENTS``); the collector
reads the file over SSH from a byte offset, so a dropped connection resumes where it left
off and nothing is streamed twice. Results themselves travel in ``results.jsonl``; events
only say how far a run is.

Events (every one has ``event`` and ``t``, seconds since the epoch):
  ``start``  total, done      trials in the sweep, and those already done (a resume)
  ``stage``  text             what the agent is doing now (building, measuring a variant)
  ``row``    trial_key, status, label   one trial finished (its row is in results.jsonl)
  ``end``    total, statuses  the run finished; statuses counts this run's rows by status
  ``error``  message          the run stopped on an error (the agent exits non-zero)
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.resultlog import LineLog


def trial_label(row: Mapping[str, Any]) -> str:
    return (f"{row['model']} {row['method']} r={row['target_ratio']:g} {row['backend']} "
            f"batch {row['batch_size']}")


class EventWriter:
    """The agent's side: the runner's progress protocol (start, stage, row) as event lines."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lines = LineLog(self.path, sync=False)

    def _write(self, event: str, **fields: Any) -> None:
        # one write of one whole line: a reader never sees half an event unless the
        # process dies mid-write, and readers only take lines that end in "\n"; the half
        # line such a death leaves is cut off before the next writer's first line
        line = json.dumps({"event": event, "t": round(time.time(), 3), **fields}) + "\n"
        self._lines.append_line(line.encode())

    def start(self, total: int, done: int) -> None:
        self._write("start", total=total, done=done)

    def stage(self, text: str) -> None:
        self._write("stage", text=text)

    def row(self, row: dict[str, Any]) -> None:
        self._write("row", trial_key=row["trial_key"], status=row["status"], label=trial_label(row))

    def end(self, total: int, statuses: Mapping[str, int]) -> None:
        self._write("end", total=total, statuses=dict(statuses))

    def error(self, message: str) -> None:
        self._write("error", message=message)


def complete_lines(data: bytes) -> tuple[list[bytes], int]:
    """The whole lines at the start of ``data`` and how many bytes they span (a reader's
    next offset); a partial last line is left for the next read."""
    end = data.rfind(b"\n") + 1
    return [line for line in data[:end].splitlines() if line.strip()], end


def parse_events(data: bytes) -> tuple[list[dict[str, Any]], int, int]:
    """The events in ``data``, the bytes they span, and how many lines were not events: a
    line torn by a writer that died mid-write (the next writer's line glued to its half) is
    skipped, not fatal, as progress is only progress (the rows are in results.jsonl)."""
    lines, used = complete_lines(data)
    events, skipped = [], 0
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            events.append(event)
        else:
            skipped += 1
    return events, used, skipped
