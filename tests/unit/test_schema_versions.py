"""A results file written by schema version 1 (before artifact columns) still reads."""
from __future__ import annotations

from pathlib import Path

from shared.resultlog import ResultLog
from shared.schema import SCHEMA_VERSION

FIXTURE = Path(__file__).parents[1] / "fixtures" / "results_v1.jsonl"


def test_a_version_1_row_is_upgraded_with_the_new_columns_null() -> None:
    (row,) = list(ResultLog(FIXTURE).rows())
    assert row["schema_version"] == SCHEMA_VERSION == 2
    assert row["latency_p50_ms"] == 0.214 and row["model"] == "lenet5"
    assert row["artifact_sha256"] is None and row["accuracy_top1_device"] is None and row["ort_providers"] is None
