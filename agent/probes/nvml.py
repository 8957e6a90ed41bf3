"""An NVML sampler: GPU utilisation, memory, power, energy, SM clock, temperature and
throttle reasons during the region, summarised into ``gpu_*`` columns plus a time series.

Memory used and utilisation are the whole device's (every process on it), as NVML sees
them; the backend's own peak allocation is ``peak_gpu_mem_mb``. No GPU, no NVML library
(``NVMLError_LibraryNotFound``) or no nvidia-ml-py: null columns and the reason.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from types import ModuleType
from typing import Any, ClassVar

from agent.probes.base import Probe, ProbeJob, ProbeResult, ProbeUnavailable, Sampler, cuda_index, format_reasons, is_cuda

DEFAULT_INTERVAL_S = 0.05
# NVML's clocks-event (throttle) reason bits, named for the column
THROTTLE_REASONS: tuple[tuple[int, str], ...] = (
    (0x1, "gpu_idle"), (0x2, "applications_clocks"), (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"), (0x10, "sync_boost"), (0x20, "sw_thermal"), (0x40, "hw_thermal"),
    (0x80, "hw_power_brake"), (0x100, "display_clocks"), (0x200, "board_limit"),
    (0x400, "reliability"),
)
NVML_COLUMNS: tuple[str, ...] = (
    "gpu_util_mean_pct", "gpu_util_max_pct", "gpu_mem_util_mean_pct", "gpu_mem_peak_mb",
    "gpu_power_mean_w", "gpu_power_max_w", "gpu_energy_j", "gpu_sm_clock_mean_mhz",
    "gpu_temp_max_c", "gpu_throttle_reasons", "gpu_sample_count",
)


@dataclass(frozen=True)
class GpuSample:
    t_s: float
    util_pct: float | None = None
    mem_util_pct: float | None = None
    mem_used_mb: float | None = None
    power_w: float | None = None
    sm_clock_mhz: float | None = None
    temp_c: float | None = None
    throttle_mask: int | None = None


def throttle_names(mask: int) -> list[str]:
    """Names of the reason bits set in ``mask``, unknown bits as hex."""
    names = [name for bit, name in THROTTLE_REASONS if mask & bit]
    unknown = mask & ~sum(bit for bit, _ in THROTTLE_REASONS)
    return names + ([hex(unknown)] if unknown else [])


def _values(samples: Sequence[GpuSample], field: str) -> list[float]:
    return [v for s in samples if (v := getattr(s, field)) is not None]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _integrate_power_j(samples: Sequence[GpuSample]) -> float | None:
    """Trapezoidal energy from power samples, J (None with fewer than two)."""
    points = [(s.t_s, s.power_w) for s in samples if s.power_w is not None]
    if len(points) < 2:
        return None
    return sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(points, points[1:]))


def summarize_gpu_samples(samples: Sequence[GpuSample], energy_start_mj: float | None = None,
                          energy_end_mj: float | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The ``gpu_*`` columns of a sample stream, and why any is null.

    Energy is the delta of NVML's total-energy counter (mJ since the driver loaded) where
    the device has one (Volta and newer), else the power samples integrated over time.
    """
    util, power = _values(samples, "util_pct"), _values(samples, "power_w")
    mem, clock, temp = _values(samples, "mem_used_mb"), _values(samples, "sm_clock_mhz"), _values(samples, "temp_c")
    masks = [s.throttle_mask for s in samples if s.throttle_mask is not None]
    if energy_start_mj is not None and energy_end_mj is not None:
        energy = (energy_end_mj - energy_start_mj) / 1000
    else:
        energy = _integrate_power_j(samples)
    mask = 0
    for m in masks:
        mask |= m
    columns: dict[str, Any] = {
        "gpu_util_mean_pct": _mean(util),
        "gpu_util_max_pct": max(util, default=None),
        "gpu_mem_util_mean_pct": _mean(_values(samples, "mem_util_pct")),
        "gpu_mem_peak_mb": max(mem, default=None),
        "gpu_power_mean_w": _mean(power),
        "gpu_power_max_w": max(power, default=None),
        "gpu_energy_j": energy,
        "gpu_sm_clock_mean_mhz": _mean(clock),
        "gpu_temp_max_c": max(temp, default=None),
        "gpu_throttle_reasons": (",".join(throttle_names(mask)) or "none") if masks else None,
        "gpu_sample_count": len(samples),
    }
    reasons = {c: "no sample had a value" for c, v in columns.items() if v is None}
    if columns["gpu_energy_j"] is None:
        reasons["gpu_energy_j"] = "no energy counter and fewer than two power samples"
    return columns, reasons


def gpu_time_series(samples: Sequence[GpuSample], interval_s: float) -> dict[str, Any]:
    """Columnar time series for the side file: one list a field."""
    series: dict[str, Any] = {"interval_s": interval_s}
    for f in fields(GpuSample):
        series[f.name] = [getattr(s, f.name) for s in samples]
    return series


def nvml_index_for_cuda(cuda_index: int = 0, env: Mapping[str, str] = os.environ) -> int | str:
    """NVML's index (or UUID) of CUDA device ``cuda_index``, through CUDA_VISIBLE_DEVICES.

    Assumes ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (NVML's order) where several GPUs are visible.
    """
    visible = [v.strip() for v in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if not visible or cuda_index >= len(visible):
        return cuda_index
    entry = visible[cuda_index]
    return int(entry) if entry.isdigit() else entry


def _import_pynvml() -> ModuleType:
    try:
        import pynvml
    except ImportError as exc:
        raise ProbeUnavailable(f"nvidia-ml-py is not installed ({exc})") from None
    return pynvml


class NvmlProbe(Probe):
    """Samples one GPU every ``interval_s`` on a thread, plus once at start and at stop."""

    name: ClassVar[str] = "nvml"
    columns: ClassVar[tuple[str, ...]] = NVML_COLUMNS

    @classmethod
    def why_not(cls, job: ProbeJob) -> str | None:
        return None if is_cuda(job.device) else "not a CUDA device"

    @classmethod
    def for_job(cls, job: ProbeJob) -> NvmlProbe:
        return cls(nvml_index_for_cuda(cuda_index(job.device)), job.telemetry.nvml_interval_s)

    def __init__(self, device_index: int | str = 0, interval_s: float = DEFAULT_INTERVAL_S,
                 nvml: ModuleType | None = None) -> None:
        super().__init__()
        self.device_index = device_index
        self.interval_s = interval_s
        self._nvml = nvml
        self._handle: Any = None
        self._samples: list[GpuSample] = []
        self._lock = threading.Lock()
        self._unsupported: dict[str, str] = {}
        self._energy_start: float | None = None
        self._sampler: Sampler | None = None

    def _start(self) -> None:
        nvml = self._nvml = self._nvml or _import_pynvml()
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            raise ProbeUnavailable(f"NVML: {exc}") from None
        try:
            if isinstance(self.device_index, str):
                self._handle = nvml.nvmlDeviceGetHandleByUUID(self.device_index)
            else:
                self._handle = nvml.nvmlDeviceGetHandleByIndex(self.device_index)
        except nvml.NVMLError as exc:
            nvml.nvmlShutdown()
            raise ProbeUnavailable(f"NVML: no GPU {self.device_index!r}: {exc}") from None
        self._samples, self._unsupported = [], {}
        self._sampler = Sampler(self._take, self.interval_s, "edgeprune-nvml")
        self._energy_start = self._read("energy", nvml.nvmlDeviceGetTotalEnergyConsumption)
        self._take(0.0)
        self._sampler.start()

    def _read(self, field: str, getter: Callable[[Any], Any]) -> Any:
        """One NVML query; a field the device does not support is None, its reason kept."""
        assert self._nvml is not None
        try:
            return getter(self._handle)
        except self._nvml.NVMLError as exc:
            self._unsupported.setdefault(field, str(exc))
            return None

    def _take(self, t_s: float) -> None:
        nvml = self._nvml
        assert nvml is not None
        rates = self._read("utilization", nvml.nvmlDeviceGetUtilizationRates)
        memory = self._read("memory", nvml.nvmlDeviceGetMemoryInfo)
        power_mw = self._read("power", nvml.nvmlDeviceGetPowerUsage)
        throttle = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            nvml.nvmlDeviceGetCurrentClocksThrottleReasons  # the older name (nvidia-ml-py < 12.535)
        clock = self._read("sm_clock", lambda h: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM))
        temp = self._read("temperature", lambda h: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU))
        sample = GpuSample(
            t_s=t_s,
            util_pct=None if rates is None else float(rates.gpu),
            mem_util_pct=None if rates is None else float(rates.memory),
            mem_used_mb=None if memory is None else memory.used / 2**20,
            power_w=None if power_mw is None else power_mw / 1000,
            sm_clock_mhz=None if clock is None else float(clock),
            temp_c=None if temp is None else float(temp),
            throttle_mask=self._read("throttle_reasons", throttle),
        )
        with self._lock:
            self._samples.append(sample)

    def _stop(self) -> ProbeResult:
        nvml, sampler = self._nvml, self._sampler
        assert nvml is not None and sampler is not None
        try:
            sampler.stop()
            self._take(sampler.now())
            energy_end = self._read("energy", nvml.nvmlDeviceGetTotalEnergyConsumption)
        finally:
            self._cleanup()
        with self._lock:
            samples = list(self._samples)
        columns, reasons = summarize_gpu_samples(samples, self._energy_start, energy_end)
        notes = [format_reasons(reasons)]
        notes += [f"nvml {k}: {v}" for k, v in self._unsupported.items() if k != "energy"]
        notes.append(sampler.error and f"sampler: {sampler.error}")
        error = "; ".join(n for n in notes if n) or None
        return ProbeResult(columns, error, side=gpu_time_series(samples, self.interval_s))

    def _cleanup(self) -> None:
        if self._sampler is not None:
            self._sampler.stop()
        if self._handle is not None and self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                pass
            self._handle = None
