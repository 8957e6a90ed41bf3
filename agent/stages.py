"""Where a run's measuring time goes (benchmark P3): named stages, timed and summed.

The workers time their own stages (model load, probes, the GPU profile pass) and send them
with their rows; the manager times what only it sees (a worker's start and exit, the
accuracy passes, writing rows). Warm-up and the timed region come from the rows themselves.
The breakdown is printed by ``agent run`` and kept in run.json (``overhead``).
"""
from __future__ import annotations

import time
from collections.abc import Mapping

# The stages, in the order a trial meets them (one owner for their names).
SERVER_START = "first worker start"  # the first worker waits for the forkserver to import the runtimes
WORKER_START = "worker start"        # from Process.start to the worker's first message (the others)
MODEL_LOAD = "model load"            # the backend loading the artifact in the worker
ACCURACY = "accuracy passes"         # whole workers that only evaluate eval.npz
WARMUP = "warm-up"                   # the timing spec's warm-up (row column warmup_s)
PROBES = "probes"                    # starting and stopping perf and the samplers: "probes: perf", ...
TIMED = "timed region"               # the repetitions themselves (row column timed_s)
GPU_PROFILE = "gpu profile pass"     # the kernel-level profile after the timed pass
LAYER_TIME = "layer time pass"       # the per-op profile pass (telemetry.layer_time)
ROWS = "row writing"                 # results, samples and telemetry lines, synced
WORKER_END = "worker exit"           # the worker ending (or being killed) and reaped
ORDER = (SERVER_START, WORKER_START, MODEL_LOAD, ACCURACY, WARMUP, PROBES, TIMED, GPU_PROFILE, LAYER_TIME, ROWS, WORKER_END)
UNACCOUNTED = "not in any stage"


def probe_stage(probe: str) -> str:
    """One probe's start and stop, a stage of its own under PROBES ("probes: perf")."""
    return f"{PROBES}: {probe}"


def _place(name: str) -> int:
    """Where a stage goes in ORDER: its own place, its parent's (``probes: perf``), else last."""
    parent = name.split(": ", 1)[0]
    return ORDER.index(name) if name in ORDER else ORDER.index(parent) if parent in ORDER else len(ORDER)


def breakdown(stages: Mapping[str, float], wall_s: float) -> dict[str, float]:
    """The stages in ORDER (others after them; a stage of under a millisecond, such as the GPU
    profile on a CPU, left out), and what none of them covers, in seconds.

    The manager writes a row while its worker goes on with the next trial, so stages may
    overlap a little; what is not covered is never below zero."""
    kept = [name for name, seconds in stages.items() if seconds >= 0.0005]
    ordered = {name: stages[name] for name in sorted(kept, key=lambda n: (_place(n), n))}
    ordered[UNACCOUNTED] = max(0.0, wall_s - sum(ordered.values()))
    return ordered


def overhead_record(stages: Mapping[str, float], wall_s: float, timed_s: float) -> dict[str, object]:
    """run.json's ``overhead``: the measuring wall time, its ratio to the timed regions and the
    breakdown (seconds, rounded to milliseconds)."""
    return {"measuring_s": round(wall_s, 3), "timed_s": round(timed_s, 3),
            "ratio": round(wall_s / timed_s, 3) if timed_s > 0 else None,
            "stages_s": {name: round(s, 3) for name, s in breakdown(stages, wall_s).items()}}


def format_breakdown(stages: Mapping[str, float], wall_s: float) -> list[str]:
    """One line a stage: seconds and share of the measuring wall time."""
    lines = []
    for name, seconds in breakdown(stages, wall_s).items():
        share = f"{seconds / wall_s:6.1%}" if wall_s > 0 else "     -"
        lines.append(f"  {name:<24} {seconds:8.1f} s {share}")
    return lines
