"""The NVML sampler: summarising a sample stream, the sampler thread on a fake NVML, and
the real no-GPU path of this machine."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from agent.fingerprint import gpus
from agent.probes.nvml import (
    NVML_COLUMNS,
    GpuSample,
    NvmlProbe,
    gpu_time_series,
    nvml_index_for_cuda,
    summarize_gpu_samples,
    throttle_names,
)

SAMPLES = [
    GpuSample(0.0, util_pct=10, mem_util_pct=5, mem_used_mb=1000, power_w=50, sm_clock_mhz=1300,
              temp_c=40, throttle_mask=0x1),
    GpuSample(0.1, util_pct=90, mem_util_pct=45, mem_used_mb=3000, power_w=150, sm_clock_mhz=1500,
              temp_c=55, throttle_mask=0x4),
    GpuSample(0.2, util_pct=80, mem_util_pct=40, mem_used_mb=2500, power_w=100, sm_clock_mhz=1400,
              temp_c=52, throttle_mask=0x0),
]


def test_summary_of_a_sample_stream() -> None:
    columns, reasons = summarize_gpu_samples(SAMPLES, energy_start_mj=1_000_000, energy_end_mj=1_020_500)
    assert columns == {
        "gpu_util_mean_pct": 60.0, "gpu_util_max_pct": 90, "gpu_mem_util_mean_pct": 30.0,
        "gpu_mem_peak_mb": 3000, "gpu_power_mean_w": 100.0, "gpu_power_max_w": 150,
        "gpu_energy_j": 20.5,  # the counter's delta, mJ -> J
        "gpu_sm_clock_mean_mhz": 1400.0, "gpu_temp_max_c": 55,
        "gpu_throttle_reasons": "gpu_idle,sw_power_cap",  # every reason seen in the region
        "gpu_sample_count": 3,
    }
    assert reasons == {}
    assert set(columns) == set(NVML_COLUMNS)


def test_without_an_energy_counter_power_is_integrated() -> None:
    columns, _ = summarize_gpu_samples(SAMPLES)
    assert columns["gpu_energy_j"] == pytest.approx(0.1 * (50 + 150) / 2 + 0.1 * (150 + 100) / 2)


def test_fields_a_device_never_reports_are_null_with_a_reason() -> None:
    bare = [GpuSample(0.0, util_pct=3), GpuSample(0.5, util_pct=5)]
    columns, reasons = summarize_gpu_samples(bare)
    assert columns["gpu_util_mean_pct"] == 4 and columns["gpu_power_mean_w"] is None
    assert columns["gpu_throttle_reasons"] is None and columns["gpu_energy_j"] is None
    assert reasons["gpu_power_mean_w"] == "no sample had a value"
    assert "no energy counter" in reasons["gpu_energy_j"]
    assert summarize_gpu_samples([GpuSample(0.0, throttle_mask=0)])[0]["gpu_throttle_reasons"] == "none"


def test_throttle_names_and_time_series() -> None:
    assert throttle_names(0x44) == ["sw_power_cap", "hw_thermal"]
    assert throttle_names(0x1000) == ["0x1000"]
    series = gpu_time_series(SAMPLES, 0.1)
    assert series["interval_s"] == 0.1 and series["t_s"] == [0.0, 0.1, 0.2]
    assert series["power_w"] == [50, 150, 100] and len(series["throttle_mask"]) == 3


def test_cuda_index_to_nvml_index_through_cuda_visible_devices() -> None:
    assert nvml_index_for_cuda(0, {}) == 0
    assert nvml_index_for_cuda(1, {"CUDA_VISIBLE_DEVICES": "2,3"}) == 3
    assert nvml_index_for_cuda(0, {"CUDA_VISIBLE_DEVICES": "GPU-8f6c"}) == "GPU-8f6c"


class FakeNvmlError(Exception):
    pass


def fake_nvml(calls: list[str]) -> SimpleNamespace:
    """A pynvml stand-in: a GPU whose power reading is not supported."""
    energy = iter(range(5_000_000, 10**9, 7_000))
    lock = threading.Lock()

    def utilisation(handle: object) -> SimpleNamespace:
        with lock:
            calls.append("util")
        return SimpleNamespace(gpu=70, memory=30)

    def power(handle: object) -> int:
        raise FakeNvmlError("Not Supported")

    return SimpleNamespace(
        NVMLError=FakeNvmlError, NVML_CLOCK_SM=1, NVML_TEMPERATURE_GPU=0,
        nvmlInit=lambda: calls.append("init"), nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlDeviceGetHandleByIndex=lambda i: f"gpu{i}",
        nvmlDeviceGetTotalEnergyConsumption=lambda h: next(energy),
        nvmlDeviceGetUtilizationRates=utilisation,
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(used=2 * 2**30, total=24 * 2**30),
        nvmlDeviceGetPowerUsage=power,
        nvmlDeviceGetClockInfo=lambda h, clock: 1531,
        nvmlDeviceGetTemperature=lambda h, sensor: 61,
        nvmlDeviceGetCurrentClocksEventReasons=lambda h: 0x20,
    )


def test_the_sampler_thread_on_a_fake_gpu() -> None:
    calls: list[str] = []
    probe = NvmlProbe(device_index=0, interval_s=0.01, nvml=fake_nvml(calls))  # type: ignore[arg-type]
    probe.start()
    time.sleep(0.1)
    result = probe.stop()
    columns = result.columns
    assert columns["gpu_sample_count"] >= 4  # start, several ticks, stop
    assert columns["gpu_util_mean_pct"] == 70 and columns["gpu_mem_peak_mb"] == 2048
    assert columns["gpu_sm_clock_mean_mhz"] == 1531 and columns["gpu_temp_max_c"] == 61
    assert columns["gpu_energy_j"] == 7.0  # two counter reads 7000 mJ apart
    assert columns["gpu_throttle_reasons"] == "sw_thermal"
    assert columns["gpu_power_mean_w"] is None
    assert "gpu_power_mean_w" in result.error and "nvml power: Not Supported" in result.error
    assert calls[0] == "init" and calls[-1] == "shutdown"
    assert len(result.side["t_s"]) == columns["gpu_sample_count"]
    count = calls.count("util")
    time.sleep(0.05)
    assert calls.count("util") == count  # the thread has stopped


def test_no_gpu_here_is_nulls_and_the_reason() -> None:
    found, error = gpus()
    if found:
        pytest.skip("this machine has a GPU: covered by the gpu-marked test")
    probe = NvmlProbe()
    probe.start()
    result = probe.stop()
    assert result.columns == dict.fromkeys(NVML_COLUMNS)
    assert result.error and result.error.startswith(("NVML:", "nvidia-ml-py"))


@pytest.mark.gpu
def test_a_real_gpu_is_sampled() -> None:
    found, error = gpus()
    if not found:
        pytest.skip(f"no GPU ({error})")
    probe = NvmlProbe(interval_s=0.02)
    probe.start()
    time.sleep(0.2)
    result = probe.stop()
    assert result.columns["gpu_sample_count"] >= 3
    assert result.columns["gpu_mem_peak_mb"] > 0 and result.columns["gpu_sm_clock_mean_mhz"] > 0
