"""The result row schema: fixed columns, types, statuses, versions."""
from __future__ import annotations

import pytest

from shared.schema import COLUMN_NAMES, SCHEMA_VERSION, STATUSES, SchemaError, make_row, upgrade_row

FIXED = ("schema_version run_id host device_class trial_key started_at model dataset input_size method "
         "schedule target_ratio sparsity params_reported params_nonzero params_actual macs macs_effective "
         "model_bytes model_bytes_compressed accuracy_top1 backend device batch_size threads status is_oom "
         "error latency_p50_ms latency_p90_ms latency_p99_ms latency_mean_ms latency_std_ms latency_cv "
         "n_samples throughput_sps peak_rss_mb peak_gpu_mem_mb").split()

MINIMAL = {
    "run_id": "r", "host": "h", "device_class": "x86_64-cpu", "trial_key": "k", "variant_key": "v",
    "started_at": "2026-01-01T00:00:00+00:00", "agent_version": "0", "model": "lenet5",
    "dataset": "digits", "input_size": 32, "method": "structured", "schedule": "one_shot",
    "target_ratio": 0.5, "backend": "torch", "device": "cpu", "batch_size": 8, "status": "ok",
    "is_oom": False,
}


def test_every_fixed_column_is_there() -> None:
    assert set(FIXED) <= set(COLUMN_NAMES)
    assert set(STATUSES) == {"ok", "oom", "timeout", "crash", "error", "skipped"}


def test_make_row_fills_missing_with_null_in_column_order() -> None:
    row = make_row(MINIMAL)
    assert list(row) == list(COLUMN_NAMES)
    assert row["schema_version"] == SCHEMA_VERSION and row["latency_p50_ms"] is None


@pytest.mark.parametrize(("change", "message"), [
    ({"status": "exploded"}, "status 'exploded' is not one of"),
    ({"colour": "red"}, "unknown columns: colour"),
    ({"batch_size": 8.5}, "'batch_size' wants an integer"),
    ({"batch_size": True}, "'batch_size' wants an integer"),
    ({"latency_p50_ms": "fast"}, "'latency_p50_ms' wants a number"),
    ({"host": None}, "'host' may not be null"),
])
def test_bad_rows_are_refused(change: dict, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        make_row({**MINIMAL, **change})


def test_nan_becomes_null_and_ints_become_floats() -> None:
    row = make_row({**MINIMAL, "latency_cv": float("nan"), "latency_p50_ms": 3})
    assert row["latency_cv"] is None and row["latency_p50_ms"] == 3.0


def test_a_newer_version_is_refused_with_a_clear_message() -> None:
    with pytest.raises(SchemaError, match=f"reads up to {SCHEMA_VERSION}"):
        upgrade_row({**make_row(MINIMAL), "schema_version": SCHEMA_VERSION + 1})
