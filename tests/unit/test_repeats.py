"""Several processes of one trial pooled into one row (agent/repeats.py)."""
from __future__ import annotations

import pytest

from agent.repeats import SAMPLES_BY_PROCESS, pool_processes
from agent.timing import LatencyStats
from shared.sweep import TimingSpec

SPEC = TimingSpec(percentiles=(50,), processes=3)


def ok(samples: list[float], **extra: object) -> dict:
    """A worker's columns for one process, as the worker sends them."""
    return {**LatencyStats(tuple(samples), 0.1, sum(samples) / 1000).columns(8, SPEC), "status": "ok",
            "is_oom": False, "peak_rss_mb": 100.0, "peak_gpu_mem_mb": None, "samples_ms": samples,
            "perf_cycles": 1e6, **extra}


def test_processes_are_pooled_and_their_spread_given() -> None:
    runs = [ok([10.0] * 12), ok([11.0] * 12, peak_rss_mb=120.0), ok([12.0] * 12, perf_cycles=9e9)]
    row = pool_processes(runs, 8, SPEC)
    assert row["process_count"] == 3 and row["n_samples"] == 36
    assert row["latency_p50_ms"] == 11.0 and row[SAMPLES_BY_PROCESS] == [[10.0] * 12, [11.0] * 12, [12.0] * 12]
    assert row["latency_p50_process_min_ms"] == 10.0 and row["latency_p50_process_max_ms"] == 12.0
    assert row["latency_p50_process_cv"] == pytest.approx(1.0 / 11.0)
    assert row["peak_rss_mb"] == 120.0 and row["perf_cycles"] == 1e6  # the first process's region
    assert row["timed_s"] == pytest.approx(0.396) and "samples_ms" not in row


def test_one_process_has_no_spread() -> None:
    row = pool_processes([ok([10.0, 11.0] * 6)], 8, SPEC)
    assert row["process_count"] == 1 and row["latency_p50_process_cv"] is None
    assert row[SAMPLES_BY_PROCESS] == [[10.0, 11.0] * 6]


def test_a_failure_in_any_process_is_the_row() -> None:
    oom = {"status": "oom", "is_oom": True, "error": "CUDA out of memory"}
    row = pool_processes([ok([10.0] * 12), oom, ok([10.0] * 12)], 8, SPEC)
    assert row["status"] == "oom" and row["is_oom"] is True
    assert row["error"] == "process 2 of 3: CUDA out of memory" and SAMPLES_BY_PROCESS not in row
    assert pool_processes([oom], 8, SPEC)["error"] == "CUDA out of memory"


def test_a_skipped_trial_ran_in_no_process() -> None:
    skipped = {"status": "skipped", "is_oom": False, "error": "after_oom: a smaller batch ran out of memory"}
    row = pool_processes([ok([10.0] * 12), skipped], 8, SPEC)
    assert row["status"] == "skipped" and row["process_count"] is None
    assert row["error"] == "process 2 of 2: after_oom: a smaller batch ran out of memory"
