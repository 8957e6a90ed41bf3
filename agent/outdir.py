"""The output folder of a run: its files, and the run identity that survives a resume."""
from __future__ import annotations

import fcntl
import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from shared.errors import UserError
from shared.resultlog import ResultLog


_HELD: dict[Path, int] = {}  # output folder -> the fd of its lock, held until this process ends


def _lock(root: Path) -> None:
    """One agent at a time writes a folder: two would interleave and double its rows (a
    collector restarting an agent it wrongly thought dead must fail, not duplicate)."""
    key = root.resolve()
    if key in _HELD:
        return
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise UserError(f"another agent (pid {holder}) is writing to output folder {str(root)!r}; "
                        f"wait for it or choose another --out", field="--out") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _HELD[key] = fd


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class OutputFolder:
    root: Path

    @property
    def results(self) -> ResultLog:
        return ResultLog(self.root / "results.jsonl")

    @property
    def results_csv(self) -> Path:
        return self.root / "results.csv"

    @property
    def samples(self) -> Path:  # raw latency samples, one line a trial
        return self.root / "samples.jsonl"

    @property
    def layers(self) -> Path:  # per-layer sparsity, one line a variant
        return self.root / "layers.jsonl"

    @property
    def telemetry(self) -> Path:  # probe time series and kernel tables, one line a trial
        return self.root / "telemetry.jsonl"

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
        _lock(self.root)
        run_file = self.root / "run.json"
        if run_file.exists():
            run = json.loads(run_file.read_text())
        else:
            run = {"run_id": f"{utc_now()[:10]}-{uuid.uuid4().hex[:8]}", "sweep": sweep_name,
                   "created_at": utc_now()}
            tmp = run_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(run, indent=2) + "\n")
            tmp.replace(run_file)
        (self.root / "machine.json").write_text(json.dumps(machine, indent=2) + "\n")
        return str(run["run_id"])
