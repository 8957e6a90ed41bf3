"""Disturbed-trial detection: the same trials measured on a core loaded by a busy loop, then quiet.

    .venv/bin/python benchmarks/bench_disturbed.py [--core N] [--batches 1 8 32]

Measures LeNet-5 (unpruned, torch) pinned to one core (default: the last usable one) twice,
each into a fresh folder with re-measurement off: first with a Python busy loop pinned to
the same core, then without it. Prints, for each trial of both runs, the verdict, the share
of the worker's core other processes used and the reason; and the count of disturbed
trials of each run. On a quiet machine the loaded run should be all disturbed and the quiet
run none; on a shared one the quiet run shows what the others did.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agent.affinity import usable_cpus
from agent.basemodel import default_cache_dir
from agent.runner import SweepRunner
from shared.sweep import parse_sweep

BUSY_LOOP = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"


def sweep(core: int, batches: list[int]) -> dict:
    return {"name": "disturbed", "seed": 0, "dataset": {"name": "digits"}, "models": ["lenet5"],
            "methods": ["l1_unstructured"], "ratios": [0.0], "batch_sizes": batches, "backends": ["torch"],
            "cpus": [core], "telemetry": {"perf": False},
            "timing": {"min_reps": 10, "min_time_s": 1.0, "max_time_s": 2.0, "retry_disturbed": 0}}


def measure(data: dict, loaded: bool, core: int) -> list[dict]:
    loop = subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(core)]) if loaded else None
    try:
        with tempfile.TemporaryDirectory() as out:
            runner = SweepRunner(parse_sweep(data, "<bench_disturbed>"), Path(out), default_cache_dir())
            runner.run()
            return list(runner.out.results.rows())
    finally:
        if loop is not None:
            loop.kill()
            loop.wait(10)


def _fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--core", type=int, default=usable_cpus()[-1])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()
    data = sweep(args.core, args.batches)
    runs = {"loaded": measure(data, True, args.core), "quiet": measure(data, False, args.core)}
    console = Console()
    table = Table(title=f"disturbed-trial detection, worker pinned to core {args.core}")
    for column in ("run", "batch", "disturbed", "others' CPU %", "steal %", "load 1m", "p50 ms", "limits exceeded"):
        table.add_column(column, justify="left" if column in ("run", "limits exceeded") else "right")
    for name, rows in runs.items():
        for row in rows:
            table.add_row(name, str(row["batch_size"]), str(row["disturbed"]), _fmt(row["sys_other_cpu_pct"]),
                          _fmt(row["sys_cpu_steal_pct"]), _fmt(row["sys_load_1m_max"], ".2f"),
                          _fmt(row["latency_p50_ms"], ".3f"),
                          ", ".join(re.findall(r"timing\.disturbance\.(\w+)", row["disturbed_reason"] or "")))
    console.print(table)
    for name, rows in runs.items():
        console.print(f"{name}: {sum(bool(r['disturbed']) for r in rows)} of {len(rows)} trials disturbed")


if __name__ == "__main__":
    main()
