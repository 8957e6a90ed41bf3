"""The external GPU profilers: one small ABC, one registry (nvprof, nsys, ncu).

An external profiler must start the process it profiles, so each one is an argv prefix
put in front of the profile target (``python -m agent.profile_target``), which marks its
forward passes with cudaProfilerStart/Stop; each tool captures only that range. After
the target exits, :meth:`ExternalProfiler.collect` turns the tool's files into
:class:`~agent.probes.gpuprofile_parse.KernelAgg` rows (running ``nsys stats`` first for
Nsight Systems).

Which GPUs each supports (``supports(cc)``): nvprof below compute capability 7.5 (it
refuses Turing and newer, the seed study's mistake was to run it there anyway), Nsight
Systems from Pascal (6.0), Nsight Compute from Volta (7.0).
"""
from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from agent.probes.gpuprofile_parse import (
    NCU_DURATION,
    NCU_THROUGHPUT,
    REPORT_KINDS,
    KernelAgg,
    ProfileParseError,
    nsys_aggregates,
    nsys_table,
    parse_ncu,
    parse_nvprof,
)
from shared import catalog
from shared.registry import Registry

NSYS_REPORTS = ("cuda_gpu_kern_sum", "cuda_api_sum", "cuda_gpu_mem_time_sum")
NSYS_REPORTS_2021 = ("gpukernsum", "cudaapisum", "gpumemtimesum")  # the names before 2023
TOP_API_CALLS = 10
ERROR_MARKS = ("==ERROR==", "======== Error")  # ncu's and nvprof's error lines


@dataclass(frozen=True)
class ProfilerOptions:
    ncu_launch_count: int = 200


@dataclass
class Collected:
    """What one profiler run yielded: kernels and memory operations, side detail, and why
    some columns stay null (``missing``: column -> reason)."""

    aggregates: list[KernelAgg]
    side: dict[str, Any] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


class ExternalProfiler(ABC):
    name: ClassVar[str]
    binary: ClassVar[str]  # looked up on PATH
    title: ClassVar[str]

    @staticmethod
    @abstractmethod
    def supports(cc: tuple[int, int]) -> bool:
        """Whether the tool can profile a GPU of this compute capability."""

    @abstractmethod
    def argv(self, out_stem: Path, options: ProfilerOptions) -> list[str]:
        """The prefix that runs a command under the tool, writing beside ``out_stem``."""

    @abstractmethod
    def collect(self, out_stem: Path, timeout_s: float) -> Collected:
        """Read (and, if need be, post-process) what the tool wrote; raises
        ProfileParseError or OSError with the reason."""

    def logs(self, out_stem: Path) -> tuple[Path, ...]:
        """Where the tool writes its own messages besides stdout (``--log-file``)."""
        return ()

    def said(self, out_stem: Path) -> str | None:
        """The tool's first error line in its log files, if any (why it exited non-zero)."""
        for log in self.logs(out_stem):
            if log.is_file():
                with open(log, errors="replace") as f:
                    for line in itertools.islice(f, 10_000):  # the errors come first
                        if line.startswith(ERROR_MARKS):
                            return line.strip()[:300]
        return None


EXTERNAL_PROFILERS: Registry[type[ExternalProfiler]] = Registry("GPU profiler", catalog.EXTERNAL_GPU_PROFILERS)


def run_in_group(argv: list[str], timeout_s: float, log: Path) -> str | None:
    """Run ``argv`` in a process group of its own, output to ``log``; None if it exited 0,
    else why not. Past ``timeout_s`` the whole group is killed: a profiler and the target it
    started, or ``nsys stats`` and its exporter, never outlive the trial's limit."""
    with open(log, "ab") as out:
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        except OSError as exc:
            return f"cannot start {argv[0]}: {exc.strerror or exc}"
        try:
            code = process.wait(timeout=max(timeout_s, 0.001))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return f"killed after {timeout_s:.0f} s (the time left in the trial's limit)"
    if code != 0:
        return f"exited with code {code}: {_last_line(log)}"
    return None


def _last_line(log: Path, window: int = 4096) -> str:
    """The log's last line (bounded: the target's own output lands in the same log)."""
    with open(log, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - window))
        lines = f.read().decode(errors="replace").strip().splitlines()
    return lines[-1][-300:] if lines else "no output"


def _parsed(parse: Callable[[str], Any], text: str) -> Any:
    """``parse(text)``; where it finds no table, the tool's own error line (``==ERROR==`` from
    ncu, ``======== Error:`` from nvprof: both exit 0 after some failures) says why."""
    try:
        return parse(text)
    except ProfileParseError:
        said = [line for line in text.splitlines() if line.startswith(ERROR_MARKS)]
        if said:
            raise ProfileParseError(said[0][:300]) from None
        raise


def _read(path: Path) -> str:
    if not path.is_file():
        raise ProfileParseError(f"the profiler wrote no {path.name}")
    return path.read_text(errors="replace")


@EXTERNAL_PROFILERS.register("nvprof")
class Nvprof(ExternalProfiler):
    name, binary, title = "nvprof", "nvprof", "nvprof"

    @staticmethod
    def supports(cc: tuple[int, int]) -> bool:
        return cc < (7, 5)

    def argv(self, out_stem: Path, options: ProfilerOptions) -> list[str]:
        return ["nvprof", "--profile-from-start", "off", "--print-gpu-summary", "--csv",
                "--log-file", f"{out_stem}.nvprof.csv"]

    def logs(self, out_stem: Path) -> tuple[Path, ...]:
        return (Path(f"{out_stem}.nvprof.csv"),)

    def collect(self, out_stem: Path, timeout_s: float) -> Collected:
        return Collected(_parsed(parse_nvprof, _read(Path(f"{out_stem}.nvprof.csv"))))


@EXTERNAL_PROFILERS.register("nsys")
class Nsys(ExternalProfiler):
    name, binary, title = "nsys", "nsys", "Nsight Systems"

    @staticmethod
    def supports(cc: tuple[int, int]) -> bool:
        return cc >= (6, 0)

    def argv(self, out_stem: Path, options: ProfilerOptions) -> list[str]:
        # stop (not the default stop-shutdown): the target finishes and exits by itself
        return ["nsys", "profile", "--trace=cuda", "--sample=none", "--cpuctxsw=none",
                "--capture-range=cudaProfilerApi", "--capture-range-end=stop",
                "--force-overwrite=true", "-o", str(out_stem)]

    def collect(self, out_stem: Path, timeout_s: float) -> Collected:
        report = next((p for p in (Path(f"{out_stem}.nsys-rep"), Path(f"{out_stem}.qdrep")) if p.is_file()), None)
        if report is None:
            raise ProfileParseError(f"nsys wrote no {out_stem.name}.nsys-rep (nor .qdrep)")
        texts = self._stats(report, out_stem, timeout_s)
        aggregates: list[KernelAgg] = []
        side: dict[str, Any] = {}
        for report_name, text in texts.items():
            kind = REPORT_KINDS[report_name]
            rows = nsys_table(text) if text.strip() else []
            if kind == "api":
                side["cuda_api"] = [{"name": r.get("Name"), "total_time": r.get(_total(r)),
                                     "unit": _total(r)} for r in rows[:TOP_API_CALLS]]
            else:
                aggregates += nsys_aggregates(rows, kind)
        return Collected(aggregates, side)

    def _stats(self, report: Path, out_stem: Path, timeout_s: float) -> dict[str, str]:
        """``nsys stats`` into one CSV a report; the 2021 report names if the new ones are unknown."""
        why = "no output"
        for names in (NSYS_REPORTS, NSYS_REPORTS_2021):
            prefix = f"{out_stem}.stats"
            why = run_in_group(["nsys", "stats", "--report", ",".join(names), "--format", "csv",
                                "--force-export=true", "--output", prefix, str(report)],
                               timeout_s, Path(f"{prefix}.log")) or why
            files = {n: Path(f"{prefix}_{n}.csv") for n in names}
            if any(p.is_file() for p in files.values()):
                return {n: p.read_text(errors="replace") for n, p in files.items() if p.is_file()}
        raise ProfileParseError(f"nsys stats wrote no report: {why}")


def _total(row: dict[str, str]) -> str:
    return next((k for k in row if k.replace(" ", "").lower().startswith("totaltime")), "")


@EXTERNAL_PROFILERS.register("ncu")
class Ncu(ExternalProfiler):
    """Replays each kernel (serialised, caches flushed) to count its metrics: durations are
    of kernels run alone, and only the first ``ncu_launch_count`` launches are profiled."""

    name, binary, title = "ncu", "ncu", "Nsight Compute"

    @staticmethod
    def supports(cc: tuple[int, int]) -> bool:
        return cc >= (7, 0)

    def argv(self, out_stem: Path, options: ProfilerOptions) -> list[str]:
        # clock-control none: the GPU's own clocks, as the timed pass ran at (ncu locks them
        # to base by default); raw page: one row a launch, with a units row
        return ["ncu", "--profile-from-start", "off", "--target-processes", "all", "--clock-control", "none",
                "--launch-count", str(options.ncu_launch_count),
                "--metrics", ",".join((NCU_DURATION, *NCU_THROUGHPUT)),
                "--csv", "--page", "raw", "--log-file", f"{out_stem}.ncu.csv"]

    def logs(self, out_stem: Path) -> tuple[Path, ...]:
        return (Path(f"{out_stem}.ncu.csv"),)

    def collect(self, out_stem: Path, timeout_s: float) -> Collected:
        aggregates, metrics = _parsed(parse_ncu, _read(Path(f"{out_stem}.ncu.csv")))
        why = "Nsight Compute profiles kernels only"
        return Collected(aggregates, {"ncu_metrics": metrics},
                         {"gpu_memcpy_time_ms": why, "gpu_memcpy_count": why})
