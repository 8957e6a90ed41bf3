"""Where a results folder keeps its rows, for one device or for a fleet.

Two layouts, told apart by what is there:

* one device (``agent run --out DIR``): ``DIR/results.jsonl`` beside ``machine.json``,
  ``run.json``, ``layers.jsonl``, ``telemetry.jsonl``, ``samples.jsonl``;
* a fleet (``collector run --out DIR``): one such folder a host, ``DIR/<host>/...`` (the asv
  layout: merging is copying), plus the merged store ``DIR/fleet.duckdb`` and
  ``DIR/results.parquet`` that the collector writes from them. ``DIR/<host>/host.json`` names
  the inventory host the collector fetched the folder's rows from (the folder's name is a slug
  of it); a folder without one is its own name.

In a fleet folder a row's host is its folder's host, never the ``host`` the row claims: a
device (or a file dropped into the folder) claiming another host's name must not overwrite that
host's rows. The names rows claimed instead are reported by whoever reads them.

The raw per-host files are the truth; every reader goes through :func:`load_rows`, which
upgrades old rows and keeps one row a trial (same run, host and trial key): the last one, as
a skipped trial retried by a later resume appends its new row after the old.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import UserError
from shared.resultlog import ResultLog
from shared.schema import SchemaError

RESULTS_FILE = "results.jsonl"
HOST_FILE = "host.json"
ROW_IDENTITY = ("run_id", "host", "trial_key")


@dataclass(frozen=True)
class DeviceFolder:
    """The output folder of one agent run (on its own, or one host's copy in a fleet folder)."""

    root: Path
    host: str | None = None  # a fleet's host folder: the host its rows are from; None: one device

    @property
    def results(self) -> ResultLog:
        return ResultLog(self.root / RESULTS_FILE)

    def read_rows(self) -> tuple[list[dict[str, Any]], set[str]]:
        """Its rows, upgraded, each with the folder's host; and the other hosts rows claimed."""
        rows = list(self.results.rows())
        if self.host is None:
            return rows, set()
        claimed = {str(row["host"]) for row in rows if row["host"] != self.host}
        return [{**row, "host": self.host} for row in rows], claimed

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
    return [DeviceFolder(p, _host_name(p)) for p in hosts]


def _host_name(folder: Path) -> str:
    """The inventory name in ``host.json`` (written by the collector), else the folder's name."""
    try:
        name = json.loads((folder / HOST_FILE).read_text()).get("name")
    except (OSError, ValueError, AttributeError):
        name = None
    return name if isinstance(name, str) and name else folder.name


def load_rows(root: str | Path) -> list[dict[str, Any]]:
    """Every row of a results folder (either layout), upgraded; the last of each (run, host, trial)."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for device in device_folders(root):
        try:
            for row in device.read_rows()[0]:
                rows[tuple(row[k] for k in ROW_IDENTITY)] = row
        except (SchemaError, ValueError) as exc:
            raise UserError(f"not a results file of this edgeprune: {exc}",
                            source=str(device.results.path)) from None
    return list(rows.values())
