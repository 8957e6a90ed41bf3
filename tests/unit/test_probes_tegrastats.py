"""tegrastats lines of real boards (tests/fixtures/tegrastats/, cited in its README), JetPack
3 to 6: every field read, nothing left over, unknown lines kept; power and energy summaries."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.probes.tegraparse import TegraSample, UnknownLine, parse_line
from agent.probes.tegrastats import TegrastatsProbe, board_power_mw, integrate_energy_j, summarize_tegra

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tegrastats"
ALL = sorted(FIXTURES.glob("*.txt"))


def _sample(name: str, t_s: float = 0.0) -> TegraSample:
    sample = parse_line((FIXTURES / name).read_text().splitlines()[0], t_s)
    assert isinstance(sample, TegraSample)
    return sample


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_every_token_of_every_real_line_is_understood(path: Path) -> None:
    for line in path.read_text().splitlines():
        sample = parse_line(line)
        assert isinstance(sample, TegraSample), sample
        assert sample.unparsed == "" and sample.ram_used_mb and sample.cpu_load_pct


# (fixture, RAM used MiB, cores, GR3D %, GR3D MHz, EMC %, EMC MHz, rails)
EXPECTED = [
    ("tx1_l4t28.txt", 3468, 4, 3, 76, 1, 408, {}),
    ("tx1_jp4.txt", 1179, 4, 0, 76, 7, 408, {"VDD_IN": (2532, 2698), "VDD_CPU": (76, 178), "VDD_GPU": (19, 19)}),
    ("nano_jp4.txt", 534, 4, 0, 76, 0, 204, {"POM_5V_IN": (1022, 1022), "POM_5V_GPU": (0, 0),
                                             "POM_5V_CPU": (204, 204)}),
    ("xavier_nx_jp4.txt", 4412, 6, 62, 306, 10, 1600, {"VDD_IN": (4067, 4067), "VDD_CPU_GPU_CV": (738, 738),
                                                       "VDD_SOC": (1353, 1353)}),
    ("orin_nx_jp5.txt", 6334, 8, 0, 611, 0, 2133, {"VDD_IN": (5299, 5299), "VDD_CPU_GPU_CV": (773, 773),
                                                   "VDD_SOC": (1424, 1424)}),
    ("agx_orin_jp6.txt", 29114, 12, 0, 305, 1, 2133, {"VDD_GPU_SOC": (3205, 3205), "VDD_CPU_CV": (4405, 4405),
                                                      "VIN_SYS_5V0": (4767, 4767)}),
    ("agx_orin_jp5.txt", 2448, 12, 0, None, None, None, {"VDD_GPU_SOC": (4940, 4940), "VDD_CPU_CV": (988, 988),
                                                         "VIN_SYS_5V0": (4442, 4442)}),
]


@pytest.mark.parametrize("name, ram, cores, gpu, gpu_mhz, emc, emc_mhz, rails", EXPECTED, ids=lambda v: str(v))
def test_fields_of_each_format(name: str, ram: float, cores: int, gpu: float, gpu_mhz: float | None,
                               emc: float | None, emc_mhz: float | None, rails: dict) -> None:
    s = _sample(name)
    assert (s.ram_used_mb, len(s.cpu_load_pct), s.gpu_load_pct, s.gpu_freq_mhz) == (ram, cores, gpu, gpu_mhz)
    assert (s.emc_load_pct, s.emc_freq_mhz) == (emc, emc_mhz)
    assert s.rails_mw == {k: (float(a), float(b)) for k, (a, b) in rails.items()}


def test_cores_that_are_off_are_none_and_the_old_format_shares_one_clock() -> None:
    tx2 = _sample("tx2_jp4.txt")
    assert tx2.cpu_load_pct == (1.0, None, None, 1.0, 0.0, 2.0)
    assert tx2.cpu_freq_mhz == (345.0, None, None, 345.0, 345.0, 345.0)
    old = _sample("tx1_l4t28.txt")
    assert old.cpu_load_pct == (17.0, 13.0, 29.0, 5.0) and set(old.cpu_freq_mhz) == {408.0}


def test_temperatures_negative_and_lowercase_names_and_memory_in_kib() -> None:
    assert _sample("tx2_jp4.txt").temps_c["BCPU"] == 37.5
    orin = _sample("agx_orin_jp6.txt")
    assert orin.temps_c == {"cpu": 53.062, "soc2": 48.25, "soc0": 48.843, "gpu": 47.812, "tj": 53.062, "soc1": 48.968}
    assert (orin.swap_used_mb, orin.swap_total_mb) == (4915.0, 15348.0)


def test_a_line_with_nothing_known_is_kept_raw_with_the_reason() -> None:
    line = "processor\t: 0"  # /proc/cpuinfo, not tegrastats
    parsed = parse_line(line, 1.5)
    assert isinstance(parsed, UnknownLine) and parsed.raw == line and parsed.t_s == 1.5
    assert "no RAM, CPU, GR3D or power-rail field" in parsed.reason


def test_fragments_not_understood_are_kept_on_the_sample() -> None:
    line = (FIXTURES / "nano_jp4.txt").read_text().strip() + " NEWTHING 12/34/56/78 ???"
    sample = parse_line(line)
    assert isinstance(sample, TegraSample) and sample.unparsed == "NEWTHING 12/34/56/78 ???"


def test_board_power_is_the_input_rail_else_the_sum_of_the_rails() -> None:
    assert board_power_mw(_sample("orin_nx_jp5.txt")) == (5299.0, "VDD_IN")
    assert board_power_mw(_sample("nano_jp4.txt")) == (1022.0, "POM_5V_IN")
    assert board_power_mw(_sample("agx_orin_jp6.txt")) == (3205 + 4405 + 4767, "sum:VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0")
    assert board_power_mw(_sample("tx1_l4t28.txt")) is None


def test_energy_holds_the_edge_samples_to_the_region_bounds() -> None:
    assert integrate_energy_j([(0.5, 5.0), (1.5, 5.0)], end_s=2.0) == pytest.approx(10.0)
    assert integrate_energy_j([(0.5, 4.0), (1.5, 6.0)], end_s=2.0) == pytest.approx(2.0 + 5.0 + 3.0)
    assert integrate_energy_j([(0.3, 4.0)], end_s=1.0) == pytest.approx(4.0)
    assert integrate_energy_j([], end_s=1.0) is None


def test_summary_of_a_region() -> None:
    samples = [_sample("orin_nx_jp5.txt", 0.1), _sample("orin_nx_jp5.txt", 0.2)]
    columns, reasons = summarize_tegra(samples, end_s=0.3)
    assert columns["tegra_energy_j"] == pytest.approx(5.299 * 0.3)
    assert columns["tegra_power_mean_w"] == pytest.approx(5.299) and columns["tegra_power_source"] == "VDD_IN"
    assert columns["tegra_temp_max_c"] == 48.875 and columns["tegra_sample_count"] == 2
    assert json.loads(columns["tegra_rails_mean_mw"]) == {"VDD_CPU_GPU_CV": 773.0, "VDD_IN": 5299.0, "VDD_SOC": 1424.0}
    assert columns["tegra_cpu_load_mean_pct"] == pytest.approx((6 + 9 + 5 + 16) / 4)  # the 4 online cores
    assert reasons == {}


def test_pmic_s_fixed_100_c_is_not_the_hottest_sensor() -> None:
    columns, _ = summarize_tegra([_sample("nano_jp4.txt")], end_s=1.0)
    assert columns["tegra_temp_max_c"] == 39.5
    assert json.loads(columns["tegra_temps_max_c"])["PMIC"] == 100.0  # still recorded


def test_no_rail_means_no_energy_and_says_why() -> None:
    columns, reasons = summarize_tegra([_sample("tx1_l4t28.txt")], end_s=1.0)
    assert columns["tegra_energy_j"] is None and columns["tegra_gpu_load_mean_pct"] == 3.0
    assert "printed no power rail" in reasons["tegra_energy_j"]


def test_without_tegrastats_the_probe_gives_null_columns_and_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    probe = TegrastatsProbe()
    probe.start()
    result = probe.stop()
    assert all(v is None for v in result.columns.values())
    assert result.error == "no tegrastats on PATH (not a Jetson)"
