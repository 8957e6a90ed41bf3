"""A system sampler: CPU per core, frequency, load, pressure (PSI), memory, swap, disk IO
and temperatures during the region, summarised into ``sys_*`` columns plus a time series.

A sample is taken at ``start()``, every ``interval_s`` on a thread, and at ``stop()``, so
a region shorter than the interval still has two. Cumulative counters (CPU time, PSI
``total``, swap and disk IO) are reported as their *delta* over the region, never as an
average of cumulative values. PSI ``avg10`` is the highest 10-second average seen.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import psutil

from agent.probes.base import Probe, ProbeJob, ProbeResult, Sampler, format_reasons
from agent.thermal import read_temp_c

DEFAULT_INTERVAL_S = 0.5
PSI_DIR = Path("/proc/pressure")
PSI_SERIES = ("cpu_some", "memory_some", "memory_full", "io_some", "io_full")
MB = 2**20
SYSTEM_COLUMNS: tuple[str, ...] = (
    "sys_cpu_mean_pct", "sys_cpu_core_max_pct", "sys_cpu_steal_pct", "sys_cpu_freq_mean_mhz",
    "sys_cpu_freq_drop_pct", "sys_other_cpu_pct",
    "sys_load_1m_max",
    *(f"sys_psi_{s}_{k}" for s in PSI_SERIES for k in ("avg10", "total_us")),
    "sys_mem_used_max_mb", "sys_mem_available_min_mb", "sys_swap_used_max_mb",
    "sys_swap_in_mb", "sys_swap_out_mb",
    "sys_disk_read_mb", "sys_disk_write_mb", "sys_disk_read_ops", "sys_disk_write_ops",
    "sys_temp_max_c", "sys_sample_count",
)


@dataclass(frozen=True)
class CoreTimes:
    """Cumulative seconds of one core: busy (as psutil counts it: not idle nor iowait),
    total, and stolen by the hypervisor."""

    busy_s: float
    total_s: float
    steal_s: float


@dataclass(frozen=True)
class SystemSample:
    t_s: float
    cores: tuple[CoreTimes, ...] = ()
    cpu_freq_mhz: float | None = None
    load_1m: float | None = None
    psi: dict[str, dict[str, float]] = field(default_factory=dict)  # "io_some" -> avg10, total
    mem_used_mb: float | None = None
    mem_available_mb: float | None = None
    swap_used_mb: float | None = None
    swap_in_mb: float | None = None  # cumulative since boot
    swap_out_mb: float | None = None
    disk: tuple[float, float, int, int] | None = None  # cumulative read/write MiB and ops
    temp_max_c: float | None = None
    own_cpu_s: float | None = None  # CPU seconds of the sampling process (the worker) since it began


def parse_psi(text: str) -> dict[str, dict[str, float]]:
    """``some avg10=0.12 avg60=... total=123`` lines -> {"some": {"avg10": 0.12, ..., "total": 123}}."""
    parsed: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        kind, _, rest = line.strip().partition(" ")
        if kind in ("some", "full"):
            parsed[kind] = {k: float(v) for k, _, v in (p.partition("=") for p in rest.split()) if v}
    return parsed


def read_psi(psi_dir: Path = PSI_DIR) -> dict[str, dict[str, float]]:
    """PSI of cpu, memory and io, keyed ``cpu_some``, ``memory_full`` ...; missing files skipped."""
    found: dict[str, dict[str, float]] = {}
    for resource in ("cpu", "memory", "io"):
        try:
            text = (psi_dir / resource).read_text()
        except OSError:
            continue
        for kind, values in parse_psi(text).items():
            found[f"{resource}_{kind}"] = values
    return found


def _core_times(times: Any) -> CoreTimes:
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return CoreTimes(total - idle, total, getattr(times, "steal", 0.0))


def _attempt(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except (OSError, RuntimeError, AttributeError, NotImplementedError):
        return None


def _own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def read_sample(t_s: float, psi_dir: Path = PSI_DIR) -> SystemSample:
    """One sample of this machine; an unreadable part is None (or empty)."""
    memory, swap = _attempt(psutil.virtual_memory), _attempt(psutil.swap_memory)
    freq = _attempt(psutil.cpu_freq)
    disk = _attempt(psutil.disk_io_counters)
    return SystemSample(
        t_s=t_s,
        cores=tuple(_core_times(c) for c in psutil.cpu_times(percpu=True)),
        cpu_freq_mhz=freq.current if freq and freq.current else None,
        load_1m=(_attempt(os.getloadavg) or (None,))[0],
        psi=read_psi(psi_dir),
        mem_used_mb=memory.used / MB if memory else None,
        mem_available_mb=memory.available / MB if memory else None,
        swap_used_mb=swap.used / MB if swap else None,
        swap_in_mb=swap.sin / MB if swap else None,
        swap_out_mb=swap.sout / MB if swap else None,
        disk=(disk.read_bytes / MB, disk.write_bytes / MB, disk.read_count, disk.write_count)
        if disk else None,
        temp_max_c=_attempt(read_temp_c),
        own_cpu_s=_own_cpu_s(),
    )


# ------------------------------------------------------------------------- summarising

def core_busy_pct(before: SystemSample, after: SystemSample) -> list[float | None]:
    """Busy % of each core between two samples (None where no time passed)."""
    pcts: list[float | None] = []
    for a, b in zip(before.cores, after.cores):
        total = b.total_s - a.total_s
        pcts.append(100 * (b.busy_s - a.busy_s) / total if total > 0 else None)
    return pcts


def _all_cores_pct(first: SystemSample, last: SystemSample, part: str) -> float | None:
    total = sum(b.total_s - a.total_s for a, b in zip(first.cores, last.cores))
    spent = sum(getattr(b, part) - getattr(a, part) for a, b in zip(first.cores, last.cores))
    return 100 * spent / total if total > 0 else None


def other_cpu_pct(first: SystemSample, last: SystemSample, cpus: Sequence[int]) -> float | None:
    """Busy share of ``cpus`` (the worker's cores) that went to other processes: their busy
    time less this process's own CPU time and the hypervisor's steal, % of their time."""
    if first.own_cpu_s is None or last.own_cpu_s is None:
        return None
    pairs = [(first.cores[c], last.cores[c]) for c in cpus if c < min(len(first.cores), len(last.cores))]
    total = sum(b.total_s - a.total_s for a, b in pairs)
    if not pairs or total <= 0:
        return None
    busy = sum((b.busy_s - b.steal_s) - (a.busy_s - a.steal_s) for a, b in pairs)
    # clamped: CPU times are counted in ticks (10 ms), so a quiet short region can come out below 0
    return min(100.0, max(0.0, 100 * (busy - (last.own_cpu_s - first.own_cpu_s)) / total))


def _freq_drop_pct(freq: Sequence[float]) -> float | None:
    """The largest fall of the clock from one sample to a later one, % of the earlier: a clock
    that rises as the core wakes up (a powersave governor) is no drop."""
    if len(freq) < 2:
        return None
    highest, fall = freq[0], 0.0
    for f in freq[1:]:
        if highest > 0:
            fall = max(fall, 100 * (highest - f) / highest)
        highest = max(highest, f)
    return fall


def _present(samples: Sequence[SystemSample], name: str) -> list[float]:
    return [v for s in samples if (v := getattr(s, name)) is not None]


def _delta(first: float | None, last: float | None) -> float | None:
    return None if first is None or last is None else last - first


def _psi_columns(first: SystemSample, last: SystemSample,
                 samples: Sequence[SystemSample]) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for series in PSI_SERIES:
        avg10 = [s.psi[series]["avg10"] for s in samples if "avg10" in s.psi.get(series, {})]
        columns[f"sys_psi_{series}_avg10"] = max(avg10, default=None)
        columns[f"sys_psi_{series}_total_us"] = _delta(first.psi.get(series, {}).get("total"),
                                                      last.psi.get(series, {}).get("total"))
    return columns


def summarize_system(samples: Sequence[SystemSample], cpus: Sequence[int] = ()) -> dict[str, Any]:
    """The ``sys_*`` columns of a sample stream (first and last sample bound the region);
    ``cpus``: the cores the measured process may run on (for ``sys_other_cpu_pct``)."""
    first, last = samples[0], samples[-1]
    cores = [p for p in core_busy_pct(first, last) if p is not None]
    freq, load = _present(samples, "cpu_freq_mhz"), _present(samples, "load_1m")
    columns: dict[str, Any] = {
        "sys_cpu_mean_pct": _all_cores_pct(first, last, "busy_s"),
        "sys_cpu_core_max_pct": max(cores, default=None),
        "sys_cpu_steal_pct": _all_cores_pct(first, last, "steal_s"),
        "sys_cpu_freq_mean_mhz": sum(freq) / len(freq) if freq else None,
        "sys_cpu_freq_drop_pct": _freq_drop_pct(freq),
        "sys_other_cpu_pct": other_cpu_pct(first, last, cpus),
        "sys_load_1m_max": max(load, default=None),
        **_psi_columns(first, last, samples),
        "sys_mem_used_max_mb": max(_present(samples, "mem_used_mb"), default=None),
        "sys_mem_available_min_mb": min(_present(samples, "mem_available_mb"), default=None),
        "sys_swap_used_max_mb": max(_present(samples, "swap_used_mb"), default=None),
        "sys_swap_in_mb": _delta(first.swap_in_mb, last.swap_in_mb),
        "sys_swap_out_mb": _delta(first.swap_out_mb, last.swap_out_mb),
        "sys_temp_max_c": max(_present(samples, "temp_max_c"), default=None),
        "sys_sample_count": len(samples),
    }
    disk = (first.disk, last.disk)
    for i, name in enumerate(("sys_disk_read_mb", "sys_disk_write_mb", "sys_disk_read_ops",
                              "sys_disk_write_ops")):
        columns[name] = None if None in disk else disk[1][i] - disk[0][i]  # type: ignore[index]
    return columns


def null_reasons(columns: dict[str, Any], psi_dir: Path = PSI_DIR) -> dict[str, str]:
    """Why each null column is null (one reason an area)."""
    areas = {
        "sys_psi_": f"no {psi_dir} (kernel without PSI, or booted with psi=0)"
        if not psi_dir.is_dir() else f"{psi_dir} lacks this line (older kernel)",
        "sys_temp_": "no readable temperature sensor",
        "sys_cpu_freq": "no CPU frequency readable",
        "sys_other_cpu": "no CPU times of the worker's cores",
        "sys_disk_": "no disk IO counters",
        "sys_swap_in": "swap counters unreadable",
        "sys_swap_out": "swap counters unreadable",
        "sys_load": "no load average",
    }
    return {column: next((r for prefix, r in areas.items() if column.startswith(prefix)),
                         "no data in the region")
            for column, value in columns.items() if value is None}


def system_time_series(samples: Sequence[SystemSample], interval_s: float) -> dict[str, Any]:
    """Columnar series for the side file; counters as deltas since the first sample."""
    first = samples[0]
    series: dict[str, Any] = {
        "interval_s": interval_s,
        "t_s": [s.t_s for s in samples],
        "cpu_pct_per_core": [None] + [core_busy_pct(a, b) for a, b in zip(samples, samples[1:])],
    }
    for name in ("cpu_freq_mhz", "load_1m", "mem_used_mb", "mem_available_mb", "swap_used_mb",
                 "temp_max_c"):
        series[name] = [getattr(s, name) for s in samples]
    for name in PSI_SERIES:
        series[f"psi_{name}_avg10"] = [s.psi.get(name, {}).get("avg10") for s in samples]
        series[f"psi_{name}_total_us"] = [
            _delta(first.psi.get(name, {}).get("total"), s.psi.get(name, {}).get("total"))
            for s in samples]
    for i, name in enumerate(("disk_read_mb", "disk_write_mb")):
        series[name] = [None if s.disk is None or first.disk is None else s.disk[i] - first.disk[i]
                        for s in samples]
    return series


# ------------------------------------------------------------------------- the probe

class SystemProbe(Probe):
    """Samples the machine at start, every ``interval_s`` during the region, and at stop."""

    name: ClassVar[str] = "system"
    columns: ClassVar[tuple[str, ...]] = SYSTEM_COLUMNS

    @classmethod
    def for_job(cls, job: ProbeJob) -> SystemProbe:
        return cls(job.telemetry.system_interval_s)

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S, psi_dir: Path | str = PSI_DIR,
                 reader: Callable[[float, Path], SystemSample] = read_sample) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.psi_dir = Path(psi_dir)
        self._reader = reader
        self._samples: list[SystemSample] = []
        self._lock = threading.Lock()
        self._sampler: Sampler | None = None
        self._cpus: tuple[int, ...] = ()

    def _take(self, t_s: float) -> None:
        sample = self._reader(t_s, self.psi_dir)
        with self._lock:
            self._samples.append(sample)

    def _start(self) -> None:
        self._samples = []
        self._cpus = tuple(sorted(os.sched_getaffinity(0)))
        self._sampler = Sampler(self._take, self.interval_s, "edgeprune-system")
        self._take(0.0)
        self._sampler.start()

    def _stop(self) -> ProbeResult:
        sampler = self._sampler
        assert sampler is not None
        sampler.stop()
        self._take(sampler.now())
        with self._lock:
            samples = list(self._samples)
        columns = summarize_system(samples, self._cpus)
        notes = [format_reasons(null_reasons(columns, self.psi_dir)),
                 sampler.error and f"sampler: {sampler.error}"]
        return ProbeResult(columns, "; ".join(n for n in notes if n) or None,
                           side=system_time_series(samples, self.interval_s))

    def _cleanup(self) -> None:
        if self._sampler is not None:
            self._sampler.stop()
