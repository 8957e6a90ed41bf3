"""Where a results folder keeps its rows, for one device or for a fleet.

Two layouts, told apart by what is there:

* one device (``agent run --out DIR``): ``DIR/results.jsonl`` beside ``machine.json``,
  ``run.json``, ``layers.jsonl``, ``telemetry.jsonl``, ``samples.jsonl``;
* a fleet (``collector run --out DIR``): one such folder a host, ``DIR/<host>/...`` (the asv
  layout: merging is copying), plus the merged store ``DIR/fleet.duckdb`` and
  ``DIR/results.parquet`` that the collector writes from them.

The raw per-host files are the truth; every reader goes through :func:`load_rows`, which
upgrades old rows and keeps one row a trial (same run, host and trial key): the last one, as
a skipped trial retried by a later resume appends its new row after the old.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import UserError
from shared.resultlog import ResultLog
from shared.schema import SchemaError

RESULTS_FILE = "results.jsonl"
ROW_IDENTITY = ("run_id", "host", "trial_key")
# What the collector writes at the top of a fleet folder, beside the host folders: a host whose
# folder had one of these names would collide with it (tests check the writers agree).
FLEET_FILES = ("fleet.duckdb", "fleet.duckdb.wal", "fleet.json", "results.parquet", "report.html",
               "report.md", "report-tables", "analysis.json", "analysis.json.tmp", RESULTS_FILE)
# A name that is a folder as it is: no separator, no leading '.' ('..') or '-' (an option), and
# short enough for any file system (sweep names, and host names that need no slug).
PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class DeviceFolder:
    """The output folder of one agent run (on its own, or one host's copy in a fleet folder)."""

    root: Path

    @property
    def results(self) -> ResultLog:
        return ResultLog(self.root / RESULTS_FILE)

    def json_file(self, name: str) -> dict[str, Any]:
        """``machine.json`` or ``run.json``; {} where it is missing or unreadable."""
        try:
            data = json.loads((self.root / name).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def jsonl(self, name: str) -> list[dict[str, Any]]:
        """``layers.jsonl`` or ``telemetry.jsonl``: every complete line (a torn last one is skipped)."""
        path = self.root / name
        if not path.exists():
            return []
        records = []
        with path.open("rb") as f:
            for raw in f:
                if raw.endswith(b"\n") and raw.strip():
                    records.append(json.loads(raw))
        return records


def device_folders(root: str | Path) -> list[DeviceFolder]:
    """The device folders under ``root``: itself (one device) or its host subfolders (a fleet)."""
    folder = Path(root)
    if not folder.is_dir():
        raise UserError("no such results folder", source=str(folder))
    if (folder / RESULTS_FILE).is_file():
        return [DeviceFolder(folder)]
    hosts = sorted(p.parent for p in folder.glob(f"*/{RESULTS_FILE}"))
    if not hosts:
        raise UserError(f"no results.jsonl here or in a host folder below: run `agent run --out DIR` "
                        f"or `collector run --out DIR` first", source=str(folder))
    return [DeviceFolder(p) for p in hosts]


def load_rows(root: str | Path) -> list[dict[str, Any]]:
    """Every row of a results folder (either layout), upgraded; the last of each (run, host, trial)."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for device in device_folders(root):
        try:
            for row in device.results.rows():
                rows[tuple(row[k] for k in ROW_IDENTITY)] = row
        except (SchemaError, ValueError) as exc:
            raise UserError(f"not a results file of this edgeprune: {exc}",
                            source=str(device.results.path)) from None
    return list(rows.values())
