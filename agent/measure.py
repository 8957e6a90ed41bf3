"""Time one model on one backend and device: the agent's measurement, used by the runner
and by the benchmarks that compare it with other timers."""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from agent.backends import Backend
from agent.memory import peak_rss_mb, reset_peak_rss
from agent.sustained import SustainedSeries, run_sustained
from agent.timing import LatencyStats, time_calls
from shared.sweep import TimingSpec


@dataclass(frozen=True)
class Measurement:
    stats: LatencyStats
    threads: int
    peak_rss_mb: float
    peak_gpu_mem_mb: float | None
    sustained: SustainedSeries | None = None  # timing.sustained_s: the long run after the timed one


def measure_model(backend: Backend, model: object, input_shape: tuple[int, ...], device: str,
                  threads: int | None, timing: TimingSpec,
                  timed_region: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
                  ) -> Measurement:
    """Prepare, warm up and time, then run ``timing.sustained_s`` longer where asked; peak
    memory covers preparation and timing only; ``timed_region`` wraps the timed repetitions
    (the probes), never the sustained run (its figures are its own columns)."""
    reset_peak_rss()
    backend.reset_peak_memory(device)
    prepared = backend.prepare(model, input_shape, device, threads)
    with prepared.session():
        stats = time_calls(prepared.call, timing, timed_region=timed_region)
        peak = peak_rss_mb(), backend.peak_memory_mb(device)
        sustained = run_sustained(prepared.call, timing.sustained_s) if timing.sustained_s > 0 else None
    return Measurement(stats, prepared.threads, *peak, sustained)
