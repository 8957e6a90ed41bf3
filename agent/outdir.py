"""The output folder of a run: its files, and the run identity that survives a resume."""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from shared.errors import UserError
from shared.outlock import lock_folder
from shared.resultlog import ResultLog
from shared.resultsdir import LAYER_TIME_FILE, RESULTS_FILE, SAMPLES_FILE, STRATEGY_FILE


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class OutputFolder:
    root: Path

    @property
    def results(self) -> ResultLog:
        return ResultLog(self.root / RESULTS_FILE)

    @property
    def results_csv(self) -> Path:
        return self.root / "results.csv"

    @property
    def samples(self) -> Path:  # raw latency samples, one line a trial and process
        return self.root / SAMPLES_FILE

    @property
    def layers(self) -> Path:  # per-layer sparsity, one line a variant
        return self.root / "layers.jsonl"

    @property
    def layer_time(self) -> Path:  # per-layer time, one line a profiled model (shared/layertime.py)
        return self.root / LAYER_TIME_FILE

    @property
    def telemetry(self) -> Path:  # probe time series and kernel tables, one line a trial
        return self.root / "telemetry.jsonl"

    @property
    def strategy(self) -> Path:  # an adaptive sweep's choices, one line a trial chosen
        return self.root / STRATEGY_FILE

    @property
    def work(self) -> Path:
        """Scratch space of a running sweep: the model handed to workers, their stderr."""
        path = self.root / ".work"
        path.mkdir(exist_ok=True)
        return path

    def open(self, sweep_name: str, machine: dict[str, Any]) -> str:
        """Create (or reopen) the folder; the run id of a first run is kept for every resume."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise UserError(f"cannot write to output folder {str(self.root)!r}: {exc.strerror or exc}",
                            field="--out") from None
        lock_folder(self.root, "agent")  # two agents would interleave and double its rows
        run_file = self.root / "run.json"
        if run_file.exists():
            run = json.loads(run_file.read_text())
        else:
            run = {"run_id": f"{utc_now()[:10]}-{uuid.uuid4().hex[:8]}", "sweep": sweep_name,
                   "created_at": utc_now()}
            _write_json(run_file, run)
        (self.root / "machine.json").write_text(json.dumps(machine, indent=2) + "\n")
        return str(run["run_id"])

    def record_run(self, **fields: Any) -> None:
        """Add ``fields`` to run.json (replacing those of an earlier run into this folder)."""
        run_file = self.root / "run.json"
        _write_json(run_file, {**json.loads(run_file.read_text()), **fields})


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Whole or not at all: a reader never sees half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
