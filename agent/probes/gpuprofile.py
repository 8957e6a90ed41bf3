"""Kernel-level GPU profile of the region, with a profiler the device supports.

:func:`choose_profiler` picks the tool (telemetry.gpu_profiler ``auto``): nvprof where the
GPU's compute capability supports it (< 7.5) and it is installed, else Nsight Systems where
installed, else CUPTI through ``torch.profiler``. Nsight Compute only when the sweep names
it: it replays and serialises every kernel. The external tools (the registry in
:mod:`agent.probes.gpuprofilers`) must start the process they profile; the worker runs
them on a child of their own (:mod:`agent.probes.external_profile`). ``torch.profiler``
runs in the worker, as :class:`GpuProfileProbe`. Tracing adds a few microseconds a kernel
launch: the profile is a pass of its own, never the timed one. torch is imported only when
the probe starts.
"""
from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from agent.probes.base import Probe, ProbeJob, ProbeResult, ProbeUnavailable, is_cuda
from agent.probes.gpuprofile_parse import KernelAgg, kind_of
from agent.probes.gpuprofilers import EXTERNAL_PROFILERS

GPUPROFILE_COLUMNS: tuple[str, ...] = (
    "gpu_kernel_time_ms", "gpu_kernel_count", "gpu_memcpy_time_ms", "gpu_memcpy_count",
    "gpu_profiler",
)
TOP_KERNELS = 30
AUTO_ORDER = ("nvprof", "nsys")  # ncu is never chosen for you: it serialises kernels


@dataclass(frozen=True)
class Choice:
    name: str  # nvprof | nsys | ncu | torch_profiler | none
    reason: str

    @property
    def external(self) -> bool:
        return self.name in EXTERNAL_PROFILERS.names()


def choose_profiler(compute_capability: tuple[int, int] | None,
                    which: Callable[[str], str | None] = shutil.which, wanted: str = "auto") -> Choice:
    """The kernel-level profiler for a device of this compute capability (None: no GPU);
    ``wanted`` is the sweep's telemetry.gpu_profiler. A tool asked for that this GPU or
    host cannot use falls back to the automatic choice, and the reason says so."""
    if compute_capability is None:
        return Choice("none", "no CUDA GPU: nothing to profile at kernel level")
    cc = (int(compute_capability[0]), int(compute_capability[1]))
    label = f"compute capability {cc[0]}.{cc[1]}"
    if wanted == "torch_profiler":
        return Choice("torch_profiler", "telemetry.gpu_profiler asks for torch.profiler")
    note = ""
    if wanted in EXTERNAL_PROFILERS.names():
        tool = EXTERNAL_PROFILERS.get(wanted)
        if tool.supports(cc) and which(tool.binary):
            return Choice(wanted, f"{label}: telemetry.gpu_profiler asks for {tool.title}, installed")
        why = "is not installed" if tool.supports(cc) else f"does not support {label}"
        note = f"{tool.title} was asked for but {why}; "
    return _automatic(cc, label, which, note)


def _automatic(cc: tuple[int, int], label: str, which: Callable[[str], str | None], note: str) -> Choice:
    unusable = []
    for name in AUTO_ORDER:
        tool = EXTERNAL_PROFILERS.get(name)
        if not tool.supports(cc):
            unusable.append(f"{tool.title} does not support it" if name != "nvprof"
                            else "nvprof does not support it (>= 7.5)")
        elif which(tool.binary):
            bound = " < 7.5: nvprof supports it" if name == "nvprof" else f": {'; '.join(unusable) or 'supported'}"
            return Choice(name, f"{note}{label}{bound}; {tool.title} is installed")
        else:
            unusable.append(f"{tool.title} (which would support it) is not installed")
    return Choice("torch_profiler", f"{note}{label}: {'; '.join(unusable)}: CUPTI through torch.profiler")


# ------------------------------------------------------------------------- summarising

@dataclass(frozen=True)
class KernelStat:
    name: str
    count: int
    total_ms: float
    mean_us: float
    max_us: float | None  # None where the tool gives no maximum
    share_pct: float


def classify(activity_type: str | None, name: str) -> str | None:
    """kernel | memcpy | None (not device work: annotations, syncs)."""
    if activity_type in ("gpu_memcpy", "gpu_memset"):
        return "memcpy"
    if activity_type == "kernel":
        return "kernel"
    if activity_type is not None or name == "Context Sync":
        return None
    return "memcpy" if name.startswith(("Memcpy", "Memset")) else kind_of(name)


def summarize_kernels(records: Iterable[tuple[str, str, float]],
                      top: int = TOP_KERNELS) -> tuple[dict[str, Any], dict[str, Any]]:
    """Columns and a per-kernel table from (kind, name, duration_us) device records."""
    per_name: dict[tuple[str, str], list[float]] = {}
    for kind, name, duration_us in records:
        per_name.setdefault((kind, name), []).append(duration_us)
    return summarize_aggregates([KernelAgg(k, n, len(d), sum(d), max(d)) for (k, n), d in per_name.items()], top)


def summarize_aggregates(aggregates: Iterable[KernelAgg],
                         top: int = TOP_KERNELS) -> tuple[dict[str, Any], dict[str, Any]]:
    """Columns and a per-kernel table from per-name totals (what the external tools print)."""
    aggregates = list(aggregates)
    kernels = [a for a in aggregates if a.kind == "kernel"]
    copies = [a for a in aggregates if a.kind == "memcpy"]
    total_us = sum(a.total_us for a in kernels)
    table = sorted((KernelStat(a.name, a.count, a.total_us / 1000, a.total_us / a.count if a.count else 0.0,
                               a.max_us, 100 * a.total_us / total_us if total_us else 0.0)
                    for a in kernels), key=lambda k: -k.total_ms)
    columns = {
        "gpu_kernel_time_ms": total_us / 1000, "gpu_kernel_count": sum(a.count for a in kernels),
        "gpu_memcpy_time_ms": sum(a.total_us for a in copies) / 1000,
        "gpu_memcpy_count": sum(a.count for a in copies),
    }
    side = {"kernels": [asdict(k) for k in table[:top]],
            "kernels_omitted": max(0, len(table) - top), "distinct_kernels": len(table)}
    return columns, side


def device_records(events: Iterable[Any]) -> list[tuple[str, str, float]]:
    """(kind, name, duration_us) of the device events among torch.profiler's events."""
    records = []
    for event in events:
        if str(getattr(event, "device_type", "")).rsplit(".", 1)[-1] != "CUDA":
            continue
        kind = classify(getattr(event, "activity_type", None), event.name)
        if kind is not None:
            records.append((kind, event.name, float(event.time_range.elapsed_us())))
    return records


# ------------------------------------------------------------------------- the probe

def device_capability(cuda_index: int) -> tuple[int, int]:
    """Compute capability of a CUDA device: from torch where the worker has it, else NVML
    (an onnxruntime worker never imports torch)."""
    if "torch" in sys.modules:
        import torch

        return tuple(torch.cuda.get_device_capability(cuda_index))  # type: ignore[return-value]
    from agent.probes.nvml import _import_pynvml, nvml_index_for_cuda

    nvml = _import_pynvml()
    nvml.nvmlInit()
    try:
        index = nvml_index_for_cuda(cuda_index)
        handle = (nvml.nvmlDeviceGetHandleByUUID(index) if isinstance(index, str)
                  else nvml.nvmlDeviceGetHandleByIndex(index))
        return tuple(nvml.nvmlDeviceGetCudaComputeCapability(handle))  # type: ignore[return-value]
    finally:
        nvml.nvmlShutdown()


# ------------------------------------------------------------------------- the in-process probe

class GpuProfileProbe(Probe):
    """Kernel time and count of the region on one CUDA device, with a per-kernel table, by
    CUPTI through ``torch.profiler`` (where no external profiler is chosen)."""

    name: ClassVar[str] = "gpuprofile"
    columns: ClassVar[tuple[str, ...]] = GPUPROFILE_COLUMNS
    around_timed_region: ClassVar[bool] = False  # tracing slows launches: a pass of its own

    @classmethod
    def why_not(cls, job: ProbeJob) -> str | None:
        if not job.telemetry.gpu_profile:
            return "telemetry.gpu_profile is off"
        if not is_cuda(job.device):
            return "not a CUDA device"
        return None

    def __init__(self, device_index: int = 0, top_kernels: int = TOP_KERNELS,
                 choice: Choice | None = None) -> None:
        super().__init__()
        self.device_index = device_index
        self.top_kernels = top_kernels
        self.choice = choice
        self._torch: Any = None
        self._profile: Any = None

    def _start(self) -> None:
        import torch  # lazily: only a GPU worker that asks for a kernel profile pays for it

        if not torch.cuda.is_available():
            raise ProbeUnavailable("no CUDA GPU (torch.cuda.is_available() is False)")
        self._torch = torch
        torch.cuda.synchronize(self.device_index)  # earlier work stays out of the profile
        from torch.profiler import ProfilerActivity, profile

        self._profile = profile(activities=[ProfilerActivity.CUDA])
        self._profile.start()

    def _stop(self) -> ProbeResult:
        self._torch.cuda.synchronize(self.device_index)  # every kernel of the region has finished
        profile, self._profile = self._profile, None
        profile.stop()
        columns, table = summarize_kernels(device_records(profile.events()), self.top_kernels)
        side = {"choice": asdict(self.choice) if self.choice else None, "profiler": "torch_profiler", **table}
        return ProbeResult({**columns, "gpu_profiler": "torch_profiler"}, None, side)

    def _cleanup(self) -> None:
        if self._profile is not None:
            try:
                self._profile.stop()
            except Exception:  # noqa: BLE001 - already failing; keep the first reason
                pass
            self._profile = None
