"""Latency of one call, timed the way the best tools do it: warm-up, then repetitions
until both a minimum count and a minimum time are reached (bounded by a maximum time).

What is timed is exactly one ``call()``: for the torch backend, one forward pass of
one batch including the device synchronisation, nothing else.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.sweep import TimingSpec


@dataclass(frozen=True)
class LatencyStats:
    samples_ms: tuple[float, ...]
    warmup_s: float
    timed_s: float

    def columns(self, batch_size: int, noisy_cv: float) -> dict[str, Any]:
        """The schema's latency columns."""
        ms = np.asarray(self.samples_ms)
        mean = float(ms.mean())
        std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
        cv = std / mean if mean > 0 else None
        p50, p90, p99 = (float(v) for v in np.percentile(ms, [50, 90, 99]))
        return {
            "latency_p50_ms": p50, "latency_p90_ms": p90, "latency_p99_ms": p99,
            "latency_mean_ms": mean, "latency_std_ms": std, "latency_min_ms": float(ms.min()),
            "latency_cv": cv, "noisy": cv is not None and cv > noisy_cv,
            "n_samples": int(ms.size), "warmup_s": self.warmup_s, "timed_s": self.timed_s,
            "throughput_sps": batch_size * 1000.0 / mean if mean > 0 else None,
        }


def time_calls(call: Callable[[], object], spec: TimingSpec,
               clock: Callable[[], int] = time.perf_counter_ns,
               timed_region: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
               ) -> LatencyStats:
    """Warm up for ``spec.warmup_s`` (at least one call), then time calls one by one.

    ``timed_region`` is entered around the timed repetitions only, not the warm-up: the
    probes (perf, samplers) count exactly what the latency figures describe.
    """
    start = clock()
    call()
    while clock() - start < spec.warmup_s * 1e9:
        call()
    warmup_ns = clock() - start

    samples: list[int] = []
    timed_ns = 0
    with timed_region():
        while True:
            t0 = clock()
            call()
            elapsed = clock() - t0
            samples.append(elapsed)
            timed_ns += elapsed
            enough = len(samples) >= spec.min_reps and timed_ns >= spec.min_time_s * 1e9
            out_of_time = timed_ns >= spec.max_time_s * 1e9 and len(samples) >= 2
            if enough or out_of_time:
                break
    return LatencyStats(tuple(s / 1e6 for s in samples), warmup_ns / 1e9, timed_ns / 1e9)
