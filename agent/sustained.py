"""Sustained mode (``timing.sustained_s``): after the timed region, run the model for a long
while and record latency, temperature and clock over time.

Short trials make a thermally throttled device (a Jetson, a fanless board, a laptop) look
faster than it is in sustained use. The run is cut into windows; each window's median
latency, hottest temperature and mean clock form a time series (``telemetry.jsonl``, under
``sustained``); the row sets the cold latency (the first tenth) beside the steady-state one
(the last third), and says whether the CPU throttled, and from what evidence, or that
nothing was readable.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.thermal import read_clock_mhz, read_temp_c, read_throttle_count

WINDOWS = 10  # windows of a sustained run: the cold latency is the first one's
MIN_WINDOW_S = 0.2
CLOCK_FALL_PCT = 10.0  # a steady-state clock this far below the cold one counts as throttling


@dataclass(frozen=True)
class Sensors:
    """What the run reads each window; each returns None where the machine has no such sensor."""

    temp_c: Callable[[], float | None] = read_temp_c
    clock_mhz: Callable[[Sequence[int]], float | None] = read_clock_mhz
    throttle_count: Callable[[Sequence[int]], int | None] = read_throttle_count


@dataclass
class SustainedSeries:
    t_s: list[float] = field(default_factory=list)  # end of each window, seconds since the start
    p50_ms: list[float] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    temp_c: list[float | None] = field(default_factory=list)
    clock_mhz: list[float | None] = field(default_factory=list)
    throttle_start: int | None = None
    throttle_end: int | None = None

    def side(self) -> dict[str, Any]:
        return {"t_s": self.t_s, "p50_ms": self.p50_ms, "calls": self.calls, "temp_c": self.temp_c,
                "clock_mhz": self.clock_mhz, "throttle_count_start": self.throttle_start,
                "throttle_count_end": self.throttle_end}


def run_sustained(call: Callable[[], object], seconds: float, sensors: Sensors = Sensors(),
                  clock: Callable[[], int] = time.perf_counter_ns) -> SustainedSeries:
    """Call ``call`` back to back for ``seconds`` (at least one call a window)."""
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    window_ns = max(MIN_WINDOW_S, seconds / WINDOWS) * 1e9
    series = SustainedSeries(throttle_start=sensors.throttle_count(cpus))
    start = clock()
    while clock() - start < seconds * 1e9:
        window_start, latencies = clock(), []
        while not latencies or clock() - window_start < window_ns:
            t0 = clock()
            call()
            latencies.append((clock() - t0) / 1e6)
        series.t_s.append((clock() - start) / 1e9)
        series.p50_ms.append(float(np.median(latencies)))
        series.calls.append(len(latencies))
        series.temp_c.append(sensors.temp_c())
        series.clock_mhz.append(sensors.clock_mhz(cpus))
    series.throttle_end = sensors.throttle_count(cpus)
    return series


def _median_of(values: Sequence[float], weights: Sequence[int]) -> float:
    """The median latency of windows pooled: each window's median repeated by its call count
    (close to the calls' own median, without keeping every sample of a long run)."""
    return float(np.median(np.repeat(np.asarray(values), np.asarray(weights))))


def throttle_verdict(series: SustainedSeries) -> tuple[bool | None, str]:
    """Throttled or not, and the evidence: the kernel's throttle counter where there is one,
    else the clock's fall from the first windows to the last; null where neither is readable."""
    if series.throttle_start is not None and series.throttle_end is not None:
        rose = series.throttle_end - series.throttle_start
        return rose > 0, f"core_throttle_count rose by {rose}"
    clocks = [c for c in series.clock_mhz if c is not None]
    if len(clocks) >= 2:
        third = max(1, len(clocks) // 3)
        cold, steady = float(np.mean(clocks[:third])), float(np.mean(clocks[-third:]))
        fall = 100 * (cold - steady) / cold if cold > 0 else 0.0
        return fall > CLOCK_FALL_PCT, (f"CPU clock {cold:.0f} -> {steady:.0f} MHz ({fall:.1f}% fall; "
                                       f"throttled above {CLOCK_FALL_PCT:g}%)")
    temps = [t for t in series.temp_c if t is not None]
    heat = f" (temperature {temps[0]:.1f} -> {temps[-1]:.1f} C)" if temps else ""
    return None, f"no sensor: no CPU clock or throttle counter readable{heat}"


def sustained_columns(series: SustainedSeries) -> dict[str, Any]:
    """The row's ``sustained_*`` and ``throttled*`` columns."""
    if not series.p50_ms:
        return {}
    n = len(series.p50_ms)
    cold = _median_of(series.p50_ms[:max(1, n // WINDOWS)], series.calls[:max(1, n // WINDOWS)])
    steady = _median_of(series.p50_ms[-max(1, n // 3):], series.calls[-max(1, n // 3):])
    temps = [t for t in series.temp_c if t is not None]
    throttled, why = throttle_verdict(series)
    return {"sustained_s": series.t_s[-1], "sustained_cold_p50_ms": cold, "sustained_steady_p50_ms": steady,
            "sustained_temp_max_c": max(temps, default=None), "throttled": throttled, "throttled_reason": why}
