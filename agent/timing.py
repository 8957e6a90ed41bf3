"""Latency of one call, timed the way the best tools do it: warm-up, then repetitions
until a minimum count and a minimum time are reached (bounded by a maximum time).

What is timed is exactly one ``call()``: for the torch backend, one forward pass of
one batch including the device synchronisation, nothing else.

The count is the larger of ``min_reps`` and the samples every wanted percentile needs
(``TimingSpec.target_samples``): a p99 of 10 samples is their maximum. A percentile that
``max_time_s`` cut short of its count is reported as null with the reason
(:func:`latency_columns`), never as a number it does not mean.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from shared.latency_columns import unbacked_reason
from shared.stats import median_interval
from shared.sweep import PERCENTILES, TimingSpec


@dataclass(frozen=True)
class LatencyStats:
    samples_ms: tuple[float, ...]
    warmup_s: float
    timed_s: float

    def columns(self, batch_size: int, spec: TimingSpec) -> dict[str, Any]:
        """The schema's latency columns of this one process's samples."""
        return latency_columns([self.samples_ms], batch_size, spec, self.warmup_s, self.timed_s)


def _why_no_more(percentile: int, spec: TimingSpec) -> str:
    """Why timing stopped short of a percentile's count."""
    if percentile in spec.percentiles:
        return f"max_time_s ({spec.max_time_s:g} s) ran out first"
    listed = ", ".join(map(str, spec.percentiles)) or "none"
    return f"not in timing.percentiles ({listed}), so timing did not go on for it"


def percentile_columns(ms: np.ndarray, spec: TimingSpec) -> dict[str, Any]:
    """Each percentile where enough samples back it, else null and its ``_reason``; the median's
    95% interval (order statistics) beside a reported median."""
    values = np.percentile(ms, list(PERCENTILES)) if ms.size else [None] * len(PERCENTILES)
    out: dict[str, Any] = {}
    for percentile, value in zip(PERCENTILES, values):
        why = unbacked_reason(percentile, int(ms.size), spec.min_samples(percentile), _why_no_more(percentile, spec))
        out[f"latency_p{percentile}_ms"] = None if why else float(value)
        out[f"latency_p{percentile}_reason"] = why
    interval = median_interval(ms.tolist()) if out["latency_p50_ms"] is not None else None
    out["latency_p50_ci_low_ms"], out["latency_p50_ci_high_ms"] = interval or (None, None)
    return out


def process_columns(groups: Sequence[Sequence[float]]) -> dict[str, Any]:
    """How many processes measured the trial and, from two on, how far their medians spread."""
    medians = np.asarray([np.median(g) for g in groups if len(g)])
    out: dict[str, Any] = {"process_count": len(groups), "latency_p50_process_min_ms": None,
                           "latency_p50_process_max_ms": None, "latency_p50_process_cv": None}
    if medians.size > 1:
        mean = float(medians.mean())
        out.update(latency_p50_process_min_ms=float(medians.min()), latency_p50_process_max_ms=float(medians.max()),
                   latency_p50_process_cv=float(medians.std(ddof=1)) / mean if mean > 0 else None)
    return out


def latency_columns(groups: Sequence[Sequence[float]], batch_size: int, spec: TimingSpec,
                    warmup_s: Optional[float], timed_s: Optional[float]) -> dict[str, Any]:
    """The schema's latency columns from the samples of one or more processes (one sequence a
    process), pooled: the percentiles and their backing, the spread between processes."""
    ms = np.concatenate([np.asarray(g, dtype=float) for g in groups]) if groups else np.empty(0)
    mean = float(ms.mean()) if ms.size else None
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    cv = std / mean if mean else None
    return {
        **percentile_columns(ms, spec), **process_columns(groups),
        "latency_mean_ms": mean, "latency_std_ms": std, "latency_min_ms": float(ms.min()) if ms.size else None,
        "latency_cv": cv, "noisy": cv is not None and cv > spec.noisy_cv,
        "n_samples": int(ms.size), "warmup_s": warmup_s, "timed_s": timed_s,
        "throughput_sps": batch_size * 1000.0 / mean if mean else None,
    }


def time_calls(call: Callable[[], object], spec: TimingSpec,
               clock: Callable[[], int] = time.perf_counter_ns,
               timed_region: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
               ) -> LatencyStats:
    """Warm up for ``spec.warmup_s`` (at least one call), then time calls one by one until
    ``spec.target_samples`` and ``min_time_s`` are both reached, or ``max_time_s`` is.

    ``timed_region`` is entered around the timed repetitions only, not the warm-up: the
    probes (perf, samplers) count exactly what the latency figures describe.
    """
    start = clock()
    call()
    while clock() - start < spec.warmup_s * 1e9:
        call()
    warmup_ns = clock() - start

    target = spec.target_samples
    samples: list[int] = []
    timed_ns = 0
    with timed_region():
        while True:
            t0 = clock()
            call()
            elapsed = clock() - t0
            samples.append(elapsed)
            timed_ns += elapsed
            enough = len(samples) >= target and timed_ns >= spec.min_time_s * 1e9
            out_of_time = timed_ns >= spec.max_time_s * 1e9 and len(samples) >= 2
            if enough or out_of_time:
                break
    return LatencyStats(tuple(s / 1e6 for s in samples), warmup_ns / 1e9, timed_ns / 1e9)
