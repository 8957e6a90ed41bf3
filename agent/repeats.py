"""One trial measured in several fresh worker processes (``timing.processes``), as one row.

pyperf's reason for several processes: memory layout, allocator state and thread placement
are fixed for a process's life, so its repetitions cannot show how much they vary; only
fresh processes can. The row pools the processes' samples (percentiles, CI, mean) and gives
their spread (``latency_p50_process_*``); samples.jsonl keeps one list a process.

A trial that failed in any process is that failure's row: a model that runs out of memory
one time in three does run out of memory.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.timing import latency_columns
from shared.schema import Status
from shared.sweep import TimingSpec

SAMPLES_BY_PROCESS = "samples_by_process"  # an outcome's raw samples: one list a process


def _max(values: Sequence[Any]) -> Any:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def pool_processes(runs: Sequence[dict[str, Any]], batch_size: int, spec: TimingSpec) -> dict[str, Any]:
    """The row columns of one trial from each process's columns (as a worker sends them).

    The telemetry columns (perf counters, samplers, energy) are those of the first process:
    they describe its timed region, and counters of several regions do not add up to one."""
    failed = next((i for i, c in enumerate(runs) if c.get("status") != Status.OK.value), None)
    if failed is not None:
        columns = dict(runs[failed])
        columns.pop("samples_ms", None)
        if len(runs) > 1:
            columns["error"] = f"process {failed + 1} of {len(runs)}: {columns.get('error') or ''}".rstrip(": ")
        measured = columns.get("status") != Status.SKIPPED.value  # a skipped trial ran in no process
        return {**columns, "process_count": len(runs) if measured else None}
    groups = [list(c["samples_ms"]) for c in runs]
    first = {k: v for k, v in runs[0].items() if k != "samples_ms"}
    return {
        **first,
        **latency_columns(groups, batch_size, spec, sum(c.get("warmup_s") or 0.0 for c in runs),
                          sum(c.get("timed_s") or 0.0 for c in runs)),
        "peak_rss_mb": _max([c.get("peak_rss_mb") for c in runs]),
        "peak_gpu_mem_mb": _max([c.get("peak_gpu_mem_mb") for c in runs]),
        SAMPLES_BY_PROCESS: groups,
    }
