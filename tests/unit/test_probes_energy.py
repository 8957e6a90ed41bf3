"""Which sensor a row's energy comes from, and the per-sample figure."""
from __future__ import annotations

import pytest

from agent.probes.energy import energy_columns


def test_tegrastats_board_energy_comes_first_on_cpu_and_gpu_trials() -> None:
    probe = {"tegra_energy_j": 3.0, "tegra_power_source": "VDD_IN", "gpu_energy_j": 1.0, "rapl_package_j": 9.0}
    for device in ("cpu", "cuda:0"):
        columns, why = energy_columns(probe, device, n_samples=10, batch_size=4)
        assert columns == {"energy_j": 3.0, "energy_per_sample_mj": pytest.approx(75.0),
                           "energy_source": "tegrastats:VDD_IN"} and why is None


def test_a_gpu_trial_uses_nvml_and_a_cpu_trial_rapl_with_dram_where_present() -> None:
    probe = {"gpu_energy_j": 2.0, "rapl_package_j": 5.0, "rapl_dram_j": 1.0}
    assert energy_columns(probe, "cuda:0", 2, 1)[0]["energy_source"] == "nvml:gpu"
    cpu, _ = energy_columns(probe, "cpu", 2, 1)
    assert (cpu["energy_j"], cpu["energy_source"]) == (6.0, "rapl:package+dram")
    assert energy_columns({"rapl_package_j": 5.0}, "cpu", 2, 1)[0]["energy_source"] == "rapl:package"


def test_no_sensor_is_null_columns_and_a_reason() -> None:
    columns, why = energy_columns({"gpu_energy_j": 2.0}, "cpu", 5, 1)  # NVML on a CPU trial does not count
    assert columns == {"energy_j": None, "energy_per_sample_mj": None, "energy_source": None}
    assert why == "no energy sensor measured this trial (tegrastats or RAPL; see their reasons)"
