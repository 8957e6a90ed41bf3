"""The system sampler: PSI parsing, deltas (never averages) of cumulative counters, and a
real run on this machine."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.probes.system import (
    PSI_DIR,
    SYSTEM_COLUMNS,
    CoreTimes,
    SystemProbe,
    SystemSample,
    core_busy_pct,
    null_reasons,
    parse_psi,
    read_psi,
    summarize_system,
)

PSI_CPU = """some avg10=7.32 avg60=1.89 avg300=0.47 total=134842927
full avg10=0.00 avg60=0.00 avg300=0.00 total=0
"""


def sample(t_s: float, busy: tuple[float, float], total: tuple[float, float], psi_total: float,
           avg10: float, disk_mb: float, steal: float = 0.0) -> SystemSample:
    return SystemSample(
        t_s=t_s,
        cores=tuple(CoreTimes(b, t, steal) for b, t in zip(busy, total)),
        cpu_freq_mhz=2000 + 100 * t_s, load_1m=1.0 + t_s,
        psi={"cpu_some": {"avg10": avg10, "total": psi_total},
             "io_some": {"avg10": 0.0, "total": 5.0}},
        mem_used_mb=1000 + 10 * t_s, mem_available_mb=9000 - 10 * t_s, swap_used_mb=0.0,
        swap_in_mb=2.0, swap_out_mb=3.0 + t_s, disk=(100.0 + disk_mb, 50.0, 10, 20), temp_max_c=None,
    )


SAMPLES = [
    sample(0.0, busy=(10.0, 20.0), total=(100.0, 100.0), psi_total=1_000_000, avg10=1.0, disk_mb=0),
    sample(1.0, busy=(10.9, 20.1), total=(101.0, 101.0), psi_total=1_400_000, avg10=9.5, disk_mb=2),
    sample(2.0, busy=(11.8, 20.2), total=(102.0, 102.0), psi_total=1_500_000, avg10=4.0, disk_mb=3,
           steal=0.1),
]


def test_parse_psi() -> None:
    assert parse_psi(PSI_CPU) == {
        "some": {"avg10": 7.32, "avg60": 1.89, "avg300": 0.47, "total": 134842927},
        "full": {"avg10": 0.0, "avg60": 0.0, "avg300": 0.0, "total": 0},
    }


def test_read_psi_keys_by_resource_and_kind(tmp_path: Path) -> None:
    (tmp_path / "cpu").write_text(PSI_CPU)
    (tmp_path / "io").write_text(PSI_CPU.replace("7.32", "0.50"))
    psi = read_psi(tmp_path)  # no memory file: skipped, not an error
    assert set(psi) == {"cpu_some", "cpu_full", "io_some", "io_full"}
    assert psi["io_some"]["avg10"] == 0.5


def test_cumulative_counters_are_deltas_over_the_region_never_averages() -> None:
    columns = summarize_system(SAMPLES)
    assert columns["sys_psi_cpu_some_total_us"] == 500_000  # last - first, not mean of 1.0e6..1.5e6
    assert columns["sys_psi_cpu_some_avg10"] == 9.5  # the highest 10 s average seen
    assert columns["sys_psi_io_some_total_us"] == 0
    assert columns["sys_psi_memory_some_total_us"] is None  # no such line sampled
    assert columns["sys_disk_read_mb"] == 3 and columns["sys_disk_write_ops"] == 0
    assert columns["sys_swap_out_mb"] == 2.0 and columns["sys_swap_in_mb"] == 0
    assert columns["sys_cpu_mean_pct"] == pytest.approx(100 * (1.8 + 0.2) / 4)
    assert columns["sys_cpu_core_max_pct"] == pytest.approx(90.0)
    assert columns["sys_cpu_steal_pct"] == pytest.approx(100 * 0.2 / 4)
    assert columns["sys_cpu_freq_mean_mhz"] == 2100 and columns["sys_load_1m_max"] == 3.0
    assert columns["sys_mem_used_max_mb"] == 1020 and columns["sys_mem_available_min_mb"] == 8980
    assert columns["sys_temp_max_c"] is None and columns["sys_sample_count"] == 3
    assert set(columns) == set(SYSTEM_COLUMNS)


def test_per_core_busy_between_two_samples() -> None:
    assert core_busy_pct(SAMPLES[0], SAMPLES[1]) == pytest.approx([90.0, 10.0])
    assert core_busy_pct(SAMPLES[0], SAMPLES[0]) == [None, None]  # no time passed


def test_null_columns_get_a_reason_naming_what_is_missing(tmp_path: Path) -> None:
    columns = summarize_system(SAMPLES)
    reasons = null_reasons(columns, tmp_path / "no-pressure")
    assert reasons["sys_temp_max_c"] == "no readable temperature sensor"
    assert reasons["sys_psi_memory_full_avg10"].startswith(f"no {tmp_path / 'no-pressure'}")
    assert "sys_psi_cpu_some_total_us" not in reasons


def test_a_region_shorter_than_the_interval_still_has_a_start_and_a_stop_sample() -> None:
    fed = iter(SAMPLES)
    probe = SystemProbe(interval_s=60, reader=lambda t_s, psi_dir: next(fed))
    probe.start()
    result = probe.stop()
    assert result.columns["sys_sample_count"] == 2
    assert result.columns["sys_psi_cpu_some_total_us"] == 400_000
    assert result.side["t_s"] == [0.0, 1.0] and result.side["psi_cpu_some_total_us"] == [0, 400_000]


def test_a_real_region_on_this_machine() -> None:
    probe = SystemProbe(interval_s=0.05)
    probe.start()
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:
        pass
    result = probe.stop()
    columns = result.columns
    assert columns["sys_sample_count"] >= 4
    assert columns["sys_cpu_core_max_pct"] > 0 and columns["sys_mem_used_max_mb"] > 0
    assert len(result.side["cpu_pct_per_core"]) == columns["sys_sample_count"]
    if PSI_DIR.is_dir():
        assert columns["sys_psi_cpu_some_total_us"] is not None
        assert columns["sys_psi_cpu_some_total_us"] >= 0 and columns["sys_psi_cpu_some_avg10"] >= 0
    else:
        assert columns["sys_psi_cpu_some_total_us"] is None and "no /proc/pressure" in result.error
    for column, value in columns.items():  # every null column is explained
        assert value is not None or column in (result.error or ""), column
