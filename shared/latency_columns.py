"""How far a row's latency figures can be trusted: percentile backing, the median's interval,
and the spread between the processes that measured the trial (agent/timing.py fills them).

A percentile (``latency_p50_ms``, ``latency_p90_ms``, ``latency_p99_ms``) is null where too
few samples back it (``timing.min_samples_pNN``); its ``_reason`` column says why. Every reader
of a percentile copes with null.
"""
from __future__ import annotations

from shared.columns import Column, _c

LATENCY_QUALITY_COLUMNS: tuple[Column, ...] = (
    _c("latency_p50_reason", str, "why latency_p50_ms is null: too few samples, and why there were no more"),
    _c("latency_p90_reason", str, "why latency_p90_ms is null: too few samples, and why there were no more"),
    _c("latency_p99_reason", str, "why latency_p99_ms is null: too few samples, and why there were no more"),
    _c("latency_p50_ci_low_ms", float, "95% confidence interval of the median latency, low end, ms: order "
                                       "statistics of the (pooled) samples, so within-process noise only; "
                                       "the spread between processes is latency_p50_process_*"),
    _c("latency_p50_ci_high_ms", float, "95% confidence interval of the median latency, high end, ms"),
    _c("process_count", int, "fresh worker processes that measured the trial (timing.processes); the "
                             "latency figures pool their samples"),
    _c("latency_p50_process_min_ms", float, "lowest of the per-process median latencies, ms (2+ processes)"),
    _c("latency_p50_process_max_ms", float, "highest of the per-process median latencies, ms (2+ processes)"),
    _c("latency_p50_process_cv", float, "coefficient of variation of the per-process median latencies "
                                        "(2+ processes): the between-process spread"),
)

# Samples a percentile needs before a row reports it (MLPerf LoadGen's counts for p90 and p99);
# the sweep's timing.min_samples_pNN changes them.
DEFAULT_MIN_SAMPLES: dict[int, int] = {50: 10, 90: 64, 99: 662}


def unbacked_reason(percentile: int, n_samples: int, needed: int, why_no_more: str) -> str | None:
    """Why ``latency_p<percentile>_ms`` is null, or None where ``n_samples`` back it."""
    if n_samples >= needed:
        return None
    return f"{n_samples} samples, p{percentile} needs {needed}: {why_no_more}"
