"""Kernel-level GPU profile of the region, with a profiler the device supports.

:func:`choose_profiler` picks the tool by compute capability: nvprof only below 7.5 (it
does not support Turing and newer, the seed study's mistake was to run it there anyway),
Nsight Systems or Nsight Compute where installed, else CUPTI through ``torch.profiler``.

The external tools must start the process they profile, so they suit a whole command
(:func:`external_profiler_prefix`); a worker forked from a running agent is profiled in
process by :class:`GpuProfileProbe` with ``torch.profiler``. Tracing adds a few
microseconds a kernel launch: run this probe in a profiled pass of its own where the
latency of the same region matters. torch is imported only when the probe starts.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from agent.probes.base import PROBES, Probe, ProbeResult, ProbeUnavailable

NVPROF_LAST_UNSUPPORTED = (7, 5)  # nvprof: compute capability 7.5 and newer unsupported
NSYS_MIN_CC = (6, 0)  # Nsight Systems traces CUDA from Pascal on
NCU_MIN_CC = (7, 0)  # Nsight Compute profiles Volta and newer
GPUPROFILE_COLUMNS: tuple[str, ...] = (
    "gpu_kernel_time_ms", "gpu_kernel_count", "gpu_memcpy_time_ms", "gpu_memcpy_count",
    "gpu_profiler",
)
TOP_KERNELS = 30


@dataclass(frozen=True)
class Choice:
    name: str  # nvprof | nsys | ncu | torch_profiler | none
    reason: str


def choose_profiler(compute_capability: tuple[int, int] | None,
                    which: Callable[[str], str | None] = shutil.which) -> Choice:
    """The kernel-level profiler for a device of this compute capability (None: no GPU)."""
    if compute_capability is None:
        return Choice("none", "no CUDA GPU: nothing to profile at kernel level")
    cc = tuple(compute_capability)
    label = f"compute capability {cc[0]}.{cc[1]}"
    if cc < NVPROF_LAST_UNSUPPORTED:
        if which("nvprof"):
            return Choice("nvprof", f"{label} < 7.5: nvprof supports it and is installed")
        if cc >= NSYS_MIN_CC and which("nsys"):
            return Choice("nsys", f"{label}: nvprof is not installed, Nsight Systems is")
        return Choice("torch_profiler", f"{label}: nvprof (which would support it) is not "
                                        "installed: CUPTI through torch.profiler")
    for tool, title in (("nsys", "Nsight Systems"), ("ncu", "Nsight Compute")):
        if which(tool):
            return Choice(tool, f"{label} >= 7.5: nvprof does not support it; {title} is installed")
    return Choice("torch_profiler", f"{label} >= 7.5: nvprof does not support it and neither "
                                    "nsys nor ncu is installed: CUPTI through torch.profiler")


def external_profiler_prefix(choice: Choice, out_stem: Path) -> list[str] | None:
    """argv prefix that runs a command under ``choice``'s tool, capturing only between
    cudaProfilerStart and cudaProfilerStop (what :class:`GpuProfileProbe` calls when
    given ``external=choice.name``); None for torch_profiler and none."""
    if choice.name == "nvprof":
        return ["nvprof", "--profile-from-start", "off", "--print-gpu-summary", "--csv",
                "--log-file", f"{out_stem}.nvprof.csv"]
    if choice.name == "nsys":
        return ["nsys", "profile", "--trace=cuda", "--capture-range=cudaProfilerApi",
                "--capture-range-end=repeat", "--force-overwrite=true", "-o", str(out_stem)]
    if choice.name == "ncu":
        return ["ncu", "--profile-from-start", "off", "--csv", "--log-file", f"{out_stem}.ncu.csv"]
    return None


# ------------------------------------------------------------------------- summarising

@dataclass(frozen=True)
class KernelStat:
    name: str
    count: int
    total_ms: float
    mean_us: float
    max_us: float
    share_pct: float


def classify(activity_type: str | None, name: str) -> str | None:
    """kernel | memcpy | None (not device work: annotations, syncs)."""
    if activity_type in ("gpu_memcpy", "gpu_memset"):
        return "memcpy"
    if activity_type == "kernel":
        return "kernel"
    if activity_type is not None or name == "Context Sync":
        return None
    return "memcpy" if name.startswith(("Memcpy", "Memset")) else "kernel"


def summarize_kernels(records: Iterable[tuple[str, str, float]],
                      top: int = TOP_KERNELS) -> tuple[dict[str, Any], dict[str, Any]]:
    """Columns and a per-kernel table from (kind, name, duration_us) device records."""
    per_name: dict[str, list[float]] = {}
    time_us = {"kernel": 0.0, "memcpy": 0.0}
    count = {"kernel": 0, "memcpy": 0}
    for kind, name, duration_us in records:
        time_us[kind] += duration_us
        count[kind] += 1
        if kind == "kernel":
            per_name.setdefault(name, []).append(duration_us)
    total = time_us["kernel"]
    table = sorted((KernelStat(name, len(d), sum(d) / 1000, sum(d) / len(d), max(d),
                               100 * sum(d) / total if total else 0.0)
                    for name, d in per_name.items()), key=lambda k: -k.total_ms)
    columns = {
        "gpu_kernel_time_ms": total / 1000, "gpu_kernel_count": count["kernel"],
        "gpu_memcpy_time_ms": time_us["memcpy"] / 1000, "gpu_memcpy_count": count["memcpy"],
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

@PROBES.register("gpuprofile")
class GpuProfileProbe(Probe):
    """Kernel time and count of the region on one CUDA device, with a per-kernel table.

    ``external``: the process runs under :func:`external_profiler_prefix` for that tool;
    the probe then only marks the region (cudaProfilerStart/Stop) and the kernel table is
    the tool's output file.
    """

    name: ClassVar[str] = "gpuprofile"
    columns: ClassVar[tuple[str, ...]] = GPUPROFILE_COLUMNS

    def __init__(self, device_index: int = 0, top_kernels: int = TOP_KERNELS,
                 external: str | None = None) -> None:
        super().__init__()
        self.device_index = device_index
        self.top_kernels = top_kernels
        self.external = external
        self._torch: Any = None
        self._profile: Any = None
        self._choice: Choice | None = None

    def _start(self) -> None:
        import torch  # lazily: only a GPU worker that asks for a kernel profile pays for it

        if not torch.cuda.is_available():
            raise ProbeUnavailable("no CUDA GPU (torch.cuda.is_available() is False)")
        self._torch = torch
        self._choice = choose_profiler(torch.cuda.get_device_capability(self.device_index))
        torch.cuda.synchronize(self.device_index)  # earlier work stays out of the profile
        if self.external:
            torch.cuda.profiler.start()
            return
        from torch.profiler import ProfilerActivity, profile

        self._profile = profile(activities=[ProfilerActivity.CUDA])
        self._profile.start()

    def _stop(self) -> ProbeResult:
        torch = self._torch
        torch.cuda.synchronize(self.device_index)  # every kernel of the region has finished
        side: dict[str, Any] = {"choice": asdict(self._choice) if self._choice else None}
        if self.external:
            torch.cuda.profiler.stop()
            return ProbeResult({**dict.fromkeys(self.columns), "gpu_profiler": self.external},
                               f"kernel profile written by {self.external}, not parsed here", side)
        profile, self._profile = self._profile, None
        profile.stop()
        columns, table = summarize_kernels(device_records(profile.events()), self.top_kernels)
        return ProbeResult({**columns, "gpu_profiler": "torch_profiler"}, None,
                           {**side, "profiler": "torch_profiler", **table})

    def _cleanup(self) -> None:
        if self._profile is not None:
            try:
                self._profile.stop()
            except Exception:  # noqa: BLE001 - already failing; keep the first reason
                pass
            self._profile = None
