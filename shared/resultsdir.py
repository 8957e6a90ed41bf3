"""Where a results folder keeps its rows, for one device or for a fleet.

Two layouts, told apart by what is there:

* one device (``agent run --out DIR``): ``DIR/results.jsonl`` beside ``machine.json``,
  ``run.json``, ``layers.jsonl``, ``telemetry.jsonl``, ``samples.jsonl``, ``layer_time.jsonl``;
* a fleet (``collector run --out DIR``): one such folder a host, ``DIR/<host>/...`` (the asv
  layout: merging is copying), plus the merged store ``DIR/fleet.duckdb`` and
  ``DIR/results.parquet`` that the collector writes from them. ``DIR/<host>/host.json`` names
  the inventory host the collector fetched the folder's rows from (the folder's name is a slug
  of it); a folder without one is its own name.

In a fleet folder a row's host is its folder's host, never the ``host`` the row claims: a
device (or a file dropped into the folder) claiming another host's name must not overwrite that
host's rows. The names rows claimed instead are reported by whoever reads them.

The raw per-host files are the truth; every reader goes through :func:`load_results`, which
upgrades old rows and keeps one row a trial (same run, host and trial key): the last one, as
a skipped trial retried by a later resume, or a disturbed trial re-measured at the end of its
run (``attempt`` 2, ``retry_of``), appends its new row after the old. The rows superseded stay
in the file as evidence (:func:`latest_and_earlier`; the collector's store keeps them apart). In a fleet, a
host whose results file cannot be read (damaged, foreign, from a newer edgeprune) is left out
with its reason and the other hosts are read; one device's unreadable file is a UserError.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.errors import UserError
from shared.resultlog import ResultLog
from shared.schema import SchemaError

RESULTS_FILE = "results.jsonl"
SAMPLES_FILE = "samples.jsonl"
STRATEGY_FILE = "strategy.jsonl"  # an adaptive sweep's choices: order, trial, round, reason
LAYER_TIME_FILE = "layer_time.jsonl"  # per-layer time (shared/layertime.py), one line a profiled model
HOST_FILE = "host.json"
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
        """``layers.jsonl`` or ``telemetry.jsonl``: every complete line that holds a JSON object
        (a torn last line, or a damaged one, is skipped: these files only add detail to the rows)."""
        path = self.root / name
        if not path.exists():
            return []
        records = []
        with path.open("rb") as f:
            for raw in f:
                if raw.endswith(b"\n") and raw.strip():
                    try:
                        record = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(record, dict):
                        records.append(record)
        return records

    def samples(self) -> dict[str, list[list[float]]]:
        """``samples.jsonl``: each trial key's raw latency samples (ms), one list a process.

        A line is ``{"trial_key", "samples_ms", "process"?}``: a trial measured in N processes
        has N lines; a line written again for the same trial and process (a retried trial)
        replaces the earlier one. Lines that do not hold a list of numbers are skipped."""
        found: dict[str, dict[Any, list[float]]] = {}
        for record in self.jsonl(SAMPLES_FILE):
            key, values = record.get("trial_key"), record.get("samples_ms")
            if not isinstance(key, str) or not isinstance(values, list):
                continue
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                continue
            found.setdefault(key, {})[record.get("process", 0)] = [float(v) for v in values]
        return {key: list(by_process.values()) for key, by_process in found.items()}


@dataclass(frozen=True)
class SampleIndex:
    """The raw latency samples of a results folder (either layout), found by row."""

    by_folder: dict[str | None, dict[str, list[list[float]]]]  # host folder (None: one device)

    def of(self, row: dict[str, Any]) -> list[list[float]]:
        """The row's samples, one list a process; [] where none were kept."""
        folder = self.by_folder.get(row.get("host")) or self.by_folder.get(None) or {}
        return folder.get(str(row.get("trial_key")), [])


def load_samples(root: str | Path) -> SampleIndex:
    """Every trial's raw samples in a results folder."""
    return SampleIndex({device.host: device.samples() for device in device_folders(root)})


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


def latest_and_earlier(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The last row of each trial (same run, host and trial key), which every reader counts once;
    and the rows those superseded (a disturbed measurement re-measured at the end of its run, a
    skipped trial tried again), kept as evidence. Both in file order."""
    last = {tuple(row[k] for k in ROW_IDENTITY): i for i, row in enumerate(rows)}
    wins = set(last.values())
    return ([row for i, row in enumerate(rows) if i in wins],
            [row for i, row in enumerate(rows) if i not in wins])


@dataclass(frozen=True)
class LoadedResults:
    """The rows of a results folder, and the host folders left out: folder name -> why."""

    rows: list[dict[str, Any]]
    left_out: dict[str, str] = field(default_factory=dict)

    def notes(self) -> tuple[str, ...]:
        """One line a host left out, for a report or an analysis to show."""
        return tuple(f"host folder {name!r} left out: {why}" for name, why in self.left_out.items())


def load_results(root: str | Path) -> LoadedResults:
    """Every row of a results folder (either layout), upgraded; the last of each (run, host, trial).

    A fleet's host folder that cannot be read is left out, with why; a UserError when that is
    every one of them, or when the one device's file cannot be read."""
    folders = device_folders(root)
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    left_out: dict[str, str] = {}
    for device in folders:
        try:
            found = device.read_rows()[0]  # all or none of a host: no half-read host
        except (SchemaError, ValueError, OSError) as exc:
            why = f"not a results file of this edgeprune: {exc}"
            if len(folders) == 1:
                raise UserError(why, source=str(device.results.path)) from None
            left_out[device.root.name] = f"{device.results.path}: {why}"
            continue
        for row in latest_and_earlier(found)[0]:
            rows[tuple(row[k] for k in ROW_IDENTITY)] = row
    if left_out and len(left_out) == len(folders):
        first = next(iter(left_out.values()))
        raise UserError(f"no host's results could be read ({len(left_out)} host folders; the first: {first})",
                        source=str(root))
    return LoadedResults(list(rows.values()), left_out)

