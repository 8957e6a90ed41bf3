"""The tegrastats probe around a real region, with a stand-in ``tegrastats`` on PATH.

The stand-in is NOT NVIDIA's binary (there is no Jetson here): a small script that takes
``--interval MS`` as tegrastats does and prints the lines of a real captured file
(tests/fixtures/tegrastats/, cited in its README) one an interval, round and round, until
it is stopped. What is real: the process handling, the reading thread, the timestamps
and the parsing of real lines.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from agent.probes.tegrastats import TegrastatsProbe

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tegrastats"
STAND_IN = """#!{python}
# stand-in for NVIDIA's tegrastats: replays {capture}
import sys, time
interval_s = float(sys.argv[sys.argv.index("--interval") + 1]) / 1000
lines = open({capture!r}).read().splitlines()
while True:
    for line in lines:
        time.sleep(interval_s)
        print(line, flush=True)
"""


def _install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *captures: str, extra: str = "") -> None:
    capture = tmp_path / "capture.txt"
    capture.write_text("".join((FIXTURES / c).read_text() for c in captures) + extra)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "tegrastats"
    script.write_text(STAND_IN.format(python=sys.executable, capture=str(capture)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")


def _region(probe: TegrastatsProbe, seconds: float):
    t0 = time.perf_counter()
    probe.start()
    t1 = time.perf_counter()
    time.sleep(seconds)
    t2 = time.perf_counter()
    result = probe.stop()
    return result, t2 - t1, time.perf_counter() - t0


def test_samples_and_board_energy_over_the_region(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(tmp_path, monkeypatch, "orin_nx_jp5.txt")  # VDD_IN 5299 mW on every line
    result, inner_s, outer_s = _region(TegrastatsProbe(interval_s=0.05), 0.6)
    c = result.columns
    assert c["tegra_sample_count"] >= 3
    assert c["tegra_power_source"] == "VDD_IN" and c["tegra_power_mean_w"] == pytest.approx(5.299)
    assert 5.299 * inner_s <= c["tegra_energy_j"] <= 5.299 * outer_s  # constant power x the region
    assert c["tegra_gpu_freq_mean_mhz"] == 611 and c["tegra_ram_used_max_mb"] == 6334
    assert result.error is None
    samples = result.side["samples"]
    assert len(samples) == c["tegra_sample_count"] and tuple(samples[0]["rails_mw"]["VDD_IN"]) == (5299.0, 5299.0)
    assert all(0 < s["t_s"] <= outer_s for s in samples)


def test_the_process_is_gone_after_stop_and_each_region_is_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(tmp_path, monkeypatch, "nano_jp4.txt")
    probe = TegrastatsProbe(interval_s=0.05)
    first, _, _ = _region(probe, 0.3)
    second, _, _ = _region(probe, 0.3)
    assert probe._proc is None  # noqa: SLF001 - the process was reaped
    for result in (first, second):
        assert result.columns["tegra_power_source"] == "POM_5V_IN"
        assert 2 <= result.columns["tegra_sample_count"] <= 8


def test_an_unknown_line_is_kept_raw_and_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(tmp_path, monkeypatch, "agx_orin_jp6.txt", extra="processor\t: 0\n")
    result, _, _ = _region(TegrastatsProbe(interval_s=0.05), 0.5)
    assert result.columns["tegra_power_source"] == "sum:VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0"
    unknown = result.side["unknown_lines"]
    assert unknown and unknown[0]["raw"] == "processor\t: 0" and "no RAM" in unknown[0]["reason"]
    assert f"{len(unknown)} tegrastats line(s) not understood, kept raw in telemetry" in result.error
    json.dumps(result.side)  # the side file takes it as it is


def test_a_region_shorter_than_one_interval_says_why_its_columns_are_null(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(tmp_path, monkeypatch, "orin_nx_jp5.txt")
    result, _, _ = _region(TegrastatsProbe(interval_s=5.0), 0.05)
    assert result.columns["tegra_sample_count"] == 0 and result.columns["tegra_energy_j"] is None
    assert "no tegrastats line in the region" in result.error
