"""Was a trial disturbed? The rule, read from what the system sampler saw over its timed region.

A trial's own CV can stay low while another process, the hypervisor's steal or a load spike
slows the whole region; the sampler sees those. Each check of ``timing.disturbance``
(shared.sweep.DisturbanceSpec) compares one figure of the region with its limit; a trial is
disturbed when any figure is over its limit, and the reason names every one that was, with
its value. With no figure measurable at all the verdict is null, with why.

The same rule decides whether the machine is quiet enough to start a trial
(``timing.quiet_wait_s``), from two samples taken while the worker waits.
"""
from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.probes.system import SystemSample, read_sample, summarize_system
from shared.sweep import DisturbanceSpec

QUIET_WINDOW_S = 0.5  # how long one look at the machine lasts while waiting for quiet
# Shorter regions are not judged: /proc/stat ticks at 10 ms, so a 20 ms region reads 0, 50 or
# 100% "other processes", and PSI's counter spans the sampler's start and stop (measured on an
# idle 2-core VM: 0.01 s regions read 20-60% others and 45-73% PSI, 0.3 s regions 0-5% and 2-3%)
MIN_REGION_S = 0.2


@dataclass(frozen=True)
class Check:
    """One figure of the region against one limit of the spec."""

    limit: str  # the DisturbanceSpec field
    what: str  # the figure in words, for the reason
    unit: str

    def value(self, columns: Mapping[str, Any], n_cpus: int) -> float | None:
        return FIGURES[self.limit](columns, n_cpus)


def _psi_cpu_pct(columns: Mapping[str, Any], n_cpus: int) -> float | None:
    """The share of the region some task waited for a CPU: PSI's ``total`` delta over the region
    (its avg10 lags by seconds, and a trial may be shorter than that)."""
    stall_us, region_s = columns.get("sys_psi_cpu_some_total_us"), columns.get("timed_s")
    if stall_us is None or not region_s:
        return None
    # the counter's delta spans the sampler's start and stop too, a little more than timed_s
    return min(100.0, 100 * stall_us / (region_s * 1e6))


def _load_per_cpu(columns: Mapping[str, Any], n_cpus: int) -> float | None:
    load = columns.get("sys_load_1m_max")
    return None if load is None or n_cpus <= 0 else load / n_cpus


def _swap_mb(columns: Mapping[str, Any], n_cpus: int) -> float | None:
    swapped = [columns.get("sys_swap_in_mb"), columns.get("sys_swap_out_mb")]
    return None if None in swapped else sum(swapped)  # type: ignore[arg-type]


FIGURES: dict[str, Callable[[Mapping[str, Any], int], float | None]] = {
    "other_cpu_pct": lambda c, n: c.get("sys_other_cpu_pct"),
    "steal_pct": lambda c, n: c.get("sys_cpu_steal_pct"),
    "psi_cpu_pct": _psi_cpu_pct,
    "load_per_cpu": _load_per_cpu,
    "freq_drop_pct": lambda c, n: c.get("sys_cpu_freq_drop_pct"),
    "swap_mb": _swap_mb,
}
CHECKS: tuple[Check, ...] = (
    Check("other_cpu_pct", "other processes used", "% of the worker's cores"),
    Check("steal_pct", "the hypervisor stole", "% of CPU time"),
    Check("psi_cpu_pct", "tasks waited for a CPU (PSI cpu some)", "% of the region"),
    Check("load_per_cpu", "1-minute load", " a core"),
    Check("freq_drop_pct", "the CPU clock fell by", "%"),
    Check("swap_mb", "swapped", " MiB"),
)


@dataclass(frozen=True)
class Verdict:
    """The ``disturbed`` and ``disturbed_reason`` columns."""

    disturbed: bool | None
    reason: str | None

    def columns(self) -> dict[str, Any]:
        return {"disturbed": self.disturbed, "disturbed_reason": self.reason}


def _under_quota(spec: DisturbanceSpec, cpu_quota: float | None) -> DisturbanceSpec:
    """The limits for a worker held to ``cpu_quota`` of its cores (an emulated device): the
    time the quota throttles it shows as tasks waiting (PSI) and is free for other processes,
    so PSI is not checked and others may use that share on top of the limit."""
    if cpu_quota is None or cpu_quota >= 1:
        return spec
    others = None if spec.other_cpu_pct is None else spec.other_cpu_pct + 100 * (1 - cpu_quota)
    return dataclasses.replace(spec, psi_cpu_pct=None, other_cpu_pct=others)


def judge(columns: Mapping[str, Any], spec: DisturbanceSpec, n_cpus: int,
          cpu_quota: float | None = None) -> Verdict:
    """The verdict on one region from its row columns (``sys_*``, ``timed_s``); ``n_cpus``:
    the machine's usable cores (the load average is the whole machine's); ``cpu_quota``: the
    share of its cores an emulated device's worker may use (None: all)."""
    spec = _under_quota(spec, cpu_quota)
    region_s = columns.get("timed_s")
    if isinstance(region_s, (int, float)) and region_s < MIN_REGION_S:
        return Verdict(None, f"not judged: a timed region of {region_s:.3g} s is too short for the CPU figures "
                             f"(they tick every 10 ms and span the sampler's start and stop); "
                             f"at least {MIN_REGION_S:g} s (timing.min_time_s) is needed")
    over, measured = [], []
    for check in CHECKS:
        limit = getattr(spec, check.limit)
        value = check.value(columns, n_cpus) if limit is not None else None
        if value is None:
            continue
        measured.append(check.limit)
        if value > limit:
            over.append(f"{check.what} {value:.3g}{check.unit} (limit {limit:g}, timing.disturbance.{check.limit})")
    if over:
        return Verdict(True, "; ".join(over))
    if not measured:
        return Verdict(None, "no evidence: the system sampler measured none of the figures timing.disturbance "
                             "checks (see probe_errors)")
    return Verdict(False, None)


@dataclass(frozen=True)
class QuietWait:
    """The ``quiet_wait_s`` and ``quiet_wait_result`` columns."""

    seconds: float
    result: str

    def columns(self) -> dict[str, Any]:
        return {"quiet_wait_s": self.seconds, "quiet_wait_result": self.result}


def wait_until_quiet(limit_s: float, spec: DisturbanceSpec, n_cpus: int,
                     cpus: Sequence[int] | None = None,
                     read: Callable[[float], SystemSample] = read_sample,
                     sleep: Callable[[float], None] = time.sleep,
                     clock: Callable[[], float] = time.monotonic) -> QuietWait:
    """Look at the machine for QUIET_WINDOW_S at a time until the disturbance rule finds it
    quiet, for at most ``limit_s``; ``cpus``: the waiting worker's cores (default: its affinity)."""
    cores = tuple(sorted(os.sched_getaffinity(0))) if cpus is None else tuple(cpus)
    started = clock()
    while True:
        first = read(clock() - started)
        sleep(QUIET_WINDOW_S)
        last = read(clock() - started)
        window = {**summarize_system([first, last], cores), "timed_s": last.t_s - first.t_s}
        verdict = judge(window, spec, n_cpus)
        waited = clock() - started
        if not verdict.disturbed:
            return QuietWait(waited, "quiet" if verdict.disturbed is False else f"quiet (unknown: {verdict.reason})")
        if waited >= limit_s:
            return QuietWait(waited, f"not quiet after {waited:.1f} s: {verdict.reason}")
