"""The external profilers' outputs, read from real captures (tests/fixtures/gpuprofilers)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.probes.gpuprofile import summarize_aggregates
from agent.probes.gpuprofile_parse import (
    NCU_THROUGHPUT,
    ProfileParseError,
    nsys_aggregates,
    nsys_table,
    parse_ncu,
    parse_nvprof,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "gpuprofilers"


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


def nsys_report(name: str) -> str:
    parts = re.split(r"^\[\d+/\d+\] Executing '(\w+)' stats report$", text("nsys_stats_column_a100.txt"), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))[name]


def test_nvprof_gpu_summary_converts_each_columns_own_unit() -> None:
    """``,%,s,,us,us,ms,``: the total is in s, the maximum in ms, on the same row."""
    aggs = parse_nvprof(text("nvprof_gpu_summary_csv_gtx.csv"))
    first = aggs[0]
    assert first.name.startswith("hysteresis_kernel(") and first.count == 13672
    assert first.total_us == pytest.approx(1.285081e6) and first.max_us == pytest.approx(103.325)
    assert first.total_us / first.count == pytest.approx(93.993, rel=1e-4)  # nvprof's own Avg (us)
    assert [a.name for a in aggs if a.kind == "memcpy"] == [
        "[CUDA memcpy DtoH]", "[CUDA memcpy HtoD]", "[CUDA memset]", "[CUDA memcpy DtoD]"]
    columns, side = summarize_aggregates(aggs)
    assert columns["gpu_kernel_count"] == 13672 + 6 * 268 + 536 + 14
    assert columns["gpu_memcpy_time_ms"] == pytest.approx((0.345682 + 0.253988 + 0.004034 + 0.000469) * 1e3)
    assert side["distinct_kernels"] == 9 and side["kernels"][0]["share_pct"] > 70


def test_nvprof_gpu_trace_rows_are_one_activity_each() -> None:
    aggs = parse_nvprof(text("nvprof_gpu_trace_csv_rtx2080ti_excerpt.csv"))
    assert [(a.kind, a.name, a.count, a.total_us) for a in aggs] == [
        ("memcpy", "[CUDA memset]", 1, 1.888), ("memcpy", "[CUDA memcpy HtoD]", 1, 1.536)]


def test_nvprof_api_calls_are_not_device_work() -> None:
    """A full (not --print-gpu-summary) summary also lists host API calls: skipped."""
    lines = text("nvprof_gpu_summary_csv_gtx.csv").splitlines()
    api = lines[5].replace('"GPU activities"', '"API calls"', 1)
    assert len(parse_nvprof("\n".join([*lines, api]))) == len(parse_nvprof("\n".join(lines)))


def test_nsys_column_reports_as_nsys_2024_prints_them() -> None:
    (kernel,) = nsys_aggregates(nsys_table(nsys_report("cuda_gpu_kern_sum")), "kernel")
    assert kernel.name == "vectorAdd(const float *, const float *, float *, int)"
    assert (kernel.count, kernel.total_us, kernel.max_us) == (1010, pytest.approx(1830.493), pytest.approx(2.752))
    copies = nsys_aggregates(nsys_table(nsys_report("cuda_gpu_mem_time_sum")), "memcpy")
    assert [(c.name, c.count, c.total_us) for c in copies] == [
        ("[CUDA memcpy HtoD]", 2, pytest.approx(2.465)), ("[CUDA memcpy DtoH]", 1, pytest.approx(2.176))]
    api = nsys_table(nsys_report("cuda_api_sum"))
    assert api[1]["Name"] == "cudaLaunchKernel" and api[1]["Num Calls"] == "1,010"


@pytest.mark.parametrize("renames", [
    # 2021 (NVIDIA's gpukernsum.py / gpumemtimesum.py): Time(%), Average, Maximum; Operations
    {"Time (%)": "Time(%)", "Avg (ns)": "Average", "Min (ns)": "Minimum", "Max (ns)": "Maximum",
     "Count": "Operations"},
    {},  # 2024 as captured
])
def test_nsys_columns_are_found_by_meaning_across_releases(renames: dict[str, str]) -> None:
    rows = [{renames.get(k, k): v for k, v in row.items()}
            for row in nsys_table(nsys_report("cuda_gpu_mem_time_sum"))]
    copies = nsys_aggregates(rows, "memcpy")
    assert [(c.count, c.total_us, c.max_us) for c in copies] == [
        (2, pytest.approx(2.465), pytest.approx(1.44)), (1, pytest.approx(2.176), pytest.approx(2.176))]


def test_nsys_csv_is_read_like_the_columns() -> None:
    """``--format csv`` gives the same table with commas; header names as in the columns."""
    rows = nsys_table(nsys_report("cuda_gpu_kern_sum"))
    header = '"' + '","'.join(rows[0]) + '"'
    body = ",".join(f'"{v}"' for v in rows[0].values())
    assert nsys_table(f"Processing [x.sqlite] with [cuda_gpu_kern_sum.py]...\n{header}\n{body}\n") == rows


def test_ncu_raw_page_one_row_a_launch_with_a_units_row() -> None:
    """Nsight Compute 2025.3 on an H200, --page raw --log-file: ==PROF== lines, then the table."""
    aggs, metrics = parse_ncu(text("ncu_2025.3_h200_raw_logfile.csv"))
    assert len(aggs) == 5 and {a.count for a in aggs} == {3}
    gemm = next(a for a in aggs if "implicit_gemm" in a.name)
    assert (gemm.total_us, gemm.max_us) == (pytest.approx(15.2), pytest.approx(5.088))
    assert sum(a.total_us for a in aggs) == pytest.approx(65.344)
    assert set(metrics[gemm.name]) == set(NCU_THROUGHPUT)


def test_ncu_per_kernel_summary_gives_the_same_kernels() -> None:
    aggs, metrics = parse_ncu(text("ncu_2025.3_h200_summary_per_kernel.csv"))
    raw, _ = parse_ncu(text("ncu_2025.3_h200_raw_logfile.csv"))
    assert sorted(a.name for a in aggs) == sorted(a.name for a in raw)
    gemm = next(a for a in aggs if "implicit_gemm" in a.name)
    assert (gemm.count, gemm.total_us, gemm.max_us) == (3, pytest.approx(3 * 5.09867), pytest.approx(5.312))
    assert metrics[gemm.name][NCU_THROUGHPUT[0]] == 4.49


@pytest.mark.parametrize(("reader", "bad", "says"), [
    (parse_nvprof, "", "no table header"),
    (parse_nvprof, '"Type","Time(%)","Time","Calls","Avg","Min","Max","Name"\n,%,fortnights,,us,us,ms,\n'
                   '"GPU activities",1,1,1,1,1,1,"k"', "unknown time unit 'fortnights'"),
    (parse_ncu, "==PROF== Connected to process 1\n==ERROR== no kernels were profiled", "no table header"),
    (lambda t: nsys_table(t), "Processing [x.sqlite] with [cuda_gpu_kern_sum.py]...\nSKIPPED: no data",
     "no 'Total Time' column"),
])
def test_output_without_what_is_needed_is_one_clear_error(reader, bad: str, says: str) -> None:  # noqa: ANN001
    with pytest.raises(ProfileParseError, match=re.escape(says)):
        reader(bad)


def test_truncated_lines_are_skipped_not_misread() -> None:
    lines = text("nvprof_gpu_summary_csv_gtx.csv").splitlines()
    cut = lines[5][: len(lines[5]) // 2]
    assert len(parse_nvprof("\n".join([*lines[:5], cut, *lines[6:]]))) == len(lines) - 6
