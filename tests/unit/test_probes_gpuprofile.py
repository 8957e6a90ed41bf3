"""Choosing a kernel-level profiler the device supports, and summarising kernels."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.probes.gpuprofile import (
    GPUPROFILE_COLUMNS,
    Choice,
    GpuProfileProbe,
    choose_profiler,
    classify,
    device_records,
    summarize_kernels,
)
from agent.probes.gpuprofilers import EXTERNAL_PROFILERS, ProfilerOptions
from shared.errors import UserError


def installed(*tools: str):  # noqa: ANN201 - a which() stand-in
    return lambda name: f"/usr/local/cuda/bin/{name}" if name in tools else None


def test_p40_gets_nvprof_where_installed() -> None:
    choice = choose_profiler((6, 1), which=installed("nvprof", "nsys"))
    assert choice.name == "nvprof" and "6.1 < 7.5" in choice.reason


def test_p40_without_nvprof_falls_back_to_nsys_then_torch_profiler() -> None:
    assert choose_profiler((6, 1), which=installed("nsys")).name == "nsys"
    assert choose_profiler((6, 1), which=installed()).name == "torch_profiler"
    assert choose_profiler((5, 2), which=installed("nsys", "ncu")).name == "torch_profiler"  # Maxwell


def test_rtx_3060_never_gets_nvprof() -> None:
    assert choose_profiler((8, 6), which=installed("nvprof", "nsys", "ncu")).name == "nsys"
    fallback = choose_profiler((8, 6), which=installed("nvprof"))
    assert fallback.name == "torch_profiler" and "nvprof does not support it" in fallback.reason
    assert choose_profiler((7, 5), which=installed("nvprof")).name == "torch_profiler"  # the boundary


def test_ncu_is_used_only_when_the_sweep_asks_for_it() -> None:
    """Nsight Compute replays and serialises kernels: never the automatic choice."""
    h200 = installed("ncu")  # what the lead's H200 has: ncu, no nsys, no nvprof
    assert choose_profiler((9, 0), which=h200).name == "torch_profiler"
    asked = choose_profiler((9, 0), which=h200, wanted="ncu")
    assert asked.name == "ncu" and asked.external and "asks for Nsight Compute" in asked.reason


def test_a_tool_asked_for_but_unusable_falls_back_and_says_why() -> None:
    pascal = choose_profiler((6, 1), which=installed("ncu", "nvprof"), wanted="ncu")
    assert pascal.name == "nvprof"
    assert pascal.reason.startswith("Nsight Compute was asked for but does not support compute capability 6.1")
    missing = choose_profiler((9, 0), which=installed(), wanted="nsys")
    assert missing.name == "torch_profiler" and "Nsight Systems was asked for but is not installed" in missing.reason
    assert choose_profiler((9, 0), which=installed("nsys"), wanted="torch_profiler").name == "torch_profiler"


def test_no_gpu_means_no_profiler() -> None:
    assert choose_profiler(None, which=installed("nvprof", "nsys")) == \
        Choice("none", "no CUDA GPU: nothing to profile at kernel level")


def test_each_tool_captures_only_the_marked_range(tmp_path: Path) -> None:
    stem, options = tmp_path / "trial", ProfilerOptions(ncu_launch_count=50)
    nsys = EXTERNAL_PROFILERS.get("nsys")().argv(stem, options)
    assert nsys[:2] == ["nsys", "profile"] and "--capture-range=cudaProfilerApi" in nsys
    assert "--capture-range-end=stop" in nsys  # not stop-shutdown: the target exits by itself
    nvprof = EXTERNAL_PROFILERS.get("nvprof")().argv(stem, options)
    assert nvprof[:3] == ["nvprof", "--profile-from-start", "off"] and "--csv" in nvprof
    ncu = EXTERNAL_PROFILERS.get("ncu")().argv(stem, options)
    assert ncu[:3] == ["ncu", "--profile-from-start", "off"]
    for flag, value in (("--launch-count", "50"), ("--clock-control", "none"), ("--target-processes", "all"),
                        ("--page", "raw")):
        assert ncu[ncu.index(flag) + 1] == value
    assert "gpu__time_duration.sum" in ncu[ncu.index("--metrics") + 1] and "--csv" in ncu


def test_support_rules_follow_nvidias_tables() -> None:
    rules = {name: EXTERNAL_PROFILERS.get(name).supports for name in EXTERNAL_PROFILERS}
    assert [rules["nvprof"](cc) for cc in ((5, 2), (7, 0), (7, 5), (9, 0))] == [True, True, False, False]
    assert [rules["nsys"](cc) for cc in ((5, 2), (6, 0), (9, 0))] == [False, True, True]
    assert [rules["ncu"](cc) for cc in ((6, 1), (7, 0), (9, 0))] == [False, True, True]
    with pytest.raises(UserError, match="unknown GPU profiler 'nvvp'"):
        EXTERNAL_PROFILERS.get("nvvp")


def test_kernels_are_summed_counted_and_tabled() -> None:
    records = [("kernel", "sgemm", 100.0), ("kernel", "sgemm", 300.0), ("kernel", "relu", 100.0),
               ("memcpy", "Memcpy HtoD (Pageable -> Device)", 50.0)]
    columns, side = summarize_kernels(records, top=1)
    assert columns == {"gpu_kernel_time_ms": 0.5, "gpu_kernel_count": 3,
                       "gpu_memcpy_time_ms": 0.05, "gpu_memcpy_count": 1}
    assert side["kernels"] == [{"name": "sgemm", "count": 2, "total_ms": 0.4, "mean_us": 200.0,
                                "max_us": 300.0, "share_pct": 80.0}]
    assert side["kernels_omitted"] == 1 and side["distinct_kernels"] == 2
    assert summarize_kernels([])[0]["gpu_kernel_count"] == 0


def test_device_events_are_told_apart_from_host_events_and_annotations() -> None:
    def event(device: str, name: str, activity: str | None, us: float) -> SimpleNamespace:
        return SimpleNamespace(device_type=f"DeviceType.{device}", name=name, activity_type=activity,
                               time_range=SimpleNamespace(elapsed_us=lambda: us))

    events = [event("CPU", "aten::conv2d", "cpu_op", 900), event("CUDA", "implicit_gemm", "kernel", 120),
              event("CUDA", "Memset (Device)", "gpu_memset", 3),
              event("CUDA", "ProfilerStep", "gpu_user_annotation", 999),
              event("CUDA", "Memcpy DtoH", None, 8), event("CUDA", "Context Sync", None, 5)]
    assert device_records(events) == [("kernel", "implicit_gemm", 120.0), ("memcpy", "Memset (Device)", 3.0),
                                      ("memcpy", "Memcpy DtoH", 8.0)]
    assert classify(None, "volta_sgemm_128x64_nn") == "kernel"


def test_importing_the_probes_and_the_fingerprint_does_not_import_torch() -> None:
    code = ("import sys, agent.probes, agent.fingerprint, agent.machine, agent.commands.info; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0


def test_without_a_gpu_the_probe_gives_nulls_and_the_reason() -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: covered by the gpu-marked test")
    probe = GpuProfileProbe()
    probe.start()
    result = probe.stop()
    assert result.columns == dict.fromkeys(GPUPROFILE_COLUMNS)
    assert result.error == "no CUDA GPU (torch.cuda.is_available() is False)"


@pytest.mark.gpu
def test_a_real_gpu_profile_counts_the_kernels_of_the_region() -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed")
    if not torch.cuda.is_available():
        pytest.skip("no GPU")
    a = torch.randn(512, 512, device="cuda")
    probe = GpuProfileProbe()
    probe.start()
    for _ in range(5):
        a = torch.relu(a @ a) / 512
    result = probe.stop()
    assert result.error is None, result.error
    assert result.columns["gpu_kernel_count"] >= 10 and result.columns["gpu_kernel_time_ms"] > 0
    assert result.columns["gpu_profiler"] == "torch_profiler" and result.side["kernels"]


def test_a_tool_that_wrote_no_table_says_so(tmp_path: Path) -> None:
    """ncu's log with its notices but no kernels (the H200 capture's first lines): a reason."""
    capture = (Path(__file__).parents[1] / "fixtures" / "gpuprofilers" / "ncu_2025.3_h200_raw_logfile.csv")
    (tmp_path / "p.ncu.csv").write_text("\n".join(capture.read_text().splitlines()[:3]))
    ncu = EXTERNAL_PROFILERS.get("ncu")()
    with pytest.raises(ValueError, match="no table header found"):
        ncu.collect(tmp_path / "p", 10.0)
    with pytest.raises(ValueError, match="the profiler wrote no q.ncu.csv"):
        ncu.collect(tmp_path / "q", 10.0)
    assert ncu.said(tmp_path / "p") is None
