"""Results files written by older schema versions still read (each version's file is a fixture)."""
from __future__ import annotations

from pathlib import Path

from shared.resultlog import ResultLog
from shared.schema import SCHEMA_VERSION

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_a_version_1_row_is_upgraded_with_the_new_columns_null() -> None:
    (row,) = list(ResultLog(FIXTURES / "results_v1.jsonl").rows())
    assert row["schema_version"] == SCHEMA_VERSION == 4
    assert row["latency_p50_ms"] == 0.214 and row["model"] == "lenet5"
    assert row["artifact_sha256"] is None and row["accuracy_top1_device"] is None and row["ort_providers"] is None
    assert row["energy_j"] is None and row["tegra_energy_j"] is None


def test_a_version_2_row_is_upgraded_with_the_energy_columns_null() -> None:
    (row,) = list(ResultLog(FIXTURES / "results_v2.jsonl").rows())
    assert row["schema_version"] == SCHEMA_VERSION
    assert row["artifact_sha256"] == "9f2c4e1a" * 8  # a version 2 column survives
    for column in ("energy_j", "energy_per_sample_mj", "energy_source", "rapl_package_j",
                   "tegra_power_mean_w", "tegra_rails_mean_mw"):
        assert row[column] is None


def test_a_version_3_row_keeps_only_the_percentiles_its_samples_back() -> None:
    (row,) = list(ResultLog(FIXTURES / "results_v3.jsonl").rows())
    assert row["schema_version"] == SCHEMA_VERSION == 4
    assert row["energy_j"] == 1.25 and row["n_samples"] == 10  # a version 3 column survives
    assert row["latency_p50_ms"] == 0.214 and row["latency_p50_reason"] is None  # 10 samples back a median
    assert row["latency_p90_ms"] is None and row["latency_p99_ms"] is None  # the v3 p99 was the maximum
    assert row["latency_p99_reason"] == "10 samples, p99 needs 662: written by schema version 3, which timed no further"
    for column in ("latency_p50_ci_low_ms", "latency_p50_ci_high_ms", "process_count", "latency_p50_process_cv",
                   "emulated", "emulation_profile", "emulation_missing", "cpus", "disturbed", "disturbed_reason",
                   "attempt", "retry_of", "quiet_wait_s", "cooldown_s", "cooldown_reason", "sustained_s", "throttled",
                   "throttled_reason", "sys_other_cpu_pct", "sys_cpu_freq_drop_pct"):
        assert row[column] is None
