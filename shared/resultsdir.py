"""A results folder: :class:`ResultsFolder` names every file in it, reads and writes them.

Two layouts, told apart by what is there:

* one device (``agent run --out DIR``): ``DIR/results.jsonl`` and its side files (the names:
  :class:`ResultsFolder`);
* a fleet (``collector run --out DIR``): one such folder a host, ``DIR/<host>/...`` (the asv
  layout: merging is copying), plus the merged store, the fleet record, the analysis and the
  report that the collector writes beside them (:data:`ResultsFolder.FLEET_FILES`).
  ``DIR/<host>/host.json`` names the inventory host the collector fetched the folder's rows
  from (the folder's name is a slug of it); a folder without one is its own name.

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
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from shared.errors import UserError, no_space
from shared.outlock import lock_folder
from shared.resultlog import LineLog, ResultLog, write_csv
from shared.schema import SCHEMA_VERSION, SchemaError

ROW_IDENTITY = ("run_id", "host", "trial_key")
# A name that is a folder as it is: no separator, no leading '.' ('..') or '-' (an option), and
# short enough for any file system (sweep names, and host names that need no slug).
PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ResultsFolder:
    """One results folder: an agent's ``--out``, one host's copy of it in a fleet folder, or a
    fleet folder's top (its fleet files).

    The one place that spells a file name of a results folder, reads and writes the files, and
    carries the folder's format version (asv's ``Results``, pyperf's ``Benchmark``): a new side
    file is a name here, placed in one of the groups that say what the collector does with it
    (:data:`FETCHED_AT_END`: copied when the run ends).
    """

    root: Path
    host: str | None = None  # a fleet's host folder: the host its rows are from; None: one device

    # The folder's format is its rows' schema (shared/schema.py lists every change and upgrades
    # old rows on reading); a side file whose shape changes bumps it too.
    FORMAT_VERSION = SCHEMA_VERSION

    # what an agent writes (README, "Using the agent")
    RESULTS = "results.jsonl"  # one row a trial, appended and fsync'd (shared/resultlog.py)
    RESULTS_CSV = "results.csv"  # the same rows, the last of each trial, written at the end
    SAMPLES = "samples.jsonl"  # raw latency samples (ms), one line a trial and process
    LAYERS = "layers.jsonl"  # per-layer sparsity, one line a variant
    TELEMETRY = "telemetry.jsonl"  # probe time series and GPU kernel tables, one line a trial
    LAYER_TIME = "layer_time.jsonl"  # per-layer time (shared/layertime.py), one line a profiled model
    STRATEGY = "strategy.jsonl"  # an adaptive sweep's choices: order, trial, round, reason
    SEED_COMPARISON = "seed_comparison.csv"  # original / mask-only / pruned latency, side by side
    RUN = "run.json"  # the run id (kept across resumes), where the measuring time went
    MACHINE = "machine.json"  # the hardware fingerprint
    ARTIFACTS = "artifacts"  # the variants as built, unless --artifacts names another store
    WORK = ".work"  # scratch of a running sweep: the model handed to workers, their stderr
    # what a collector-driven agent's run folder holds besides (collector/fleet/remote_agent.py)
    EVENTS = "events.jsonl"  # progress events (shared/events.py)
    AGENT_LOG = "agent.log"  # the detached agent's stdout and stderr
    # what the collector writes into its copy of a host's folder
    HOST = "host.json"  # the inventory host the rows were fetched from
    STREAM_STATE = ".stream.json"  # where the next read of the host's results.jsonl starts
    # what the collector, the analysis and the report write at a folder's top
    FLEET = "fleet.json"  # every host asked and how it ended
    STORE = "fleet.duckdb"
    PARQUET = "results.parquet"
    ANALYSIS = "analysis.json"
    REPORT = "report.html"  # with report.md and report-tables/ beside it
    REPORT_MD = "report.md"
    REPORT_TABLES = "report-tables"

    # What the collector does with each file of a host's run folder; every name above is in
    # exactly one of these (tests/unit/test_results_folder.py), so a new side file cannot be
    # left out of fleet fetches unnoticed.
    STREAMED = (RESULTS, EVENTS)  # read from a byte offset as they grow (collector/fleet/stream.py)
    # copied once the run ends; the raw samples too: every speed-up interval is computed from them
    FETCHED_AT_END = (MACHINE, RUN, LAYERS, TELEMETRY, SAMPLES, LAYER_TIME, RESULTS_CSV, SEED_COMPARISON,
                      STRATEGY, AGENT_LOG)
    NOT_FETCHED = (ARTIFACTS, WORK)  # pushed or built apart from the rows; scratch
    COLLECTOR_FILES = (HOST, STREAM_STATE)  # the collector's own, in its copy
    # beside the host folders of a fleet folder: a host whose folder had one of these names
    # would collide with it (shared/inventory.py refuses such a host)
    FLEET_FILES = (STORE, STORE + ".wal", FLEET, PARQUET, REPORT, REPORT_MD, REPORT_TABLES, ANALYSIS,
                   ANALYSIS + ".tmp", RESULTS)

    def path(self, name: str) -> Path:
        return self.root / name

    # ------------------------------------------------------------ rows

    @cached_property
    def results(self) -> ResultLog:
        """The rows' log; one a folder object, so that its tail is checked once."""
        return ResultLog(self.path(self.RESULTS))

    def read_rows(self) -> tuple[list[dict[str, Any]], set[str]]:
        """Its rows, upgraded, each with the folder's host; and the other hosts rows claimed."""
        rows = list(self.results.rows())
        if self.host is None:
            return rows, set()
        claimed = {str(row["host"]) for row in rows if row["host"] != self.host}
        return [{**row, "host": self.host} for row in rows], claimed

    def write_csv(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """``results.csv``: ``rows`` in schema column order; returns the row count."""
        return write_csv(rows, self.path(self.RESULTS_CSV))

    # ------------------------------------------------------------ side files

    @cached_property
    def _side_logs(self) -> dict[str, LineLog]:
        return {}

    def append(self, name: str, record: Mapping[str, Any]) -> None:
        """Append one record to the JSON-lines side file ``name``, synced (its tail is checked
        at the first append only)."""
        log = self._side_logs.get(name)
        if log is None:
            log = self._side_logs[name] = LineLog(self.path(name))
        log.append(record)

    def records(self, name: str) -> list[dict[str, Any]]:
        """A JSON-lines side file (``layers.jsonl``, ``telemetry.jsonl``, ...): every complete line
        that holds a JSON object (a torn last line, or a damaged one, is skipped: these files
        only add detail to the rows)."""
        path = self.path(name)
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

    def write_records(self, name: str, records: Iterable[Mapping[str, Any]]) -> Path:
        """A whole JSON-lines file in one write (made-up folders: no fsync a line)."""
        path = self.path(name)
        path.write_text("".join(json.dumps(r, separators=(",", ":"), allow_nan=False) + "\n" for r in records),
                        encoding="utf-8")
        return path

    def samples(self) -> dict[str, list[list[float]]]:
        """``samples.jsonl``: each trial key's raw latency samples (ms), one list a process.

        A line is ``{"trial_key", "samples_ms", "process"?}``: a trial measured in N processes
        has N lines; a line written again for the same trial and process (a retried trial)
        replaces the earlier one. Lines that do not hold a list of numbers are skipped."""
        found: dict[str, dict[Any, list[float]]] = {}
        for record in self.records(self.SAMPLES):
            key, values = record.get("trial_key"), record.get("samples_ms")
            if not isinstance(key, str) or not isinstance(values, list):
                continue
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                continue
            found.setdefault(key, {})[record.get("process", 0)] = [float(v) for v in values]
        return {key: list(by_process.values()) for key, by_process in found.items()}

    # ------------------------------------------------------------ JSON documents

    def read_json(self, name: str) -> dict[str, Any]:
        """A JSON document of the folder (``machine.json``, ``run.json``, ...); {} where it is
        missing or unreadable."""
        try:
            data = json.loads(self.path(name).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_json(self, name: str, data: Mapping[str, Any], indent: int | None = 2) -> Path:
        """Whole or not at all: a reader never sees half a file, and a full disk (one NoSpace
        error) leaves the file as it was."""
        path = self.path(name)
        tmp = path.with_name(name + ".part")
        try:
            tmp.write_text(json.dumps(data, indent=indent) + "\n")
            tmp.replace(path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise no_space(exc, path) or exc from None
        return path

    def read_run(self) -> dict[str, Any]:
        return self.read_json(self.RUN)

    def read_machine(self) -> dict[str, Any]:
        return self.read_json(self.MACHINE)

    # ------------------------------------------------------------ an agent's run into it

    def open(self, sweep_name: str, machine: dict[str, Any]) -> str:
        """Create (or reopen) the folder for an agent's run, locked for this process; writes
        ``machine.json``. The run id of a first run is kept for every resume."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.path(f".write-test-{os.getpid()}")
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise UserError(f"cannot write to output folder {str(self.root)!r}: {exc.strerror or exc}",
                            field="--out") from None
        lock_folder(self.root, "agent")  # two agents would interleave and double its rows
        if self.path(self.RUN).exists():
            run = json.loads(self.path(self.RUN).read_text())
        else:
            run = {"run_id": f"{utc_now()[:10]}-{uuid.uuid4().hex[:8]}", "sweep": sweep_name,
                   "created_at": utc_now()}
            self.write_json(self.RUN, run)
        self.write_json(self.MACHINE, machine)
        return str(run["run_id"])

    def record_run(self, **fields: Any) -> None:
        """Add ``fields`` to run.json (replacing those of an earlier run into this folder)."""
        self.write_json(self.RUN, {**json.loads(self.path(self.RUN).read_text()), **fields})

    @property
    def work(self) -> Path:
        """Scratch space of a running sweep (made on first use)."""
        path = self.path(self.WORK)
        path.mkdir(exist_ok=True)
        return path

    # ------------------------------------------------------------ the collector's copy

    def write_host(self, name: str) -> None:
        """``host.json``: the inventory host whose rows this folder holds (rewritten only when
        it changes)."""
        if self.read_json(self.HOST) != {"name": name}:
            self.write_json(self.HOST, {"name": name}, indent=None)

    def host_name(self) -> str:
        """The inventory name in ``host.json`` (written by the collector), else the folder's name."""
        name = self.read_json(self.HOST).get("name")
        return name if isinstance(name, str) and name else self.root.name


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


def device_folders(root: str | Path) -> list[ResultsFolder]:
    """The device folders under ``root``: itself (one device) or its host subfolders (a fleet)."""
    folder = Path(root)
    if not folder.is_dir():
        raise UserError("no such results folder", source=str(folder))
    if (folder / ResultsFolder.RESULTS).is_file():
        return [ResultsFolder(folder)]
    hosts = sorted(p.parent for p in folder.glob(f"*/{ResultsFolder.RESULTS}"))
    if not hosts:
        raise UserError(f"no results.jsonl here or in a host folder below: run `agent run --out DIR` "
                        f"or `collector run --out DIR` first", source=str(folder))
    return [ResultsFolder(p, ResultsFolder(p).host_name()) for p in hosts]


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

