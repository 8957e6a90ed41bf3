"""A recommendation's measured speed-up, and a latency budget that never rests on noise."""
from __future__ import annotations

import pandas as pd
import pytest

from collector.analysis.config import Budgets, Thresholds
from collector.analysis.frame import build_frame
from collector.analysis.measured import measured_speedup
from collector.analysis.whatif import measured_best
from shared.resultsdir import SampleIndex
from shared.stats import FASTER, NO_DIFFERENCE, NOT_MEASURED, Speedup

WOBBLE = [0.96, 1.0, 1.04, 0.98, 1.02] * 8


def row(method: str, ratio: float, host: str = "a", backend: str = "torch", batch: int = 1) -> dict:
    return {"schema_version": 4, "run_id": "r", "host": host, "device_class": "x86", "variant_key": f"{method}{ratio}",
            "trial_key": f"{method}-{ratio}-{host}-{backend}-{batch}", "started_at": "t", "agent_version": "0",
            "model": "resnet18", "dataset": "digits", "input_size": 32, "method": method, "schedule": "one_shot",
            "target_ratio": ratio, "backend": backend, "device": "cpu", "batch_size": batch, "status": "ok",
            "is_oom": False, "base_model_key": "b", "latency_p50_ms": 10.0, "accuracy_top1": 0.9}


def frame(rows: list[dict]) -> pd.DataFrame:
    return build_frame(rows, Thresholds(), "test").data


def test_the_speed_up_compares_with_the_unpruned_model_in_the_same_setting() -> None:
    rows = [row("l1_unstructured", 0.0), row("structured", 0.0), row("structured", 0.5),
            row("structured", 0.0, host="b"), row("structured", 0.5, host="b"),
            row("structured", 0.5, backend="onnxruntime")]  # no unpruned onnxruntime trial: left out
    latencies = {"structured-0.0-a-torch-1": 10.0, "l1_unstructured-0.0-a-torch-1": 10.5,
                 "structured-0.5-a-torch-1": 4.0, "structured-0.0-b-torch-1": 12.0,
                 "structured-0.5-b-torch-1": 6.0, "structured-0.5-a-onnxruntime-1": 0.1}
    samples = SampleIndex({None: {k: [[v * w for w in WOBBLE]] for k, v in latencies.items()}})
    found = measured_speedup(frame(rows), samples, "x86", "resnet18", "structured", 0.5, 1)
    assert found.verdict == FASTER and found.basis == "processes"  # two hosts: groups of the bootstrap
    # every method's ratio 0 is the unpruned model (10, 10.5, 12 ms); the variant 4 and 6 ms, and
    # its onnxruntime trial (0.1 ms), with no unpruned onnxruntime trial to compare, is left out
    assert found.estimate == pytest.approx(10.5 / 4.96, rel=0.02)
    assert measured_speedup(frame(rows), None, "x86", "resnet18", "structured", 0.5, 1).verdict == NOT_MEASURED
    assert measured_speedup(frame(rows), samples, "x86", "resnet18", "structured", 0.5, 8).verdict == NOT_MEASURED


def options(latency_unpruned: float, latency_pruned: float) -> pd.DataFrame:
    return pd.DataFrame({"method": ["structured", "structured"], "target_ratio": [0.0, 0.5],
                         "accuracy_drop": [0.0, 0.005], "latency_p50_ms": [latency_unpruned, latency_pruned],
                         "peak_mem_mb": [100.0, 80.0], "is_oom": [0.0, 0.0]})


def test_a_latency_budget_never_rests_on_a_speed_up_that_is_not_measurable() -> None:
    budgets = Budgets(max_accuracy_drop=0.01, max_latency_ms=20.0)
    noise = Speedup(1.02, 0.97, 1.08, NO_DIFFERENCE, "samples")
    best, blocked, measured = measured_best(options(20.5, 19.5), budgets, lambda best: noise)
    assert best is None and measured is noise
    assert "not measurably met" in blocked and "no measurable difference (1.02x [0.97, 1.08])" in blocked
    real = Speedup(1.9, 1.8, 2.0, FASTER, "samples")
    best, _, measured = measured_best(options(20.5, 10.5), budgets, lambda best: real)
    assert best["target_ratio"] == 0.5 and measured is real


def test_where_the_latency_budget_does_not_decide_the_speed_up_is_only_reported() -> None:
    noise = Speedup(1.0, 0.97, 1.03, NO_DIFFERENCE, "samples")
    for budgets in (Budgets(max_accuracy_drop=0.01), Budgets(max_accuracy_drop=0.01, max_latency_ms=50.0)):
        best, _, measured = measured_best(options(20.5, 19.5), budgets, lambda best: noise)
        assert best["target_ratio"] == 0.5 and measured is noise  # the unpruned model fits too
